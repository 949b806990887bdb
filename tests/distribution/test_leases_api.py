"""The annotator's API: next, submit, skip, release; refusals; isolation; access events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotate.models import Annotation, Competitor, Item, Lease
from annotate.services.distribution import leases_expire
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
from tests.factories import member

pytestmark = pytest.mark.django_db


def base(w: World) -> str:
    return f"/api/v1/t/tenant-a/projects/{w.project_a.id}"


def submit(client, w: World, lease_id: str, result: object, key: str = ""):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(
        f"{base(w)}/leases/{lease_id}/submit", {"result": result}, format="json", **headers
    )


@pytest.fixture
def setup(world: World) -> World:
    configure(world.project_a)
    add_items(world.project_a, 3)
    return world


def test_next_submit_completes_item_and_writes_events(setup: World) -> None:
    w = setup
    ann = annotator(w.project_a, "ann-1")
    client = client_for(ann)
    response = client.post(f"{base(w)}/next")
    assert response.status_code == 201, response.content
    lease = response.json()
    assert lease["state"] == "active" and lease["item"]["data"] == {"text": "text 0"}
    done = submit(client, w, lease["id"], {"label": "a"})
    assert done.status_code == 201, done.content
    assert done.json()["status"] == "accepted"
    with tenant_context(w.a.id):
        item = Item.objects.get(id=lease["item"]["id"])
        assert item.status == "completed" and item.done_count == 1
        actions = list(
            AccessEvent.objects.filter(actor_user_id=ann.user_id)
            .order_by("occurred_at")
            .values_list("action", "resource_id")
        )
    assert ("lease.next", str(w.project_a.id)) in actions
    assert ("lease.submit", lease["id"]) in actions
    check_invariants(w.project_a)


def test_next_holds_at_most_two_then_returns_the_oldest(setup: World) -> None:
    w = setup
    client = client_for(annotator(w.project_a, "ann-1"))
    first = client.post(f"{base(w)}/next")
    second = client.post(f"{base(w)}/next")
    third = client.post(f"{base(w)}/next")
    assert (first.status_code, second.status_code, third.status_code) == (201, 201, 200)
    assert third.json()["id"] == first.json()["id"]
    assert first.json()["item"]["id"] != second.json()["item"]["id"]
    mine = client.get(f"{base(w)}/leases").json()
    assert [lease["id"] for lease in mine] == [first.json()["id"], second.json()["id"]]


def test_retried_submit_with_same_key_replays_and_other_key_conflicts(setup: World) -> None:
    w = setup
    client = client_for(annotator(w.project_a, "ann-1"))
    lease = client.post(f"{base(w)}/next").json()
    first = submit(client, w, lease["id"], {"label": "b"}, key="k-1")
    again = submit(client, w, lease["id"], {"label": "b"}, key="k-1")
    other = submit(client, w, lease["id"], {"label": "b"}, key="k-2")
    assert first.status_code == 201
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert other.status_code == 409 and other.json()["error"]["code"] == "lease_submitted"
    with tenant_context(w.a.id):
        assert Annotation.objects.filter(lease_id=lease["id"]).count() == 1
    check_invariants(w.project_a)


@pytest.mark.parametrize(
    ("result", "field"),
    [
        ({"label": "c"}, "result.label"),
        ({}, "result.label"),
        ({"label": "a", "extra": 1}, "result.extra"),
        ("a", "result"),
    ],
)
def test_invalid_result_is_400_naming_the_field(setup: World, result: object, field: str) -> None:
    w = setup
    client = client_for(annotator(w.project_a, "ann-1"))
    lease = client.post(f"{base(w)}/next").json()
    response = submit(client, w, lease["id"], result)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    with tenant_context(w.a.id):
        assert Lease.objects.get(id=lease["id"]).state == "active"  # nothing half-written
        event = AccessEvent.objects.filter(action="lease.submit").get()
    assert event.outcome == "failed" and event.status_code == 400


def test_submit_refusals_say_why(setup: World) -> None:
    w = setup
    one, two = annotator(w.project_a, "ann-1"), annotator(w.project_a, "ann-2")
    c1, c2 = client_for(one), client_for(two)
    lease = c1.post(f"{base(w)}/next").json()
    foreign = submit(c2, w, lease["id"], {"label": "a"})
    assert foreign.status_code == 403
    assert foreign.json()["error"]["code"] == "lease_not_yours"
    assert c1.post(f"{base(w)}/leases/{lease['id']}/release").status_code == 200
    released = submit(c1, w, lease["id"], {"label": "a"})
    assert released.status_code == 409 and released.json()["error"]["code"] == "lease_released"
    expiring = c1.post(f"{base(w)}/next").json()
    with tenant_context(w.a.id):
        Lease.objects.filter(id=expiring["id"]).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    expired = submit(c1, w, expiring["id"], {"label": "a"})
    assert expired.status_code == 409 and expired.json()["error"]["code"] == "lease_expired"
    assert "expired at" in expired.json()["error"]["message"]
    missing = submit(c1, w, "00000000-0000-7000-8000-000000000000", {"label": "a"})
    assert missing.status_code == 404


def test_release_and_expiry_return_the_item_to_others_only(setup: World) -> None:
    w = setup
    configure(w.project_a, lease_seconds=60)
    one, two = annotator(w.project_a, "ann-1"), annotator(w.project_a, "ann-2")
    c1, c2 = client_for(one), client_for(two)
    first = c1.post(f"{base(w)}/next").json()
    c1.post(f"{base(w)}/leases/{first['id']}/release")
    # ann-1 never gets the released item again; ann-2 gets it first (it leads the queue).
    assert c1.post(f"{base(w)}/next").json()["item"]["id"] != first["item"]["id"]
    assert c2.post(f"{base(w)}/next").json()["item"]["id"] == first["item"]["id"]
    held = c1.post(f"{base(w)}/next").json()
    with tenant_context(w.a.id):
        Lease.objects.filter(annotator_id=one.user_id, state="active").update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
        assert leases_expire(tenant_id=w.a.id) == 2
        assert Lease.objects.get(id=held["id"]).state == "expired"
    check_invariants(w.project_a)


def test_skip_returns_or_keeps_the_slot_per_policy(setup: World) -> None:
    w = setup
    client = client_for(annotator(w.project_a, "ann-1"))
    lease = client.post(f"{base(w)}/next").json()
    skipped = client.post(f"{base(w)}/leases/{lease['id']}/skip")
    assert skipped.status_code == 200 and skipped.json()["state"] == "skipped"
    with tenant_context(w.a.id):
        assert Item.objects.get(id=lease["item"]["id"]).slots_taken == 0
    configure(w.project_a, skipped_items_return=False)
    kept = client.post(f"{base(w)}/next").json()
    client.post(f"{base(w)}/leases/{kept['id']}/skip")
    with tenant_context(w.a.id):
        item = Item.objects.get(id=kept["item"]["id"])
        assert (item.slots_taken, item.status) == (1, "completed")
    check_invariants(w.project_a)


def test_nothing_left_and_limit_are_204_with_a_reason(setup: World) -> None:
    w = setup
    configure(w.project_a, max_items_per_annotator=1)
    client = client_for(annotator(w.project_a, "ann-1"))
    lease = client.post(f"{base(w)}/next").json()
    submit(client, w, lease["id"], {"label": "a"})
    limited = client.post(f"{base(w)}/next")
    assert limited.status_code == 204 and limited.headers["Annotate-Reason"] == "limit_reached"
    configure(w.project_a, max_items_per_annotator=None)
    for _ in range(2):
        got = client.post(f"{base(w)}/next").json()
        submit(client, w, got["id"], {"label": "a"})
    empty = client.post(f"{base(w)}/next")
    assert empty.status_code == 204 and empty.headers["Annotate-Reason"] == "exhausted"


def test_ordering_priority_then_import_order_and_random_by_seed(world: World) -> None:
    w = world
    configure(w.project_a)
    items = add_items(w.project_a, 6, priorities=[0, 0, 5, 0, 5, 0])
    client = client_for(annotator(w.project_a, "ann-1"))
    order = []
    for _ in range(6):
        lease = client.post(f"{base(w)}/next").json()
        order.append(lease["item"]["id"])
        submit(client, w, lease["id"], {"label": "a"})
    expected = [items[i].id for i in (2, 4, 0, 1, 3, 5)]
    assert order == [str(i) for i in expected]


def test_random_ordering_is_reproducible_from_the_seed(world: World) -> None:
    from annotate.services.queue import queue_keys_recompute

    w = world
    items = add_items(w.project_a, 40)
    orders = []
    for seed in (7, 7, 8):
        configure(w.project_a, ordering="random", random_seed=seed)
        with tenant_context(w.a.id):
            queue_keys_recompute(project=w.project_a)
            orders.append(
                list(
                    Item.objects.filter(project=w.project_a)
                    .order_by("queue_key")
                    .values_list("id", flat=True)
                )
            )
    assert orders[0] == orders[1] != orders[2]
    assert orders[0] != [i.id for i in items]
    configure(w.project_a, ordering="priority")
    with tenant_context(w.a.id):
        queue_keys_recompute(project=w.project_a)
        back = Item.objects.filter(project=w.project_a).order_by("queue_key")
        assert list(back.values_list("id", flat=True)) == [i.id for i in items]


def test_submit_answers_the_project_then_the_input_then_the_lease(setup: World) -> None:
    """The submit looks the project and the lease up in one round trip; its answers keep
    their order: the project's (404 unseen, 403 without annotate), then the input's (400),
    then the lease's (403 another annotator's); a refused caller leaves the lease as it was."""
    w = setup
    holder = client_for(annotator(w.project_a, "ann-1"))
    lease = holder.post(f"{base(w)}/next").json()
    url = f"{base(w)}/leases/{lease['id']}/submit"
    unseen = client_for(w.m("a", "annotator")).post(url, {"result": {"label": "a"}}, format="json")
    assert unseen.status_code == 404
    reviewer = client_for(w.m("a", "reviewer")).post(url, {"result": {"label": "a"}}, format="json")
    assert reviewer.status_code == 403 and "annotate" in reviewer.json()["error"]["message"]
    other = client_for(annotator(w.project_a, "ann-2"))
    bad_input = other.post(url, {"result": {"label": "a"}, "extra": 1}, format="json")
    assert bad_input.status_code == 400 and "extra" in bad_input.content.decode()
    foreign = other.post(url, {"result": {"label": "a"}}, format="json")
    assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "lease_not_yours"
    with tenant_context(w.a.id):
        assert Lease.objects.get(id=lease["id"]).state == "active"
    done = holder.post(url, {"result": {"label": "a"}}, format="json")
    assert done.status_code == 201, done.content


def test_other_tenant_gets_404_and_nothing_leaks(setup: World) -> None:
    w = setup
    mine = client_for(annotator(w.project_a, "ann-1"))
    lease = mine.post(f"{base(w)}/next").json()
    outsider = client_for(w.m("b", "owner"))
    # B's owner on A's URLs: not a member of tenant-a.
    for url in (f"{base(w)}/next", f"{base(w)}/leases/{lease['id']}/submit"):
        response = outsider.post(url, {"result": {"label": "a"}}, format="json")
        assert response.status_code == 404
        assert b"text" not in response.content and lease["id"].encode() not in response.content
    # A's lease id under B's own tenant URL: not found either.
    b_url = f"/api/v1/t/tenant-b/projects/{w.project_b.id}/leases/{lease['id']}/submit"
    assert outsider.post(b_url, {"result": {"label": "a"}}, format="json").status_code == 404
    with tenant_context(w.a.id):
        assert Lease.objects.get(id=lease["id"]).state == "active"
        denied = AccessEvent.objects.filter(outcome="denied", action="lease.next").count()
    assert denied == 1


def test_permissions_annotate_needed(setup: World) -> None:
    w = setup
    # An annotator without a grant cannot see the project; a reviewer sees it but may not label.
    assert client_for(w.m("a", "annotator")).post(f"{base(w)}/next").status_code == 404
    reviewer = client_for(w.m("a", "reviewer")).post(f"{base(w)}/next")
    assert reviewer.status_code == 403 and "annotate" in reviewer.json()["error"]["message"]


def test_competitor_members_are_never_leased_and_grant_refuses(setup: World) -> None:
    w = setup
    both = annotator(w.project_a, "double-agent")  # granted before the wall was named
    from tenants.services.memberships import membership_add

    membership_add(tenant=w.b, user=both.user, role="annotator")
    with tenant_context(w.a.id):
        Competitor.objects.create(competitor=w.b, created_by_id=w.m("a", "owner").user_id)
    refused = client_for(both).post(f"{base(w)}/next")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "competitor_excluded"
    newcomer = member(w.a, "annotator", username="newcomer")
    membership_add(tenant=w.b, user=newcomer.user, role="reviewer")
    grant = client_for(w.m("a", "owner")).post(
        f"{base(w)}/permissions",
        {"membership": str(newcomer.id), "permission": "annotate"},
        format="json",
    )
    assert grant.status_code == 400, grant.content
    assert "competitor" in grant.content.decode()
    with tenant_context(w.a.id):
        assert not Lease.objects.filter(annotator_id=both.user_id).exists()


def test_competitor_api_owner_only_invisible_to_the_named_tenant(setup: World) -> None:
    w = setup
    owner = client_for(w.m("a", "owner"))
    url = "/api/v1/t/tenant-a/competitors"
    bad = owner.post(url, {"competitor": "no-such-tenant"}, format="json")
    assert bad.status_code == 400 and "competitor" in bad.json()["error"]["fields"]
    assert owner.post(url, {"competitor": "tenant-a"}, format="json").status_code == 400
    added = owner.post(url, {"competitor": "tenant-b", "note": "rival lab"}, format="json")
    assert added.status_code == 201 and added.json()["competitor"] == "tenant-b"
    assert [row["competitor"] for row in owner.get(url).json()] == ["tenant-b"]
    assert client_for(w.m("a", "manager")).get(url).status_code == 403
    # Tenant B cannot see that it was named, neither through the API nor the database.
    assert client_for(w.m("b", "owner")).get("/api/v1/t/tenant-b/competitors").json() == []
    with tenant_context(w.b.id):
        assert not Competitor.objects.exists()
    with tenant_context(w.a.id):
        assert AccessEvent.objects.filter(action="competitor.add", outcome="allowed").count() == 1
    removed = owner.delete(f"{url}/{added.json()['id']}")
    assert removed.status_code == 204


def test_workforce_report_lists_workers_and_the_wall(setup: World) -> None:
    from tenants.services.memberships import membership_add

    w = setup
    one = annotator(w.project_a, "ann-1")
    client = client_for(one)
    lease = client.post(f"{base(w)}/next").json()
    submit(client, w, lease["id"], {"label": "a"})
    manager = client_for(w.m("a", "manager"))
    report = manager.get(f"{base(w)}/workforce").json()
    assert report["wall_held"] is True and report["violations"] == []
    assert [(r["username"], r["leases"], r["annotations"]) for r in report["workers"]] == [
        ("ann-1", 1, 1)
    ]
    # The worker later joins a competitor that tenant A then names: the report flags it.
    membership_add(tenant=w.b, user=one.user, role="annotator")
    with tenant_context(w.a.id):
        Competitor.objects.create(competitor=w.b, created_by_id=w.m("a", "owner").user_id)
    flagged = manager.get(f"{base(w)}/workforce").json()
    assert flagged["wall_held"] is False and flagged["violations"] == [one.user_id]
    assert client_for(one).get(f"{base(w)}/workforce").status_code == 403


def test_changing_the_overlap_reopens_or_completes_items(setup: World) -> None:
    w = setup
    client = client_for(annotator(w.project_a, "ann-1"))
    lease = client.post(f"{base(w)}/next").json()
    submit(client, w, lease["id"], {"label": "a"})
    manager = client_for(w.m("a", "manager"))
    url = f"/api/v1/t/tenant-a/projects/{w.project_a.id}"
    assert manager.patch(url, {"overlap": 2}, format="json").status_code == 200
    with tenant_context(w.a.id):
        assert Item.objects.get(id=lease["item"]["id"]).status == "in_progress"
    other = client_for(annotator(w.project_a, "ann-2")).post(f"{base(w)}/next").json()
    assert other["item"]["id"] == lease["item"]["id"]  # it wants a second result now
    assert manager.patch(url, {"overlap": 1}, format="json").status_code == 200
    with tenant_context(w.a.id):
        assert Item.objects.get(id=lease["item"]["id"]).status == "completed"
    bad = manager.patch(url, {"lease_seconds": 5, "ordering": "sideways"}, format="json")
    assert bad.status_code == 400
    assert {"lease_seconds", "ordering"} <= set(bad.json()["error"]["fields"])
