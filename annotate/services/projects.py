"""Writes on projects and their per-project permissions."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from annotate.label_schema import label_schema_validate
from annotate.models import Dataset, ImportJob, Project, ProjectUserObjectPermission
from annotate.permissions import GRANTABLE, ROLE_DEFAULTS, codename
from annotate.services.distribution import queue_rewound
from tenants.models import Membership, Role, Tenant

PROJECT_POLICY = (
    "overlap",
    "lease_seconds",
    "ordering",
    "random_seed",
    "max_items_per_annotator",
    "skipped_items_return",
    "review_ratio",
    "gold_ratio",
)
PROJECT_EDITABLE = ("name", "description", "instructions", "label_schema", *PROJECT_POLICY)


def _check_schema(schema: Any) -> None:
    errors = label_schema_validate(
        schema, max_bytes=settings.LABEL_SCHEMA_MAX_BYTES, max_depth=settings.JSON_MAX_DEPTH
    )
    if errors:
        raise ValidationError({"label_schema": errors})


@transaction.atomic
def project_create(
    *,
    tenant: Tenant,
    membership: Membership,
    name: str,
    label_schema: dict[str, Any],
    description: str = "",
    instructions: str = "",
    **policy: Any,
) -> Project:
    """``policy``: any of PROJECT_POLICY (overlap, lease length, ordering, ...)."""
    unknown = set(policy) - set(PROJECT_POLICY)
    assert not unknown, f"not a policy field: {unknown}"
    _check_schema(label_schema)
    return Project.objects.create(
        tenant=tenant,
        name=name,
        description=description,
        instructions=instructions,
        label_schema=label_schema,
        created_by_id=membership.user_id,
        **policy,
    )


@transaction.atomic
def project_update(*, project: Project, changes: dict[str, Any]) -> Project:
    unknown = set(changes) - set(PROJECT_EDITABLE)
    assert not unknown, f"not editable: {unknown}"
    if "label_schema" in changes:
        _check_schema(changes["label_schema"])
    rekey = any(
        field in changes and changes[field] != getattr(project, field)
        for field in ("ordering", "random_seed")
    )
    overlap_changed = "overlap" in changes and changes["overlap"] != project.overlap
    for field, value in changes.items():
        setattr(project, field, value)
    project.updated_at = timezone.now()
    project.save(update_fields=[*changes, "updated_at"])
    if overlap_changed:
        _items_restatus(project)
    if rekey:
        # Re-keying a large project's queue is a worker's job, after this change commits.
        from workers.tasks.distribution import rekey_queue

        tenant_id, project_id = str(project.tenant_id), str(project.id)
        transaction.on_commit(lambda: rekey_queue.delay(tenant_id, project_id))
    return project


def _items_restatus(project: Project) -> None:
    """After an overlap change: items with enough results complete, completed items that now
    want more reopen (and so does the project)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE annotate_item
               SET status = CASE WHEN done_count >= %(overlap)s THEN 'completed'
                                 WHEN slots_taken > 0 OR done_count > 0 THEN 'in_progress'
                                 ELSE 'new' END
             WHERE tenant_id = %(tenant)s AND project_id = %(project)s
               AND status IN ('in_progress', 'completed')
            """,
            {"overlap": project.overlap, "tenant": project.tenant_id, "project": project.id},
        )
    if project.completed_at is not None:
        Project.objects.filter(id=project.id).update(completed_at=None)
        project.completed_at = None
    # Reopened items may sort before where annotators have got to.
    queue_rewound(tenant_id=project.tenant_id, project_id=project.id)


@transaction.atomic
def project_delete(*, project: Project) -> None:
    """Delete the project with its items, imports and datasets.

    TRICKY: Django's cascade would load every item into memory first; a project may hold
    millions. Items go in one SQL statement (still under RLS), the few other rows by the ORM.
    The project's stored blobs (uploads, media) stay in tenant storage until the tenant's keys
    are destroyed (see docs/imports.md).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM annotate_item WHERE tenant_id = %s AND project_id = %s",
            [project.tenant_id, project.id],
        )
    ImportJob.objects.filter(project=project).delete()
    Dataset.objects.filter(project=project).delete()
    ProjectUserObjectPermission.objects.filter(content_object=project).delete()
    project.delete()


class GrantRefused(Exception):
    """A permission grant that cannot be made; the message says why."""


@transaction.atomic
def project_permission_grant(
    *, project: Project, membership: Membership, permission: str
) -> ProjectUserObjectPermission:
    """Grant one project permission to a member of the project's tenant. Idempotent."""
    assert membership.tenant_id == project.tenant_id, "grant across tenants"
    if permission not in GRANTABLE:
        raise GrantRefused(
            f"unknown permission {permission!r}; one of {', '.join(sorted(GRANTABLE))}"
        )
    if not membership.is_active:
        raise GrantRefused("the membership is not active")
    if membership.role == Role.AUDITOR:
        raise GrantRefused("auditors see the access log, not project content")
    if permission == "annotate":
        from annotate.services.distribution import competitor_memberships

        if competitor_memberships(tenant_id=project.tenant_id, user_id=membership.user_id):
            raise GrantRefused(
                "this person is also a member of a tenant you named as a competitor; "
                "they can never be leased this tenant's items"
            )
    return assign_perm(codename(permission), membership.user, project)


@transaction.atomic
def project_permission_revoke(*, project: Project, membership: Membership, permission: str) -> bool:
    """Revoke a grant. Returns whether a grant existed. Role defaults are not grants: revoking
    ``review`` from a reviewer changes nothing, and the API says so."""
    assert membership.tenant_id == project.tenant_id, "revoke across tenants"
    if permission not in GRANTABLE:
        raise GrantRefused(f"unknown permission {permission!r}")
    existed = ProjectUserObjectPermission.objects.filter(
        content_object=project,
        user_id=membership.user_id,
        permission=Permission.objects.get(
            codename=codename(permission), content_type__app_label="annotate"
        ),
    ).exists()
    remove_perm(codename(permission), membership.user, project)
    return existed


def role_grants(role: str) -> frozenset[str]:
    return ROLE_DEFAULTS[role]
