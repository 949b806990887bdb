"""Reads for an annotator's own work: which projects they label in, and how far along they are."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Count

from annotate.models import Annotation, Item, Lease
from annotate.permissions import project_permissions_for_many, projects_visible_to
from tenants.models import Membership

MAX_PROJECTS = 200


def annotator_progress(*, membership: Membership) -> list[dict[str, Any]]:
    """The projects the member may annotate (newest first, at most ``MAX_PROJECTS``), each with
    the project's item counts and the member's own counts. Counts only: no item content.

    Four queries whatever the number of projects (projects, grants, then one grouped count per
    table)."""
    projects = list(projects_visible_to(membership=membership).order_by("-id")[:MAX_PROJECTS])
    perms = project_permissions_for_many(membership=membership, projects=projects)
    projects = [p for p in projects if "annotate" in perms[p.id]]
    ids = [p.id for p in projects]
    if not ids:
        return []
    items: dict[Any, dict[str, int]] = defaultdict(dict)
    for row in (
        Item.objects.filter(project_id__in=ids)
        .values("project_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    ):
        items[row["project_id"]][row["status"]] = row["n"]
    mine = dict(
        Annotation.objects.filter(project_id__in=ids, author_id=membership.user_id, parent=None)
        .values_list("project_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    leases: dict[Any, dict[str, int]] = defaultdict(dict)
    for row in (
        Lease.objects.filter(
            project_id__in=ids,
            annotator_id=membership.user_id,
            state__in=[Lease.State.ACTIVE, Lease.State.SKIPPED],
        )
        .values("project_id", "state")
        .annotate(n=Count("id"))
        .order_by()
    ):
        leases[row["project_id"]][row["state"]] = row["n"]
    out = []
    for project in projects:
        counts = items[project.id]
        out.append(
            {
                "project_id": project.id,
                "name": project.name,
                "items_total": sum(n for s, n in counts.items() if s != Item.Status.GOLD),
                "items_completed": counts.get(Item.Status.COMPLETED, 0),
                "submitted": mine.get(project.id, 0),
                "skipped": leases[project.id].get(Lease.State.SKIPPED, 0),
                "active_leases": leases[project.id].get(Lease.State.ACTIVE, 0),
            }
        )
    return out
