"""The auditor's bundle: a ZIP an auditor verifies offline with ``tools/verify_bundle.py``.

Contents (docs/audit.md, "The bundle"):

* ``manifest.json``: format, tenant, period, the final checkpoint's size, file list;
* ``events.jsonl``: one line per sealed event, seq 1 to the final checkpoint's size, in order.
  Events inside the period carry their full canonical content; events outside it are *elided*
  (seq, content hash and chain hash only), so the chain and the Merkle roots still verify
  from seq 1 while the bundle shows only the period;
* ``memberships.jsonl``: the tenant's whole membership history (what the segregation check
  needs; each checkpoint commits to it);
* ``checkpoints.jsonl``: every signed tenant checkpoint up to the final one;
* ``platform.json``: the latest signed platform checkpoint that includes one of them, with its
  RFC 6962 inclusion proof; ``keys.json``: the public keys; ``grants.jsonl``: break-glass
  grants; ``report.json``: counts by actor, action and outcome, every denied attempt, every
  person who accessed data and through which membership, every event under a grant.

Only metadata: the log never holds item content, and neither does the bundle.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import IO, Any

from django.db import DatabaseError, connection
from django.utils import timezone

from tenants.audit import Actor, audit_record
from tenants.models import AuditCheckpoint, AuditExport, OperatorGrant, SigningKey, Tenant
from tenants.proof.canonical import canonical_json, iso, uid
from tenants.proof.sealing import (
    EVENT_COLUMNS,
    audit_seal_tenant,
    event_record,
    membership_records,
    platform_proof_for,
)
from tenants.scoping import tenant_context
from tenants.storage import TenantStorage

logger = logging.getLogger(__name__)

FORMAT = "annotate.audit-bundle/1"
BATCH = 5000
MAX_LISTED = 100_000  # denied attempts and break-glass events listed one by one in the report
SYSTEM_METHODS = ("task", "command")


class Report:
    """Counts over the events inside the period (the verifier recomputes the same)."""

    def __init__(self) -> None:
        self.events = 0
        self.by_actor: Counter[str] = Counter()
        self.by_action: Counter[str] = Counter()
        self.by_outcome: Counter[str] = Counter()
        self.denied: list[dict[str, Any]] = []
        self.people: dict[str, dict[str, Any]] = {}
        self.break_glass: list[dict[str, Any]] = []

    def add(self, e: dict[str, Any]) -> None:
        self.events += 1
        self.by_actor[e["actor_username"] or "(anonymous)"] += 1
        self.by_action[e["action"]] += 1
        self.by_outcome[e["outcome"]] += 1
        brief = {
            k: e[k]
            for k in (
                "seq",
                "occurred_at",
                "actor_username",
                "action",
                "resource_type",
                "resource_id",
                "reason",
                "client_ip",
            )
        }
        if e["outcome"] == "denied" and len(self.denied) < MAX_LISTED:
            self.denied.append(brief)
        if e["grant_id"] and len(self.break_glass) < MAX_LISTED:
            self.break_glass.append({**brief, "grant_id": e["grant_id"]})
        if (
            e["outcome"] == "allowed"
            and e["actor_user_id"] is not None
            and e["auth_method"] not in SYSTEM_METHODS
        ):
            key = f"{e['actor_user_id']}/{e['actor_membership_id']}"
            person = self.people.setdefault(
                key,
                {
                    "user_id": e["actor_user_id"],
                    "username": e["actor_username"],
                    "membership_id": e["actor_membership_id"],
                    "roles": [],
                    "grant_id": e["grant_id"],
                    "events": 0,
                    "first": e["occurred_at"],
                    "last": e["occurred_at"],
                },
            )
            person["events"] += 1
            person["last"] = max(person["last"], e["occurred_at"])
            person["first"] = min(person["first"], e["occurred_at"])
            if e["actor_role"] not in person["roles"]:
                person["roles"].append(e["actor_role"])

    def as_dict(self, period: dict[str, Any]) -> dict[str, Any]:
        return {
            "period": period,
            "events": self.events,
            "by_actor": dict(sorted(self.by_actor.items())),
            "by_action": dict(sorted(self.by_action.items())),
            "by_outcome": dict(sorted(self.by_outcome.items())),
            "denied": self.denied,
            "people": sorted(self.people.values(), key=lambda p: (p["username"], p["first"])),
            "break_glass_events": self.break_glass,
        }


def _sealed_rows(tenant_id: uuid.UUID, size: int) -> Any:
    after = 0
    while after < size:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT s.seq, s.content_hash, s.chain_hash, {EVENT_COLUMNS} "
                "FROM tenants_accessseal s JOIN tenants_accessevent e "
                "ON e.tenant_id = s.tenant_id AND e.id = s.event_id "
                "WHERE s.tenant_id = %s AND s.seq > %s AND s.seq <= %s ORDER BY s.seq LIMIT %s",
                [tenant_id, after, size, BATCH],
            )
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def bundle_write(
    *,
    tenant_id: uuid.UUID,
    period_from: datetime,
    period_to: datetime,
    out: IO[bytes],
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write the bundle of the tenant's sealed log for ``[period_from, period_to)`` to ``out``
    (inside the tenant's context). Returns the manifest."""
    tenant = Tenant.objects.get(id=tenant_id)
    final = AuditCheckpoint.objects.order_by("-size", "-id").first()
    checkpoints = list(AuditCheckpoint.objects.order_by("size", "id"))
    size = final.size if final else 0
    lo, hi = iso(period_from), iso(period_to)
    assert lo is not None and hi is not None
    report = Report()
    key_ids = {c.key_id for c in checkpoints}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("events.jsonl", "w", force_zip64=True) as handle:
            done = 0
            for rows in _sealed_rows(tenant_id, size):
                lines = []
                for seq, content, chain, _event_id, *row in rows:
                    record = event_record(tenant_id, seq, tuple(row))
                    line: dict[str, Any] = {
                        "seq": seq,
                        "hash": bytes(content).hex(),
                        "chain": bytes(chain).hex(),
                    }
                    if lo <= record["occurred_at"] < hi:
                        line["event"] = record
                        report.add(record)
                    else:
                        line["elided"] = True
                    lines.append(canonical_json(line))
                handle.write(b"\n".join(lines) + b"\n")
                done += len(rows)
                if progress:
                    progress(done, size)
        members = membership_records(tenant_id)
        if final is not None:
            members = members[: final.members_size]
        zf.writestr("memberships.jsonl", b"".join(canonical_json(m) + b"\n" for m in members))
        zf.writestr(
            "checkpoints.jsonl",
            b"".join(
                canonical_json({"payload": c.payload, "signature": c.signature}) + b"\n"
                for c in checkpoints
            ),
        )
        platform = platform_proof_for(tenant_id, {c.payload for c in checkpoints})
        if platform is not None:
            key_ids.add(json.loads(platform["payload"])["key_id"])
            zf.writestr("platform.json", canonical_json(platform))
        keys = {k.key_id: k.public_key for k in SigningKey.objects.filter(key_id__in=key_ids)}
        zf.writestr("keys.json", canonical_json(keys))
        grants = [
            {
                "grant_id": uid(g.id),
                "operator_user_id": g.operator_id,
                "operator_username": g.operator.username,
                "role": g.role,
                "reason": g.reason,
                "minutes": g.minutes,
                "state": g.state,
                "requested_at": iso(g.requested_at),
                "decided_by_user_id": g.decided_by_id,
                "decided_at": iso(g.decided_at),
                "expires_at": iso(g.expires_at),
                "membership_id": uid(g.membership_id),
            }
            for g in OperatorGrant.objects.select_related("operator").order_by("requested_at")
        ]
        zf.writestr("grants.jsonl", b"".join(canonical_json(g) + b"\n" for g in grants))
        period = {"from": lo, "to": hi}
        zf.writestr("report.json", canonical_json(report.as_dict(period)))
        manifest = {
            "format": FORMAT,
            "tenant": {"id": uid(tenant.id), "slug": tenant.slug},
            "period": period,
            "generated_at": iso(timezone.now()),
            "size": size,
            "members_size": len(members),
            "events_in_period": report.events,
            "platform_checkpoint": platform is not None,
        }
        zf.writestr("manifest.json", canonical_json(manifest))
    return manifest


class _Progress:
    """Progress through the ``progress`` connection: visible while the export runs."""

    def __init__(self, tenant_id: uuid.UUID, export_id: uuid.UUID) -> None:
        self.tenant_id, self.export_id = tenant_id, export_id
        self._last = 0.0

    def write(self, **fields: Any) -> None:
        with tenant_context(self.tenant_id, using="progress"):
            AuditExport.objects.using("progress").filter(id=self.export_id).update(**fields)
        self._last = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if time.monotonic() - self._last > 0.5:
            self.write(events_processed=done, events_total=total)


# Advisory lock class of audit exports (two-int4 key form; project exports use "EXPT").
LOCK_CLASS = 0x41554454  # "AUDT"


def audit_export_run(*, tenant_id: uuid.UUID, export_id: uuid.UUID, actor: Actor) -> str:
    """Seal the tenant's log, then write the bundle for the export's period into the tenant's
    storage. The export is logged (``audit.export.run``) in the transaction that finishes it.

    One run per export at a time: a second delivery of the task while the first still runs
    (a broker redelivery of a long export) answers "busy" instead of writing the same bundle
    beside it, which could leave the row's checksum describing the other run's file. The lock
    belongs to the database session, so a killed worker's lock ends with its connection."""
    key = zlib.crc32(uuid.UUID(str(export_id)).bytes) - 2**31
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [LOCK_CLASS, key])
        if not cursor.fetchone()[0]:
            return "busy"
    try:
        return _audit_export_run(tenant_id=tenant_id, export_id=export_id, actor=actor)
    finally:
        # A lost connection has lost its lock too: nothing to undo then.
        with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_CLASS, key])


def _audit_export_run(*, tenant_id: uuid.UUID, export_id: uuid.UUID, actor: Actor) -> str:
    with tenant_context(tenant_id):
        job = AuditExport.objects.get(id=export_id)
        if job.state in (AuditExport.State.SUCCEEDED, AuditExport.State.FAILED):
            return job.state
    progress = _Progress(tenant_id, export_id)
    progress.write(state=AuditExport.State.RUNNING, events_processed=0)
    try:
        audit_seal_tenant(tenant_id=tenant_id)
        with tenant_context(tenant_id):
            storage = TenantStorage(tenant_id)
            name = f"audit-exports/{export_id}/bundle.zip"
            with storage.open_writer(name, "application/zip") as w:
                manifest = bundle_write(
                    tenant_id=tenant_id,
                    period_from=job.period_from,
                    period_to=job.period_to,
                    out=_WriteOnly(w),
                    progress=progress,
                )
            assert w.ref is not None
            AuditExport.objects.filter(id=export_id).update(
                state=AuditExport.State.SUCCEEDED,
                finished_at=timezone.now(),
                blob_key=w.ref.key,
                size=w.ref.size,
                sha256=w.ref.sha256,
                events_total=manifest["size"],
                events_processed=manifest["size"],
            )
            audit_record(
                tenant_id=tenant_id,
                actor=actor,
                action="audit.export.run",
                resource_type="audit_export",
                resource_id=export_id,
                detail={
                    "size": manifest["size"],
                    "events_in_period": manifest["events_in_period"],
                    "sha256": w.ref.sha256,
                },
            )
        return AuditExport.State.SUCCEEDED
    except Exception as exc:
        logger.exception("audit export %s failed", export_id)
        with contextlib.suppress(Exception), tenant_context(tenant_id):
            AuditExport.objects.filter(id=export_id).update(
                state=AuditExport.State.FAILED,
                finished_at=timezone.now(),
                error=f"internal error: {type(exc).__name__}"[:500],
            )
            audit_record(
                tenant_id=tenant_id,
                actor=actor,
                action="audit.export.run",
                resource_type="audit_export",
                resource_id=export_id,
                outcome="failed",
                reason="internal error while writing the bundle",
            )
        raise


class _WriteOnly:
    """A blob writer as a stream zipfile accepts (no seek, no tell: it writes data
    descriptors instead of seeking back)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def write(self, data: bytes) -> int:
        self._inner.write(data)
        return len(data)

    def flush(self) -> None:
        pass
