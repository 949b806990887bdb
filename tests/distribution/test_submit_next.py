"""``POST leases/<id>/submit?next=1``: the result and the next lease in one request."""

from __future__ import annotations

import uuid

import pytest

from annotate.models import Annotation, Competitor, Lease
from tenants.models import AccessEvent
from tenants.scoping import tenant_context
from tests.conftest import World
from tests.distribution.conftest import (
    add_items,
    annotator,
    check_invariants,
    client_for,
    configure,
)

pytestmark = pytest.mark.django_db


def base(w: World) -> str:
    return f"/api/v1/t/tenant-a/projects/{w.project_a.id}"


def submit_next(client, w: World, lease_id: str, result: object, key: str = "", flag="1"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(
        f"{base(w)}/leases/{lease_id}/submit?next={flag}",
        {"result": result},
        format="json",
        **headers,
    )


@pytest.fixture
def setup(world: World) -> World:
    configure(world.project_a)
    add_items(world.project_a, 3)
    return world


def test_returns_the_annotation_and_the_next_lease_with_both_events(setup: World) -> None:
    w = setup
    ann = annotator(w.project_a, "ann-1")
    client = client_for(ann)
    first = client.post(f"{base(w)}/next").json()
    done = submit_next(client, w, first["id"], {"label": "a"})
    assert done.status_code == 201, done.content
    body = done.json()
    assert body["status"] == "accepted" and body["lease_id"] == first["id"]
    assert body["next_reason"] == "new"
    following = body["next"]
    assert following["state"] == "active" and following["item"]["id"] != first["item"]["id"]
    assert following["item"]["data"] == {"text": "text 1"}
    with tenant_context(w.a.id):
        assert Lease.objects.get(id=first["id"]).state == "submitted"
        assert Lease.objects.get(id=following["id"]).annotator_id == ann.user_id
        events = {
            (e.action, e.resource_id, e.outcome): e.detail
            for e in AccessEvent.objects.filter(actor_user_id=ann.user_id)
        }
    assert ("lease.submit", first["id"], "allowed") in events
    next_event = events[("lease.next", str(w.project_a.id), "allowed")]
    assert next_event is not None
    nexts = [
        detail
        for (action, _, _), detail in events.items()
        if action == "lease.next" and detail.get("with") == "submit"
    ]
    assert nexts == [
        {
            "outcome": "new",
            "with": "submit",
            "lease": following["id"],
            "item": following["item"]["id"],
        }
    ]
    check_invariants(w.project_a)


def test_without_the_flag_the_answer_is_the_annotation_alone(setup: World) -> None:
    w = setup
    client = client_for(annotator(w.project_a, "ann-1"))
    lease = client.post(f"{base(w)}/next").json()
    done = submit_next(client, w, lease["id"], {"label": "a"}, flag="0")
    assert done.status_code == 201
    assert "next" not in done.json() and "next_reason" not in done.json()
    with tenant_context(w.a.id):
        assert not AccessEvent.objects.filter(action="lease.next", detail__with="submit").exists()


def test_loop_until_nothing_is_left_then_exhausted(setup: World) -> None:
    w = setup
    client = client_for(annotator(w.project_a, "ann-1"))
    lease = client.post(f"{base(w)}/next").json()
    seen = []
    while lease is not None:
        seen.append(lease["item"]["id"])
        done = submit_next(client, w, lease["id"], {"label": "b"})
        assert done.status_code == 201, done.content
        lease = done.json()["next"]
    assert done.json()["next_reason"] == "exhausted"
    assert len(seen) == len(set(seen)) == 3
    totals = check_invariants(w.project_a)
    assert totals["annotations"] == 3


@pytest.mark.parametrize(
    ("result", "flag", "field"),
    [
        ({"label": "c"}, "1", "result.label"),
        ({"label": "a"}, "maybe", "next"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_writes_nothing(
    setup: World, result: object, flag: str, field: str
) -> None:
    w = setup
    ann = annotator(w.project_a, "ann-1")
    client = client_for(ann)
    lease = client.post(f"{base(w)}/next").json()
    response = submit_next(client, w, lease["id"], result, flag=flag)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    with tenant_context(w.a.id):
        assert Lease.objects.get(id=lease["id"]).state == "active"  # nothing half-written
        assert Lease.objects.filter(annotator_id=ann.user_id).count() == 1  # no next lease
        assert not Annotation.objects.exists()
        event = AccessEvent.objects.filter(action="lease.submit").get()
        assert not AccessEvent.objects.filter(action="lease.next", detail__with="submit").exists()
    assert event.outcome == "failed" and event.status_code == 400
    check_invariants(w.project_a)


def test_other_tenant_gets_404_and_nothing_leaks(setup: World) -> None:
    w = setup
    mine = client_for(annotator(w.project_a, "ann-1"))
    lease = mine.post(f"{base(w)}/next").json()
    outsider = client_for(w.m("b", "owner"))
    body = {"result": {"label": "a"}}
    # B's owner on A's URL: not a member of tenant-a.
    foreign = outsider.post(f"{base(w)}/leases/{lease['id']}/submit?next=1", body, format="json")
    # A's project and lease ids under B's own tenant URL, and ids that never existed: the same.
    b_base = "/api/v1/t/tenant-b/projects"
    pairs = [
        (w.project_a.id, lease["id"]),
        (w.project_b.id, lease["id"]),
        (uuid.uuid4(), uuid.uuid4()),
    ]
    answers = [
        outsider.post(f"{b_base}/{project}/leases/{lease_id}/submit?next=1", body, format="json")
        for project, lease_id in pairs
    ]
    for response in [foreign, *answers]:
        assert response.status_code == 404
        assert b"text" not in response.content and lease["id"].encode() not in response.content
        assert str(w.project_a.id).encode() not in response.content
    assert len({response.content for response in answers}) == 1
    with tenant_context(w.a.id):
        assert Lease.objects.get(id=lease["id"]).state == "active"
        assert Lease.objects.count() == 1
        assert not Annotation.objects.exists()
        assert AccessEvent.objects.filter(outcome="denied", action="lease.submit").count() == 1
    with tenant_context(w.b.id):
        assert not Lease.objects.exists()
        assert AccessEvent.objects.filter(outcome="denied", action="lease.submit").count() == 3
    check_invariants(w.project_a)


def test_a_replayed_submit_returns_the_lease_the_first_attempt_handed_out(setup: World) -> None:
    w = setup
    ann = annotator(w.project_a, "ann-1")
    client = client_for(ann)
    lease = client.post(f"{base(w)}/next").json()
    first = submit_next(client, w, lease["id"], {"label": "a"}, key="k-1")
    again = submit_next(client, w, lease["id"], {"label": "a"}, key="k-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["next"]["id"] == first.json()["next"]["id"]
    assert again.json()["next_reason"] == "held"
    with tenant_context(w.a.id):
        assert Lease.objects.filter(annotator_id=ann.user_id).count() == 2
        assert Annotation.objects.count() == 1
        replay = AccessEvent.objects.get(action="lease.submit_replay")
    assert replay.outcome == "allowed"
    check_invariants(w.project_a)


def test_a_competitor_exclusion_refuses_the_next_but_keeps_the_submit(setup: World) -> None:
    from tenants.services.memberships import membership_add

    w = setup
    both = annotator(w.project_a, "double-agent")
    client = client_for(both)
    lease = client.post(f"{base(w)}/next").json()
    # The annotator joins a competitor that tenant A then names, while holding a lease.
    membership_add(tenant=w.b, user=both.user, role="annotator")
    with tenant_context(w.a.id):
        Competitor.objects.create(competitor=w.b, created_by_id=w.m("a", "owner").user_id)
    done = submit_next(client, w, lease["id"], {"label": "a"})
    assert done.status_code == 201, done.content
    assert done.json()["next"] is None
    assert done.json()["next_reason"] == "competitor_excluded"
    with tenant_context(w.a.id):
        assert Lease.objects.filter(annotator_id=both.user_id).count() == 1
        assert Annotation.objects.count() == 1
        refused = AccessEvent.objects.get(action="lease.next", outcome="denied")
    assert refused.status_code == 403 and "competitor" in refused.reason
    check_invariants(w.project_a)


def test_direct_bodies_equal_the_serializers_they_replace(setup: World) -> None:
    from annotate.api.work import (
        AnnotationSerializer,
        LeaseSerializer,
        annotation_body,
        lease_body,
    )

    w = setup
    configure(w.project_a, review_ratio=1.0)
    client = client_for(annotator(w.project_a, "ann-1"))
    first = client.post(f"{base(w)}/next").json()
    submit_next(client, w, first["id"], {"label": "a"})
    with tenant_context(w.a.id):
        Annotation.objects.update(gold_score=0.5)
        leases = list(Lease.objects.select_related("item"))
        Lease.objects.filter(id=leases[0].id).update(leased_at=None)
        leases = list(Lease.objects.select_related("item"))
        annotations = list(Annotation.objects.all())
    assert {lease.state for lease in leases} == {"active", "submitted"}
    for lease in leases:
        assert lease_body(lease) == LeaseSerializer(lease).data
    for annotation in annotations:
        assert annotation_body(annotation) == AnnotationSerializer(annotation).data


@pytest.mark.parametrize("active", [True, False])
def test_completion_webhook_only_looked_up_when_the_tenant_has_an_active_one(
    setup: World, settings, active: bool
) -> None:
    """The submit's statement says whether the tenant has any active webhook: with one, the
    completion creates its delivery as before; with none (or only inactive ones), no lookup."""
    from annotate.webhooks.models import WebhookDelivery
    from annotate.webhooks.services import webhook_create, webhook_update

    settings.WEBHOOK_ALLOWED_NETWORKS = []
    w = setup
    with tenant_context(w.a.id):
        hook = webhook_create(
            membership=w.m("a", "manager"),
            url="https://93.184.216.34/hook",
            events=["item.completed"],
            project=None,
        )[0]
        if not active:
            webhook_update(webhook=hook, changes={"active": False})
    client = client_for(annotator(w.project_a, "ann-1"))
    lease = client.post(f"{base(w)}/next").json()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        done = submit_next(client, w, lease["id"], {"label": "a"})
    assert done.status_code == 201, done.content
    looked_up = [q for q in ctx.captured_queries if "FROM webhooks_webhook WHERE" in q["sql"]]
    with tenant_context(w.a.id):
        deliveries = WebhookDelivery.objects.filter(event="item.completed").count()
    assert (bool(looked_up), deliveries) == ((True, 1) if active else (False, 0))
