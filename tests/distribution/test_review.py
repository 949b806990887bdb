"""Reviewer flow: next, accept, reject (back to the pool), correct (history kept)."""

from __future__ import annotations

import pytest

from annotate.models import Annotation, Item, Review
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


@pytest.fixture
def reviewed(world: World) -> World:
    configure(world.project_a, review_ratio=1.0)
    add_items(world.project_a, 3)
    return world


def annotate_one(w: World, name: str) -> dict:
    client = client_for(annotator(w.project_a, name))
    lease = client.post(f"{base(w)}/next").json()
    done = client.post(
        f"{base(w)}/leases/{lease['id']}/submit", {"result": {"label": "a"}}, format="json"
    )
    assert done.status_code == 201 and done.json()["status"] == "pending_review"
    return done.json()


def test_accept_completes_the_item(reviewed: World) -> None:
    w = reviewed
    annotation = annotate_one(w, "ann-1")
    reviewer = client_for(w.m("a", "reviewer"))
    task = reviewer.post(f"{base(w)}/review/next")
    assert task.status_code == 200 and task.json()["annotation"]["id"] == annotation["id"]
    assert task.json()["item"]["data"] == {"text": "text 0"}
    again = reviewer.post(f"{base(w)}/review/next")  # held: the same one back
    assert again.json()["annotation"]["id"] == annotation["id"]
    other = client_for(w.m("a", "manager"))
    assert other.post(f"{base(w)}/review/next").status_code == 204  # held by the reviewer
    held = other.post(
        f"{base(w)}/annotations/{annotation['id']}/review", {"decision": "accept"}, format="json"
    )
    assert held.status_code == 409 and held.json()["error"]["code"] == "review_held"
    done = reviewer.post(
        f"{base(w)}/annotations/{annotation['id']}/review", {"decision": "accept"}, format="json"
    )
    assert done.status_code == 201, done.content
    with tenant_context(w.a.id):
        item = Item.objects.get(id=annotation["item_id"])
        assert (item.status, item.done_count) == ("completed", 1)
        assert AccessEvent.objects.filter(action="review.decide", outcome="allowed").exists()
    check_invariants(w.project_a)


def test_reject_needs_a_comment_and_returns_the_item_to_others(reviewed: World) -> None:
    w = reviewed
    annotation = annotate_one(w, "ann-1")
    reviewer = client_for(w.m("a", "reviewer"))
    url = f"{base(w)}/annotations/{annotation['id']}/review"
    bare = reviewer.post(url, {"decision": "reject"}, format="json")
    assert bare.status_code == 400 and "comment" in bare.json()["error"]["fields"]
    rejected = reviewer.post(url, {"decision": "reject", "comment": "wrong"}, format="json")
    assert rejected.status_code == 201
    with tenant_context(w.a.id):
        item = Item.objects.get(id=annotation["item_id"])
        assert item.slots_taken == 0 and item.status == "new"
    second = client_for(annotator(w.project_a, "ann-2")).post(f"{base(w)}/next").json()
    assert second["item"]["id"] == annotation["item_id"]
    check_invariants(w.project_a)


def test_correct_keeps_history_and_validates(reviewed: World) -> None:
    w = reviewed
    annotation = annotate_one(w, "ann-1")
    reviewer = client_for(w.m("a", "reviewer"))
    url = f"{base(w)}/annotations/{annotation['id']}/review"
    missing = reviewer.post(url, {"decision": "correct"}, format="json")
    assert missing.status_code == 400 and "result" in missing.json()["error"]["fields"]
    wrong = reviewer.post(url, {"decision": "correct", "result": {"label": "z"}}, format="json")
    assert wrong.status_code == 400 and "result.label" in wrong.json()["error"]["fields"]
    fixed = reviewer.post(url, {"decision": "correct", "result": {"label": "b"}}, format="json")
    assert fixed.status_code == 201
    detail = reviewer.get(f"{base(w)}/annotations/{annotation['id']}").json()
    assert detail["status"] == "superseded"
    assert [(h["version"], h["status"]) for h in detail["history"]] == [
        (1, "superseded"),
        (2, "accepted"),
    ]
    assert detail["history"][1]["parent_id"] == annotation["id"]
    assert detail["reviews"][0]["decision"] == "correct"
    with tenant_context(w.a.id):
        assert Item.objects.get(id=annotation["item_id"]).status == "completed"
        assert Review.objects.count() == 1
    check_invariants(w.project_a)


def test_own_annotation_and_permissions(reviewed: World) -> None:
    w = reviewed
    one = annotator(w.project_a, "ann-1")
    client = client_for(one)
    lease = client.post(f"{base(w)}/next").json()
    mine = client.post(
        f"{base(w)}/leases/{lease['id']}/submit", {"result": {"label": "a"}}, format="json"
    ).json()
    # An annotator has no review permission; the project's manager reviewing their own: 403.
    assert client.post(f"{base(w)}/review/next").status_code == 403
    manager = w.m("a", "manager")
    with tenant_context(w.a.id):
        Annotation.objects.filter(id=mine["id"]).update(author_id=manager.user_id)
    own = client_for(manager).post(
        f"{base(w)}/annotations/{mine['id']}/review", {"decision": "accept"}, format="json"
    )
    assert own.status_code == 403 and own.json()["error"]["code"] == "own_annotation"


def test_annotation_list_filters_and_bad_input(reviewed: World) -> None:
    w = reviewed
    annotation = annotate_one(w, "ann-1")
    manager = client_for(w.m("a", "manager"))
    listed = manager.get(f"{base(w)}/annotations?status=pending_review").json()
    assert [a["id"] for a in listed["results"]] == [annotation["id"]]
    assert manager.get(f"{base(w)}/annotations?status=accepted").json()["results"] == []
    bad = manager.get(f"{base(w)}/annotations?item=nope")
    assert bad.status_code == 400 and "item" in bad.json()["error"]["fields"]
    outsider = client_for(w.m("b", "owner"))
    leak = outsider.get(f"{base(w)}/annotations/{annotation['id']}")
    assert leak.status_code == 404 and b"label" not in leak.content
