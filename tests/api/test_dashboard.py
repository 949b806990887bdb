"""The dashboard's progress-over-time endpoint: counts per bucket, the wall, its event."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotate.models import Annotation, Item
from tenants.models import AccessEvent
from tenants.scoping import tenant_context
from tests.conftest import World
from tests.distribution.conftest import add_items, annotator, client_for, configure

pytestmark = pytest.mark.django_db


def url(w: World, tenant: str = "tenant-a", project=None) -> str:
    return f"/api/v1/t/{tenant}/projects/{(project or w.project_a).id}/progress"


def label(w: World, name: str, count: int) -> None:
    client = client_for(annotator(w.project_a, name))
    base = f"/api/v1/t/tenant-a/projects/{w.project_a.id}"
    for _ in range(count):
        lease = client.post(f"{base}/next").json()
        done = client.post(
            f"{base}/leases/{lease['id']}/submit", {"result": {"label": "a"}}, format="json"
        )
        assert done.status_code == 201, done.content


def test_counts_per_day_and_per_annotator(world: World) -> None:
    w = world
    configure(w.project_a)
    add_items(w.project_a, 5)
    label(w, "ann-1", 3)
    label(w, "ann-2", 1)
    # One item that arrived long before the window: counted in items_before only.
    with tenant_context(w.a.id):
        old = Item.objects.filter(project=w.project_a).order_by("seq").first()
        Item.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(days=40))
    body = client_for(w.m("a", "manager")).get(url(w), {"days": 7}).json()
    assert body["bucket"] == "day" and len(body["buckets"]) == 7
    # (Sums over the last two buckets: the test may straddle midnight or the hour.)
    recent = body["buckets"][-2:]
    assert sum(b["items_added"] for b in recent) == 4
    assert sum(b["annotations"] for b in recent) == 4
    assert sum(b["reviews"] for b in body["buckets"]) == 0
    assert body["items_before"] == 1 and body["annotations_before"] == 0
    assert [(a["username"], a["total"], sum(a["counts"][-2:])) for a in body["annotators"]] == [
        ("ann-1", 3, 3),
        ("ann-2", 1, 1),
    ]
    assert all(len(a["counts"]) == 7 for a in body["annotators"])
    hourly = client_for(w.m("a", "reviewer")).get(url(w), {"bucket": "hour", "days": 2}).json()
    assert len(hourly["buckets"]) == 48
    assert sum(b["annotations"] for b in hourly["buckets"][-2:]) == 4


def test_the_access_writes_its_event(world: World) -> None:
    w = world
    response = client_for(w.m("a", "manager")).get(url(w), {"bucket": "day", "days": 3})
    assert response.status_code == 200
    with tenant_context(w.a.id):
        event = AccessEvent.objects.get(action="project.progress")
    assert event.outcome == "allowed"
    assert event.resource_type == "project" and event.resource_id == str(w.project_a.id)
    assert event.actor_username == "a-manager"
    assert event.detail["days"] == 3 and event.detail["bucket"] == "day"


def test_other_tenant_gets_404_and_nothing_leaks(world: World) -> None:
    w = world
    add_items(w.project_a, 2)
    b_manager = client_for(w.m("b", "manager"))
    # A's project through B's own tenant, and A's tenant itself: both plain 404.
    for path in (url(w, "tenant-b"), url(w, "tenant-a")):
        response = b_manager.get(path)
        assert response.status_code == 404
        assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}
    # Bad input on someone else's project is still 404 (no validation oracle).
    assert b_manager.get(url(w, "tenant-b"), {"bucket": "week"}).status_code == 404
    # B's own dashboard counts none of A's items.
    own = b_manager.get(url(w, "tenant-b", w.project_b)).json()
    assert sum(b["items_added"] for b in own["buckets"]) == 0 and own["items_before"] == 0
    with tenant_context(w.a.id):
        assert not AccessEvent.objects.filter(action="project.progress", outcome="allowed")


def test_bad_input_is_a_400_naming_the_field(world: World) -> None:
    client = client_for(world.m("a", "manager"))
    cases = [
        ({"bucket": "week"}, "bucket"),
        ({"days": "zero"}, "days"),
        ({"days": 0}, "days"),
        ({"days": 400}, "days"),
        ({"bucket": "hour", "days": 30}, "days"),
        ({"tenant": "tenant-b"}, "tenant"),
    ]
    for params, field in cases:
        response = client.get(url(world), params)
        assert response.status_code == 400, (params, response.content)
        assert field in response.json()["error"]["fields"], (params, response.json())


def test_annotators_without_review_or_manage_are_refused(world: World) -> None:
    w = world
    one = annotator(w.project_a, "ann-1")
    assert client_for(one).get(url(w)).status_code == 403
    with tenant_context(w.a.id):
        assert Annotation.objects.count() == 0
