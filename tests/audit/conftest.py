"""Helpers for the proof tests: a tenant log with real API traffic, sealed and bundled."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from tenants.proof.bundle import bundle_write
from tenants.proof.sealing import audit_seal_tenant, platform_checkpoint_create
from tenants.scoping import tenant_context
from tests.conftest import World

ROOT = Path(__file__).resolve().parent.parent.parent
VERIFIER_PATH = ROOT / "tools" / "verify_bundle.py"

# An allowed event for the tenant given as its one parameter, written by hand: row-level
# security's WITH CHECK must refuse it in any other tenant's context.
FORGED_EVENT = (
    "INSERT INTO tenants_accessevent (tenant_id, occurred_at, actor_username, actor_role, "
    "auth_method, credential_id, action, resource_type, resource_id, outcome, reason, "
    "request_id, detail) VALUES (%(tenant)s, now(), '', '', '', '', 'forged', 't', '', 'allowed', "
    "'', '', '{}')"
)


def load_verifier() -> Any:
    spec = importlib.util.spec_from_file_location("verify_bundle", VERIFIER_PATH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


VERIFIER = load_verifier()


def verify(path: Path, *extra: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = VERIFIER.main([str(path), *extra])
    return code, out.getvalue()


def traffic(world: World, token_client: Callable[[Any], Any]) -> None:
    """Allowed reads by members of A, an outsider's denied attempt, a manager's write."""
    owner = token_client(world.m("a", "owner"))
    manager = token_client(world.m("a", "manager"))
    intruder = token_client(world.m("b", "owner"))
    assert owner.get("/api/v1/t/tenant-a/members").status_code == 200
    assert manager.get("/api/v1/t/tenant-a/projects").status_code == 200
    assert intruder.get("/api/v1/t/tenant-a/projects").status_code == 404
    assert (
        manager.patch(
            f"/api/v1/t/tenant-a/projects/{world.project_a.id}", {"name": "x"}, format="json"
        ).status_code
        == 200
    )
    assert owner.get("/api/v1/t/tenant-a/members").status_code == 200


def make_bundle(world: World, path: Path, *, tenant: str = "a", seal: bool = True) -> Path:
    tenant_id = world.a.id if tenant == "a" else world.b.id
    if seal:
        audit_seal_tenant(tenant_id=tenant_id)
        audit_seal_tenant(tenant_id=world.b.id if tenant == "a" else world.a.id)
        platform_checkpoint_create()
    now = timezone.now()
    with tenant_context(tenant_id), path.open("wb") as handle:
        bundle_write(
            tenant_id=tenant_id,
            period_from=now - timedelta(days=1),
            period_to=now + timedelta(days=1),
            out=handle,
        )
    return path


def rewrite(path: Path, name: str, change: Callable[[bytes], bytes]) -> Path:
    """A copy of the bundle with one member file changed."""
    target = path.with_name(f"tampered-{name}-{path.name}")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            dst.writestr(info.filename, change(data) if info.filename == name else data)
    return target


def lines_of(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.splitlines()]


def dump_lines(lines: list[dict[str, Any]]) -> bytes:
    from tenants.proof.canonical import canonical_json

    return b"".join(canonical_json(line) + b"\n" for line in lines)


@pytest.fixture
def bundle(world: World, token_client: Any, tmp_path: Path) -> Path:
    traffic(world, token_client)
    return make_bundle(world, tmp_path / "bundle.zip")
