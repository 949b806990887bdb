"""Operator commands: bootstrap a tenant without the admin."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from tenants.models import AccessEvent, Membership, Tenant
from tenants.scoping import tenant_context

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_tenant_add_member_token_and_revoke() -> None:
    assert "created tenant acme" in _run("create_tenant", "acme", "--name", "Acme")
    output = _run("add_member", "acme", "alice", "--role", "owner")
    raw = re.search(r"\(shown once\): (ant_\S+)", output).group(1)
    token_id = re.search(r"token (\S+) \(shown once\)", output).group(1)

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/t/acme/projects").status_code == 200

    assert "revoked token" in _run("revoke_token", "acme", token_id)
    assert client.get("/api/v1/t/acme/projects").status_code == 401

    tenant = Tenant.objects.get(slug="acme")
    with tenant_context(tenant.id):
        assert Membership.objects.get().role == "owner"
        actions = list(
            AccessEvent.objects.filter(auth_method="command").values_list("action", flat=True)
        )
    assert actions == ["tenant.create", "membership.add", "token.create", "token.revoke"]


def test_commands_fail_clearly() -> None:
    with pytest.raises(CommandError, match="no tenant with slug 'nope'"):
        _run("add_member", "nope", "bob", "--role", "annotator")
    _run("create_tenant", "acme", "--name", "Acme")
    with pytest.raises(CommandError, match="already exists"):
        _run("create_tenant", "acme", "--name", "Again")
    with pytest.raises(CommandError, match="slug"):
        _run("create_tenant", "not a slug", "--name", "X")


def test_load_demo_is_idempotent() -> None:
    assert "demo loaded" in _run("load_demo")
    assert "already loaded" in _run("load_demo")
    assert set(Tenant.objects.values_list("slug", flat=True)) == {"acme", "globex"}
