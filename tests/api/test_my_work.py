"""An annotator's own work list: the projects they may annotate, with counts, and nothing else."""

from __future__ import annotations

import pytest

from tenants.models import AccessEvent
from tenants.scoping import tenant_context
from tests.conftest import World
from tests.distribution.conftest import add_items, annotator, client_for, configure

pytestmark = pytest.mark.django_db


def test_counts_for_the_annotator_and_only_annotatable_projects(world: World) -> None:
    w = world
    configure(w.project_a)
    add_items(w.project_a, 4)
    ann = annotator(w.project_a, "ann-1")
    client = client_for(ann)
    base = f"/api/v1/t/tenant-a/projects/{w.project_a.id}"
    lease = client.post(f"{base}/next").json()
    assert (
        client.post(
            f"{base}/leases/{lease['id']}/submit", {"result": {"label": "a"}}, format="json"
        ).status_code
        == 201
    )
    second = client.post(f"{base}/next").json()
    assert client.post(f"{base}/leases/{second['id']}/skip").status_code == 200
    client.post(f"{base}/next")

    rows = client.get("/api/v1/t/tenant-a/my-work").json()
    assert rows == [
        {
            "project_id": str(w.project_a.id),
            "name": w.project_a.name,
            "items_total": 4,
            "items_completed": 1,
            "submitted": 1,
            "skipped": 1,
            "active_leases": 1,
        }
    ]
    # Another annotator without work yet sees the same project totals and zero of their own.
    other = client_for(annotator(w.project_a, "ann-2")).get("/api/v1/t/tenant-a/my-work").json()
    assert (other[0]["submitted"], other[0]["active_leases"], other[0]["items_total"]) == (0, 0, 4)
    with tenant_context(w.a.id):
        assert AccessEvent.objects.filter(action="project.my_work").count() == 2


def test_no_annotate_permission_no_rows_and_other_tenant_is_404(world: World) -> None:
    w = world
    # A reviewer (view and review, no annotate) sees no project to label.
    assert client_for(w.m("a", "reviewer")).get("/api/v1/t/tenant-a/my-work").json() == []
    # Tenant B's member asking on tenant A's URL: 404, like a tenant that does not exist.
    foreign = client_for(w.m("b", "annotator")).get("/api/v1/t/tenant-a/my-work")
    missing = client_for(w.m("b", "annotator")).get("/api/v1/t/no-such-tenant/my-work")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
