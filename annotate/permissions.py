"""Who may do what on a project: role defaults plus per-project guardian grants.

Role defaults (every project of the tenant):
    owner, manager: view, annotate, review, manage, export
    reviewer:       view, review
    annotator:      none (granted per project: ``annotate`` implies ``view``)
    auditor:        none on project content (auditors read the access log, not items)

Grants live in guardian's direct foreign-key table ``ProjectUserObjectPermission``, which
carries ``tenant_id`` and is under RLS. We read it directly instead of through guardian's
``ObjectPermissionChecker`` because that checker grants every permission to a Django superuser,
and platform staff must not read tenant data by being superusers.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet

from annotate.models import PROJECT_PERMISSIONS, Project, ProjectUserObjectPermission
from tenants.models import Membership, Role

ROLE_DEFAULTS: dict[str, frozenset[str]] = {
    Role.OWNER: frozenset(PROJECT_PERMISSIONS),
    Role.MANAGER: frozenset(PROJECT_PERMISSIONS),
    Role.REVIEWER: frozenset({"view", "review"}),
    Role.ANNOTATOR: frozenset(),
    Role.AUDITOR: frozenset(),
}
GRANTABLE = frozenset(PROJECT_PERMISSIONS)


def codename(permission: str) -> str:
    return f"{permission}_project"


def project_permissions_for(*, membership: Membership, project: Project) -> frozenset[str]:
    """The permissions the member holds on the project (empty set: cannot even see it)."""
    return project_permissions_for_many(membership=membership, projects=[project])[project.id]


def project_permissions_for_many(
    *, membership: Membership, projects: list[Project]
) -> dict[object, frozenset[str]]:
    """Each project's permissions for the member (role defaults plus grants; any permission
    implies ``view``; empty: cannot even see it), for a page of projects in one query."""
    granted: dict[object, set[str]] = {p.id: set() for p in projects}
    rows = ProjectUserObjectPermission.objects.filter(
        content_object__in=[p.id for p in projects], user_id=membership.user_id
    ).values_list("content_object_id", "permission__codename")
    for project_id, code in rows:
        granted[project_id].add(code.removesuffix("_project"))
    defaults = ROLE_DEFAULTS[membership.role]
    result = {}
    for project in projects:
        assert project.tenant_id == membership.tenant_id, "project and membership cross tenants"
        perms = set(defaults) | granted[project.id]
        if perms:
            perms.add("view")
        result[project.id] = frozenset(perms)
    return result


def projects_visible_to(*, membership: Membership) -> QuerySet[Project]:
    """Projects of the membership's tenant the member may see."""
    projects = Project.objects.all()
    if ROLE_DEFAULTS[membership.role]:
        return projects
    grants = ProjectUserObjectPermission.objects.filter(
        content_object=OuterRef("pk"), user_id=membership.user_id
    )
    return projects.filter(Exists(grants))
