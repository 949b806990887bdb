"""Sealing: gapless per-tenant sequences, chain and Merkle heads, signed checkpoints, the
platform checkpoint, and the insert-only tables behind them."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.db import connection, transaction

from tenants.audit import Actor, audit_record
from tenants.models import AccessEvent, AccessSeal, AuditCheckpoint, MembershipLog, SigningKey
from tenants.proof.canonical import (
    EMPTY_ROOT,
    Frontier,
    canonical_json,
    inclusion_path,
    leaf_hash,
    merkle_root,
    node_hash,
)
from tenants.proof.sealing import audit_seal_tenant, platform_checkpoint_create
from tenants.scoping import tenant_context
from tests.conftest import World, app_conninfo

ACTOR = Actor.for_command("test")


def _write_events(tenant_id: uuid.UUID, n: int, action: str = "test.read") -> None:
    with tenant_context(tenant_id):
        for i in range(n):
            audit_record(
                tenant_id=tenant_id, actor=ACTOR, action=action, resource_type="t", resource_id=i
            )


def _seals(tenant_id: uuid.UUID) -> list[AccessSeal]:
    with tenant_context(tenant_id):
        return list(AccessSeal.objects.order_by("seq"))


def test_frontier_root_is_rfc6962_mth_for_every_size() -> None:
    contents = [bytes([i]) * 32 for i in range(70)]
    frontier = Frontier()
    assert frontier.root() == EMPTY_ROOT
    for n, content in enumerate(contents, start=1):
        frontier.append(content)
        assert frontier.root() == merkle_root([leaf_hash(c) for c in contents[:n]]), n
    reloaded = Frontier.load(frontier.dump(), frontier.size)
    assert reloaded.root() == frontier.root()


def test_merkle_root_of_three_by_hand() -> None:
    a, b, c = (leaf_hash(bytes([i])) for i in range(3))
    assert merkle_root([a, b, c]) == node_hash(node_hash(a, b), c)
    assert inclusion_path(2, [a, b, c]) == [node_hash(a, b)]
    assert inclusion_path(0, [a, b, c]) == [b, c]


@pytest.mark.django_db
def test_sealing_numbers_each_tenant_gaplessly_and_signs(world: World) -> None:
    _write_events(world.a.id, 5)
    _write_events(world.b.id, 3)
    result = audit_seal_tenant(tenant_id=world.a.id)
    assert result.sealed >= 5
    seals_a = _seals(world.a.id)
    assert [s.seq for s in seals_a] == list(range(1, len(seals_a) + 1))
    with tenant_context(world.a.id):
        assert AccessEvent.objects.count() == len(seals_a)
        checkpoint = AuditCheckpoint.objects.get()
        assert MembershipLog.objects.count() == checkpoint.members_size == 5
    assert checkpoint.size == len(seals_a)
    payload = json.loads(checkpoint.payload)
    assert payload["tenant_id"] == str(world.a.id) and payload["size"] == checkpoint.size
    public = SigningKey.objects.get(key_id=checkpoint.key_id).public_key
    Ed25519PublicKey.from_public_bytes(base64.b64decode(public)).verify(
        base64.b64decode(checkpoint.signature), canonical_json(payload)
    )
    # Tenant B is untouched by A's run; nothing new means no new checkpoint.
    assert _seals(world.b.id) == []
    assert audit_seal_tenant(tenant_id=world.a.id).checkpoint_id is None
    # More events: seqs continue, the new checkpoint extends the old one.
    _write_events(world.a.id, 4)
    audit_seal_tenant(tenant_id=world.a.id)
    assert [s.seq for s in _seals(world.a.id)] == list(range(1, len(seals_a) + 5))


def test_a_late_commit_with_a_smaller_id_is_sealed_by_the_next_run(committed: None) -> None:
    from tests.conftest import build_world

    world = build_world()
    tid = world.a.id
    # An open transaction takes an event id, then others commit larger ids and are sealed.
    late = psycopg.connect(app_conninfo())
    late.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tid)])
    late.execute(
        "INSERT INTO tenants_accessevent (tenant_id, occurred_at, actor_username, "
        "auth_method, credential_id, action, resource_type, resource_id, outcome, reason, "
        "request_id, detail, actor_role) VALUES (%s, now(), 'late', 'command', '', 'late.write', "
        "'t', '', 'allowed', '', '', '{}', '')",
        [tid],
    )
    _write_events(tid, 3)
    first = audit_seal_tenant(tenant_id=tid)
    late.commit()
    late.close()
    second = audit_seal_tenant(tenant_id=tid)
    assert second.sealed == 1 and second.size == first.size + 1
    with tenant_context(tid):
        seal = AccessSeal.objects.select_related("event").get(seq=second.size)
        assert seal.event.action == "late.write"
        assert AccessEvent.objects.count() == AccessSeal.objects.count()


def test_concurrent_requests_and_sealer_never_duplicate_or_skip(committed: None) -> None:
    from tests.conftest import build_world

    world = build_world()
    tid = world.a.id
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(40):
                _write_events(tid, 1)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        audit_seal_tenant(tenant_id=tid)
    for t in threads:
        t.join()
    audit_seal_tenant(tenant_id=tid)
    assert not errors
    seals = _seals(tid)
    assert [s.seq for s in seals] == list(range(1, len(seals) + 1))
    with tenant_context(tid):
        assert AccessEvent.objects.count() == len(seals) == len({s.event_id for s in seals})


@pytest.mark.django_db
def test_platform_checkpoint_covers_every_tenant_with_a_log(world: World) -> None:
    _write_events(world.a.id, 1)
    _write_events(world.b.id, 1)
    audit_seal_tenant(tenant_id=world.a.id)
    audit_seal_tenant(tenant_id=world.b.id)
    platform = platform_checkpoint_create()
    assert platform is not None and platform.tenant_count == 2
    assert platform_checkpoint_create() is None  # nothing changed


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("table", "statement"),
    [
        ("tenants_accessseal", "UPDATE tenants_accessseal SET seq = seq + 100"),
        ("tenants_accessseal", "DELETE FROM tenants_accessseal"),
        ("tenants_auditcheckpoint", "UPDATE tenants_auditcheckpoint SET size = 0"),
        ("tenants_auditcheckpoint", "DELETE FROM tenants_auditcheckpoint"),
        ("tenants_membershiplog", "DELETE FROM tenants_membershiplog"),
        ("tenants_signingkey", "UPDATE tenants_signingkey SET public_key = 'x'"),
        ("tenants_platformcheckpoint", "DELETE FROM tenants_platformcheckpoint"),
    ],
)
def test_the_app_role_may_only_insert_into_the_proof_tables(
    world: World, table: str, statement: str
) -> None:
    _write_events(world.a.id, 2)
    audit_seal_tenant(tenant_id=world.a.id)
    platform_checkpoint_create()
    with (
        pytest.raises(Exception) as caught,
        tenant_context(world.a.id),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert "permission denied" in str(caught.value) or "append-only" in str(caught.value)


@pytest.mark.django_db
def test_membership_history_records_every_change(world: World) -> None:
    from tenants.services.memberships import membership_end, membership_update

    target = world.m("a", "annotator")
    with tenant_context(world.a.id):
        membership_update(membership=target, role="reviewer")
        membership_end(membership=target, ended_by=None)
        states: list[Any] = list(
            MembershipLog.objects.filter(membership_id=target.id)
            .order_by("seq")
            .values_list("role", "is_active")
        )
        seqs = list(MembershipLog.objects.order_by("seq").values_list("seq", flat=True))
    assert states == [("annotator", True), ("reviewer", True), ("reviewer", False)]
    assert seqs == list(range(1, len(seqs) + 1))
