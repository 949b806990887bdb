"""Token authentication: only valid, live tokens of a live membership, on their own tenant."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from tenants.models import ApiToken, token_hash
from tenants.scoping import tenant_context
from tenants.services.memberships import membership_end, token_revoke
from tests.conftest import World
from tests.factories import token_for

pytestmark = pytest.mark.django_db


def _get(raw: str, slug: str = "tenant-a") -> tuple[int, dict]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.get(f"/api/v1/t/{slug}/projects")
    return response.status_code, response.json()


def test_valid_token_works_and_only_its_hash_is_stored(world: World) -> None:
    issued = token_for(world.m("a", "manager"))
    status, body = _get(issued.raw)
    assert status == 200, body
    with tenant_context(world.a.id):
        stored = ApiToken.objects.get(id=issued.token.id)
        assert stored.key_hash == token_hash(issued.raw)
        assert issued.raw not in {stored.key_hash, stored.display_prefix, stored.name}
        assert stored.last_used_at is not None


def test_revoked_token_is_refused(world: World) -> None:
    issued = token_for(world.m("a", "manager"))
    with tenant_context(world.a.id):
        token_revoke(token=issued.token, revoked_by=None)
    status, body = _get(issued.raw)
    assert status == 401
    assert body["error"]["message"] == "API token refused: token revoked."


def test_expired_token_is_refused(world: World) -> None:
    issued = token_for(world.m("a", "manager"), expires_at=timezone.now() + timedelta(seconds=1))
    with tenant_context(world.a.id):
        ApiToken.objects.filter(id=issued.token.id).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    status, body = _get(issued.raw)
    assert status == 401
    assert "expired" in body["error"]["message"]


def test_token_of_ended_membership_is_refused(world: World) -> None:
    membership = world.m("a", "annotator")
    issued = token_for(membership)
    with tenant_context(world.a.id):
        membership_end(membership=membership, ended_by=None)
    status, body = _get(issued.raw)
    assert status == 401
    assert "revoked" in body["error"]["message"] or "inactive" in body["error"]["message"]


def test_unknown_token_is_refused(world: World) -> None:
    status, body = _get("ant_" + "A" * 43)
    assert (status, body["error"]["message"]) == (401, "Invalid API token.")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Bearer", "must be 'Bearer <token>'"),
        ("Bearer a b", "must be 'Bearer <token>'"),
        ("Bearer not-a-token", "Malformed API token."),
        ("Basic dXNlcjpwYXNz", "not supported"),
        ("Bearer ant_short", "Malformed API token."),
    ],
)
def test_malformed_header_is_refused(world: World, header: str, message: str) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/t/tenant-a/projects")
    assert response.status_code == 401
    assert message in response.json()["error"]["message"]
    assert response["WWW-Authenticate"] == "Bearer"


def test_no_credentials_is_401(world: World) -> None:
    response = APIClient().get("/api/v1/t/tenant-a/projects")
    assert response.status_code == 401


def test_token_of_tenant_a_on_tenant_b_url_is_404(world: World) -> None:
    issued = token_for(world.m("a", "owner"))
    status, body = _get(issued.raw, slug="tenant-b")
    status_missing, body_missing = _get(issued.raw, slug="no-such-tenant")
    assert (status, body) == (404, {"error": {"code": "not_found", "message": "Not found."}})
    assert (status_missing, body_missing) == (status, body)
