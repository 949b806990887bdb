"""Members and tokens API: owner and manager only, with the owner role protected."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tenants.models import ApiToken, Membership
from tenants.scoping import tenant_context
from tests.conftest import World

pytestmark = pytest.mark.django_db
MEMBERS = "/api/v1/t/tenant-a/members"
TOKENS = "/api/v1/t/tenant-a/tokens"


def test_manager_adds_lists_changes_and_ends_a_member(world: World, token_client) -> None:
    client = token_client(world.m("a", "manager"))
    added = client.post(MEMBERS, {"username": "newbie", "role": "annotator"}, format="json")
    assert added.status_code == 201, added.json()
    member_id = added.json()["id"]
    usernames = [m["user"]["username"] for m in client.get(MEMBERS).json()["results"]]
    assert "newbie" in usernames and "b-owner" not in usernames
    changed = client.patch(f"{MEMBERS}/{member_id}", {"role": "reviewer"}, format="json")
    assert changed.json()["role"] == "reviewer"
    assert client.delete(f"{MEMBERS}/{member_id}").status_code == 204
    with tenant_context(world.a.id):
        ended = Membership.objects.get(id=member_id)
    assert (ended.is_active, ended.ended_at is not None) == (False, True)


def test_an_annotator_of_both_tenants_keeps_separate_memberships(
    world: World, token_client
) -> None:
    token_client(world.m("b", "manager")).post(
        "/api/v1/t/tenant-b/members",
        {"username": "a-annotator", "role": "annotator"},
        format="json",
    )
    # Their tenant-A token still only works on tenant A.
    client = token_client(world.m("a", "annotator"))
    assert client.get("/api/v1/t/tenant-b/projects").status_code == 404


def test_manager_cannot_create_or_touch_owners(world: World, token_client) -> None:
    client = token_client(world.m("a", "manager"))
    response = client.post(MEMBERS, {"username": "boss", "role": "owner"}, format="json")
    assert response.status_code == 403
    owner_id = world.m("a", "owner").id
    assert (
        client.patch(f"{MEMBERS}/{owner_id}", {"role": "annotator"}, format="json").status_code
        == 403
    )
    assert client.delete(f"{MEMBERS}/{owner_id}").status_code == 403


def test_last_owner_cannot_leave_or_be_demoted(world: World, token_client) -> None:
    client = token_client(world.m("a", "owner"))
    owner_id = world.m("a", "owner").id
    response = client.patch(f"{MEMBERS}/{owner_id}", {"role": "manager"}, format="json")
    assert response.status_code == 400
    assert "last active owner" in response.json()["error"]["fields"]["role"][0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "x", "role": "emperor"}, "role"),
        ({"role": "annotator"}, "username"),
        ({"username": "x", "role": "annotator", "tenant": "tenant-b"}, "tenant"),
        ({"username": "bad name!", "role": "annotator"}, "username"),
        ({"username": "x", "role": "annotator", "email": "not-an-email"}, "email"),
    ],
)
def test_member_bad_input_names_the_field(
    world: World, token_client, body: dict, field: str
) -> None:
    response = token_client(world.m("a", "owner")).post(MEMBERS, body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"]


@pytest.mark.parametrize("role", ["annotator", "reviewer", "auditor"])
def test_members_and_tokens_are_owner_and_manager_only(
    world: World, token_client, role: str
) -> None:
    client = token_client(world.m("a", role))
    assert client.get(MEMBERS).status_code == 403
    assert client.get(TOKENS).status_code == 403
    assert client.post(TOKENS, {"name": "x"}, format="json").status_code == 403


def test_token_created_through_the_api_is_shown_once_and_works(world: World, token_client) -> None:
    client = token_client(world.m("a", "manager"))
    created = client.post(TOKENS, {"name": "ci pipeline"}, format="json")
    assert created.status_code == 201
    raw = created.json()["token"]
    listed = client.get(TOKENS).json()["results"]
    assert all("token" not in t for t in listed)
    assert raw not in str(listed)
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert fresh.get("/api/v1/t/tenant-a/projects").status_code == 200
    assert client.delete(f"{TOKENS}/{created.json()['id']}").status_code == 204
    assert fresh.get("/api/v1/t/tenant-a/projects").status_code == 401


def test_only_owner_issues_tokens_for_other_members(world: World, token_client) -> None:
    target = str(world.m("a", "annotator").id)
    manager = token_client(world.m("a", "manager"))
    assert (
        manager.post(TOKENS, {"name": "x", "membership": target}, format="json").status_code == 403
    )
    owner = token_client(world.m("a", "owner"))
    response = owner.post(TOKENS, {"name": "x", "membership": target}, format="json")
    assert response.status_code == 201
    assert response.json()["membership_id"] == target


def test_token_bad_input(world: World, token_client) -> None:
    client = token_client(world.m("a", "owner"))
    past = client.post(TOKENS, {"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, format="json")
    assert "expires_at" in past.json()["error"]["fields"]
    bad_date = client.post(TOKENS, {"name": "x", "expires_at": "tomorrow"}, format="json")
    assert "expires_at" in bad_date.json()["error"]["fields"]
    foreign = client.post(
        TOKENS, {"name": "x", "membership": str(world.m("b", "owner").id)}, format="json"
    )
    assert foreign.status_code == 404
    with tenant_context(world.b.id):
        assert not ApiToken.objects.exists()


def test_me_lists_session_memberships_and_only_the_tokens_own(
    world: World, token_client, session_client
) -> None:
    token_client(world.m("b", "manager")).post(
        "/api/v1/t/tenant-b/members",
        {"username": "a-annotator", "role": "annotator"},
        format="json",
    )
    session = session_client(world.m("a", "annotator")).get("/api/v1/me").json()
    assert sorted(m["tenant"]["slug"] for m in session["memberships"]) == ["tenant-a", "tenant-b"]
    by_token = token_client(world.m("a", "annotator")).get("/api/v1/me").json()
    assert [m["tenant"]["slug"] for m in by_token["memberships"]] == ["tenant-a"]
