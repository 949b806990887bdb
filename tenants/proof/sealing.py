"""Sealing: give each tenant's committed events a gapless sequence number, a content hash and a
chain hash, extend the tenant's Merkle tree, and sign a checkpoint. Then a platform checkpoint
over every tenant's latest checkpoint.

Why a sealer, not a counter in the request path: a per-tenant counter row would serialise every
request of a tenant on one lock. Requests only INSERT their event (as before); this job, under a
per-tenant advisory lock, numbers what has committed since the last run.

Which events a run takes, and why none is ever lost: the run takes every *unsealed* event it can
see (an anti-join against the seals), not "ids above the last one", because ids are handed out
at insert time and a transaction holding a smaller id may commit after a larger one. To keep the
anti-join small, a routine run looks only above the largest event id seen by a checkpoint made
more than ``AUDIT_SEAL_LOOKBACK_SECONDS`` ago (a transaction would have to stay open that long
after writing its event to be missed; requests and tasks are limited far below that). The daily
``full`` sweep looks at everything, so even such a straggler is sealed, just later; its ``seq``
then follows the events sealed before it, which is fine: the order is stable once sealed.
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from tenants.models import AuditCheckpoint, PlatformCheckpoint, SigningKey, Tenant
from tenants.proof.canonical import (
    GENESIS,
    Frontier,
    canonical_json,
    chain_next,
    content_hash,
    inclusion_path,
    iso,
    leaf_hash,
    merkle_root,
    sha256,
    uid,
)
from tenants.scoping import tenant_context
from tenants.signing import SigningKeyPair, current_signing_key

BATCH = 5000
TENANT_CHECKPOINT = "annotate.tenant-checkpoint/1"
PLATFORM_CHECKPOINT = "annotate.platform-checkpoint/1"

EVENT_COLUMNS = """
    e.id, e.occurred_at, e.actor_user_id, e.actor_username, e.actor_membership_id,
    e.actor_tenant_id, e.actor_role, e.auth_method, e.credential_id, e.grant_id, e.action,
    e.resource_type, e.resource_id, e.outcome, e.reason, e.status_code, e.request_id,
    host(e.client_ip), e.detail::text
"""


def event_record(tenant_id: uuid.UUID, seq: int, row: tuple[Any, ...]) -> dict[str, Any]:
    """The canonical content of an event (``row`` in ``EVENT_COLUMNS`` order after the id)."""
    (
        occurred_at,
        user_id,
        username,
        membership_id,
        actor_tenant_id,
        role,
        auth_method,
        credential_id,
        grant_id,
        action,
        resource_type,
        resource_id,
        outcome,
        reason,
        status_code,
        request_id,
        client_ip,
        detail,
    ) = row
    return {
        "seq": seq,
        "tenant_id": uid(tenant_id),
        "occurred_at": iso(occurred_at),
        "actor_user_id": user_id,
        "actor_username": username,
        "actor_membership_id": uid(membership_id),
        "actor_tenant_id": uid(actor_tenant_id),
        "actor_role": role,
        "auth_method": auth_method,
        "credential_id": credential_id,
        "grant_id": uid(grant_id),
        "action": action,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "outcome": outcome,
        "reason": reason,
        "status_code": status_code,
        "request_id": request_id,
        "client_ip": client_ip,
        "detail": json.loads(detail) if detail else {},
    }


def membership_records(tenant_id: uuid.UUID) -> list[dict[str, Any]]:
    """The tenant's membership history, in ``seq`` order, in canonical form."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT seq, membership_id, user_id, role, is_active, expires_at, grant_id, "
            "recorded_at FROM tenants_membershiplog WHERE tenant_id = %s ORDER BY seq",
            [tenant_id],
        )
        rows = cursor.fetchall()
    return [
        {
            "seq": seq,
            "tenant_id": uid(tenant_id),
            "membership_id": uid(membership_id),
            "user_id": user_id,
            "role": role,
            "is_active": is_active,
            "expires_at": iso(expires_at),
            "grant_id": uid(grant_id),
            "recorded_at": iso(recorded_at),
        }
        for seq, membership_id, user_id, role, is_active, expires_at, grant_id, recorded_at in rows
    ]


def members_head(records: list[dict[str, Any]]) -> bytes:
    head = GENESIS
    for record in records:
        head = chain_next(head, content_hash(record))
    return head


def _lock_key(tenant_id: uuid.UUID) -> int:
    return zlib.crc32(b"audit-seal:" + tenant_id.bytes) - 2**31


def signing_key_register(key: SigningKeyPair) -> None:
    """Publish the public half of ``key`` (once; a key id never changes its key)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO tenants_signingkey (key_id, public_key, first_used_at) "
            "VALUES (%s, %s, now()) ON CONFLICT (key_id) DO NOTHING",
            [key.key_id, key.public_b64],
        )
    stored = SigningKey.objects.get(key_id=key.key_id).public_key
    if stored != key.public_b64:
        raise RuntimeError(
            f"signing key id {key.key_id!r} was used before with another key; give the new "
            "key a new id (AUDIT_SIGNING_KEYS)"
        )


@dataclass(frozen=True)
class SealResult:
    sealed: int
    size: int
    checkpoint_id: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"sealed": self.sealed, "size": self.size, "checkpoint": self.checkpoint_id}


def _candidates(tenant_id: uuid.UUID, floor: int) -> Iterator[list[tuple[Any, ...]]]:
    last_id = floor
    while True:
        with connection.cursor() as cursor:
            # TRICKY: the seal side is bounded by the cursor too (``s.event_id > last``). Within
            # the run's transaction, on statistics that predate the new events, the planner
            # may pick a nested loop probing the seals once per event; unbounded, each probe
            # read every seal of the tenant (11.6 s for a batch of 5,000 after 5,000 seals).
            cursor.execute(
                f"SELECT {EVENT_COLUMNS} FROM tenants_accessevent e "
                "WHERE e.tenant_id = %(t)s AND e.id > %(last)s AND NOT EXISTS (SELECT 1 FROM "
                "tenants_accessseal s WHERE s.tenant_id = e.tenant_id AND s.event_id = e.id "
                "AND s.event_id > %(last)s) ORDER BY e.id LIMIT %(n)s",
                {"t": tenant_id, "last": last_id, "n": BATCH},
            )
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        last_id = rows[-1][0]


def audit_seal_tenant(*, tenant_id: uuid.UUID, full: bool = False) -> SealResult:
    """Seal the tenant's unsealed committed events and sign a checkpoint, in one transaction.

    Guarantees: seqs are gapless from 1; an event is sealed at most once (unique keys) and,
    with the daily ``full`` sweep, at least once; concurrent runs for one tenant do not
    interleave (an advisory lock; the loser returns without work). A checkpoint is signed only
    when the log or the membership history grew.
    """
    with tenant_context(tenant_id):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_lock_key(tenant_id)])
            if not cursor.fetchone()[0]:
                return SealResult(0, -1, None)
        last = AuditCheckpoint.objects.order_by("-size", "-id").first()
        size = last.size if last else 0
        frontier = Frontier.load(last.frontier, size) if last else Frontier()
        chain = bytes.fromhex(last.chain_head) if last else GENESIS
        floor = 0
        if not full and last is not None:
            horizon = timezone.now() - timedelta(seconds=settings.AUDIT_SEAL_LOOKBACK_SECONDS)
            older = AuditCheckpoint.objects.filter(signed_at__lt=horizon).order_by("-size").first()
            floor = older.max_event_id if older else 0
        max_event_id = last.max_event_id if last else 0
        sealed = 0
        for rows in _candidates(tenant_id, floor):
            seqs, event_ids, contents, chains = [], [], [], []
            for row in rows:
                size += 1
                digest = content_hash(event_record(tenant_id, size, row[1:]))
                chain = chain_next(chain, digest)
                frontier.append(digest)
                seqs.append(size)
                event_ids.append(row[0])
                contents.append(digest)
                chains.append(chain)
                max_event_id = max(max_event_id, row[0])
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO tenants_accessseal "
                    "(tenant_id, seq, event_id, content_hash, chain_hash, sealed_at) "
                    "SELECT %s, s, e, c, h, now() "
                    "FROM unnest(%s::bigint[], %s::bigint[], %s::bytea[], %s::bytea[]) "
                    "AS t(s, e, c, h)",
                    [tenant_id, seqs, event_ids, contents, chains],
                )
            sealed += len(rows)
        members = membership_records(tenant_id)
        if sealed == 0 and last is not None and last.members_size == len(members):
            return SealResult(0, size, None)
        checkpoint = _checkpoint_sign(
            tenant_id, size, frontier, chain, members, max_event_id=max_event_id
        )
        return SealResult(sealed, size, checkpoint.id)


def _checkpoint_sign(
    tenant_id: uuid.UUID,
    size: int,
    frontier: Frontier,
    chain: bytes,
    members: list[dict[str, Any]],
    *,
    max_event_id: int,
) -> AuditCheckpoint:
    key = current_signing_key()
    signing_key_register(key)
    now = timezone.now()
    payload = {
        "type": TENANT_CHECKPOINT,
        "tenant_id": uid(tenant_id),
        "size": size,
        "root": frontier.root().hex(),
        "chain_head": chain.hex(),
        "members_size": len(members),
        "members_head": members_head(members).hex(),
        "signed_at": iso(now),
        "key_id": key.key_id,
    }
    message = canonical_json(payload)
    return AuditCheckpoint.objects.create(
        tenant_id=tenant_id,
        size=size,
        root_hash=payload["root"],
        chain_head=payload["chain_head"],
        members_size=payload["members_size"],
        members_head=payload["members_head"],
        signed_at=now,
        key_id=key.key_id,
        payload=message.decode(),
        signature=key.sign(message),
        frontier=frontier.dump(),
        max_event_id=max_event_id,
    )


def checkpoint_leaf(tenant_id: uuid.UUID | str, payload: str) -> bytes:
    """A tenant checkpoint's leaf in the platform tree: it names the tenant and commits to
    the exact signed payload (only hashes: no tenant's size is readable from the tree)."""
    return leaf_hash(
        canonical_json({"tenant_id": uid(tenant_id), "checkpoint": sha256(payload.encode()).hex()})
    )


def platform_checkpoint_create() -> PlatformCheckpoint | None:
    """Sign a root over every active tenant's latest checkpoint (one tenant context each).

    Returns None when nothing changed since the last platform checkpoint."""
    leaves: dict[str, str] = {}
    for tenant_id in Tenant.objects.filter(status=Tenant.Status.ACTIVE).values_list(
        "id", flat=True
    ):
        with tenant_context(tenant_id):
            latest = AuditCheckpoint.objects.order_by("-size", "-id").first()
            if latest is not None:
                leaves[str(tenant_id)] = checkpoint_leaf(tenant_id, latest.payload).hex()
    previous = PlatformCheckpoint.objects.order_by("-id").first()
    ordered = dict(sorted(leaves.items()))
    if previous is not None and previous.leaves == ordered:
        return None
    root = merkle_root([bytes.fromhex(v) for v in ordered.values()])
    with transaction.atomic():
        key = current_signing_key()
        signing_key_register(key)
        now = timezone.now()
        payload = {
            "type": PLATFORM_CHECKPOINT,
            "tenants": len(ordered),
            "root": root.hex(),
            "signed_at": iso(now),
            "key_id": key.key_id,
        }
        message = canonical_json(payload)
        return PlatformCheckpoint.objects.create(
            tenant_count=len(ordered),
            root_hash=root.hex(),
            leaves=ordered,
            signed_at=now,
            key_id=key.key_id,
            payload=message.decode(),
            signature=key.sign(message),
        )


def platform_proof_for(tenant_id: uuid.UUID, payloads: set[str]) -> dict[str, Any] | None:
    """The latest platform checkpoint that includes one of ``payloads`` (this tenant's
    checkpoints), with the inclusion proof of that leaf."""
    wanted = {checkpoint_leaf(tenant_id, p).hex(): p for p in payloads}
    for platform in PlatformCheckpoint.objects.filter(leaves__has_key=str(tenant_id)).order_by(
        "-id"
    )[:200]:
        leaf = platform.leaves.get(str(tenant_id))
        if leaf not in wanted:
            continue
        ordered = [v for _, v in sorted(platform.leaves.items())]
        index = ordered.index(leaf)
        path = inclusion_path(index, [bytes.fromhex(v) for v in ordered])
        return {
            "payload": platform.payload,
            "signature": platform.signature,
            "proof": {
                "checkpoint_payload_sha256": sha256(wanted[leaf].encode()).hex(),
                "index": index,
                "size": len(ordered),
                "path": [p.hex() for p in path],
            },
        }
    return None
