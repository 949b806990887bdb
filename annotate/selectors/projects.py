"""Reads of projects: every lookup is (tenant, id) and answers the same for missing and foreign."""

from __future__ import annotations

import uuid

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from annotate.models import Project, ProjectUserObjectPermission
from annotate.permissions import project_permissions_for, projects_visible_to
from tenants.models import Membership


def project_list_for_member(*, membership: Membership) -> QuerySet[Project]:
    return projects_visible_to(membership=membership).select_related("created_by")


def project_get_for_member(
    *, membership: Membership, project_id: uuid.UUID
) -> tuple[Project, frozenset[str]]:
    """The project and the member's permissions on it. Raises Http404 when the project does
    not exist, belongs to another tenant, or is not visible to the member: one answer for all."""
    project = (
        Project.objects.filter(tenant_id=membership.tenant_id, id=project_id)
        .select_related("created_by")
        .first()
    )
    if project is None:
        raise Http404
    assert project.tenant_id == membership.tenant_id
    perms = project_permissions_for(membership=membership, project=project)
    if "view" not in perms:
        raise Http404
    return project, perms


def project_grants(*, project: Project) -> QuerySet[ProjectUserObjectPermission]:
    return (
        ProjectUserObjectPermission.objects.filter(content_object=project)
        .select_related("permission", "user")
        .order_by("user_id", "permission__codename")
    )


def project_get_requiring(
    *, membership: Membership, project_id: uuid.UUID, any_of: set[str]
) -> tuple[Project, frozenset[str]]:
    """``project_get_for_member``, then require one of ``any_of``: 404 if the member cannot see
    the project at all, 403 naming the permissions if they see it but hold none of them."""
    project, perms = project_get_for_member(membership=membership, project_id=project_id)
    if not perms & any_of:
        raise PermissionDenied(f"requires one of: {', '.join(sorted(any_of))}")
    return project, perms
