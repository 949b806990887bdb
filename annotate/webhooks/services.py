"""Webhooks: manage them, emit events into them, deliver (signed, retried, logged).

Delivery is at least once: a receiver may see the same delivery twice (a worker lost between
sending and recording) and should deduplicate by ``X-Annotate-Delivery``. See docs/webhooks.md.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from annotate.models import Project
from annotate.webhooks import sender, targets
from annotate.webhooks.models import EVENTS, PING_EVENT, Webhook, WebhookDelivery
from annotate.webhooks.signing import (
    SecretUnavailable,
    secret_generate,
    secret_open,
    secret_seal,
    signature,
)
from annotate.webhooks.tasks import webhook_deliver_task
from tenants.audit import Actor, audit_record
from tenants.ids import uuid7
from tenants.models import AccessEvent, Membership, Tenant
from tenants.scoping import CrossTenantWrite, require_tenant_id, tenant_context

__all__ = ["EVENTS", "webhook_emit"]

logger = logging.getLogger(__name__)
State = WebhookDelivery.State
USER_AGENT = "Annotate-Webhooks/1"
# Extra time, beyond the network timeouts, before an attempt that never reported back is
# considered lost (its worker died) and the sweeper or a redelivered task takes it over.
SENDING_GRACE = timedelta(seconds=30)
# How late a pending delivery may be before the sweeper re-enqueues it (its message was lost).
OVERDUE = timedelta(seconds=60)
SWEEP_BATCH = 1000


# -- managing webhooks --------------------------------------------------------------------------


def _check_events(events: Iterable[str]) -> list[str]:
    events = list(events)
    unknown = [e for e in events if e not in EVENTS]
    if unknown or not events:
        raise ValidationError({"events": [f"choose one or more of: {', '.join(EVENTS)}"]})
    return sorted(set(events), key=EVENTS.index)


def _check_url(url: str) -> str:
    try:
        targets.check_url(url)
    except targets.TargetRefused as exc:
        raise ValidationError({"url": [str(exc)]}) from None
    return url


@transaction.atomic
def webhook_create(
    *,
    membership: Membership,
    url: str,
    events: Iterable[str],
    project: Project | None = None,
    description: str = "",
    active: bool = True,
) -> tuple[Webhook, str]:
    """Create a webhook; returns it and its signing secret, the only time the secret is shown.

    Raises ``ValidationError`` naming the field: an unknown event, a URL that is malformed or
    whose host is (or resolves to) a non-public address, or the tenant's webhook limit.
    """
    tenant_id = require_tenant_id()
    assert membership.tenant_id == tenant_id, "membership of another tenant"
    assert project is None or project.tenant_id == tenant_id, "project of another tenant"
    events = _check_events(events)
    _check_url(url)
    if Webhook.objects.count() >= settings.WEBHOOK_MAX_PER_TENANT:
        raise ValidationError(
            {
                "url": [
                    f"this tenant has {settings.WEBHOOK_MAX_PER_TENANT} webhooks, the limit "
                    "(WEBHOOK_MAX_PER_TENANT); delete one first"
                ]
            }
        )
    webhook = Webhook(
        id=uuid7(),
        tenant_id=tenant_id,
        project=project,
        url=url,
        description=description,
        events=events,
        active=active,
        created_by_id=membership.user_id,
    )
    secret = secret_generate()
    webhook.secret_key_id, webhook.secret_sealed = secret_seal(
        tenant_id=tenant_id, webhook_id=webhook.id, secret=secret
    )
    webhook.save(force_insert=True)
    return webhook, secret


@transaction.atomic
def webhook_update(*, webhook: Webhook, changes: dict[str, Any]) -> tuple[Webhook, str | None]:
    """Change url, events, description, active; ``rotate_secret=True`` issues a new secret
    (returned, shown once; the old one stops signing at once). Returns (webhook, new secret)."""
    changes = dict(changes)
    new_secret = None
    if "events" in changes:
        changes["events"] = _check_events(changes["events"])
    if "url" in changes:
        _check_url(changes["url"])
    if changes.pop("rotate_secret", False):
        new_secret = secret_generate()
        changes["secret_key_id"], changes["secret_sealed"] = secret_seal(
            tenant_id=webhook.tenant_id, webhook_id=webhook.id, secret=new_secret
        )
    allowed = {"url", "events", "description", "active", "secret_key_id", "secret_sealed"}
    assert set(changes) <= allowed, f"unexpected changes {set(changes) - allowed}"
    for name, value in changes.items():
        setattr(webhook, name, value)
    webhook.updated_at = timezone.now()
    webhook.save(update_fields=[*changes, "updated_at"])
    return webhook, new_secret


def webhook_delete(*, webhook: Webhook) -> None:
    """Delete the webhook and its delivery log; deliveries still queued are dropped."""
    WebhookDelivery.objects.filter(webhook=webhook).delete()
    webhook.delete()


# -- emitting events ----------------------------------------------------------------------------


def webhook_emit(
    *, tenant_id: uuid.UUID, event: str, project_id: uuid.UUID | None, payload: dict[str, Any]
) -> int:
    """Inside the caller's transaction and tenant context: create a delivery row for each
    active webhook of the tenant subscribed to ``event`` (tenant-wide ones and those of
    ``project_id``), and enqueue their delivery with ``transaction.on_commit``. Returns the
    number of deliveries created.

    Cheap when the tenant has no webhooks (it runs on every item completion): one query on a
    small partial index. ``payload`` becomes the ``data`` of the body; UUIDs and datetimes in
    it are serialised as strings. The deliveries share the caller's fate: rolled back, nothing
    is sent.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}; one of {', '.join(EVENTS)}")
    if require_tenant_id() != tenant_id:
        raise CrossTenantWrite(f"webhook_emit for tenant {tenant_id} in another tenant's context")
    # Raw SQL: this runs on every completed item, and the ORM's compilation of the same query
    # cost more than the query (tenant filter as the scoped manager's, RLS besides).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM webhooks_webhook WHERE tenant_id = %s AND active "
            "AND events @> ARRAY[%s]::varchar[] AND (project_id IS NULL OR project_id = %s)",
            [tenant_id, event, project_id],
        )
        webhook_ids = [row[0] for row in cursor.fetchall()]
    if not webhook_ids:
        return 0
    return len(_deliveries_create(tenant_id, webhook_ids, event, project_id, payload))


def webhook_ping(*, webhook: Webhook) -> WebhookDelivery:
    """Queue a ``webhook.ping`` delivery to the webhook (active or not), to test a receiver."""
    data = {"webhook_id": str(webhook.id), "message": "ping from Annotate"}
    return _deliveries_create(
        webhook.tenant_id, [webhook.id], PING_EVENT, webhook.project_id, data
    )[0]


def _deliveries_create(
    tenant_id: uuid.UUID,
    webhook_ids: list[uuid.UUID],
    event: str,
    project_id: uuid.UUID | None,
    payload: dict[str, Any],
) -> list[WebhookDelivery]:
    data = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    slug = Tenant.objects.values_list("slug", flat=True).get(id=tenant_id)
    now = timezone.now()
    rows = []
    for webhook_id in webhook_ids:
        delivery_id = uuid7()
        body = {
            "id": str(delivery_id),
            "event": event,
            "created_at": now.isoformat().replace("+00:00", "Z"),
            "tenant": slug,
            "project_id": None if project_id is None else str(project_id),
            "data": data,
        }
        rows.append(
            WebhookDelivery(
                id=delivery_id,
                tenant_id=tenant_id,
                webhook_id=webhook_id,
                event=event,
                payload=body,
                next_attempt_at=now,
                created_at=now,
            )
        )
    WebhookDelivery.objects.bulk_create(rows)
    ids = [str(r.id) for r in rows]
    # robust: a broker outage must not fail the caller's committed work; the sweeper finds
    # deliveries whose message never left.
    transaction.on_commit(lambda: _enqueue(tenant_id, ids), robust=True)
    return rows


def _enqueue(tenant_id: uuid.UUID, delivery_ids: list[str], countdown: float = 0) -> None:
    for delivery_id in delivery_ids:
        webhook_deliver_task.apply_async((str(tenant_id), delivery_id), countdown=countdown)


# -- delivering ---------------------------------------------------------------------------------


def retry_delay(attempts_made: int) -> int:
    """Seconds to wait after ``attempts_made`` failed attempts: base x 2^(n-1), capped."""
    exponent = min(max(attempts_made - 1, 0), 30)
    delay = settings.WEBHOOK_RETRY_BASE_SECONDS * 2**exponent
    return int(min(delay, settings.WEBHOOK_RETRY_MAX_SECONDS))


@dataclass(frozen=True)
class _Claim:
    attempt: int
    target: targets.Target
    addresses: list[targets.IPAddress]
    body: bytes
    headers: dict[str, str]


def delivery_attempt(*, tenant_id: uuid.UUID, delivery_id: uuid.UUID, actor: Actor) -> str:
    """Make one attempt of a delivery, if it is due and nobody else is making it. Returns the
    delivery's state afterwards (or why nothing was done).

    Three steps, so that no database transaction stays open while a remote server is slow:
    claim (check the target after a fresh DNS resolution, mark the attempt, write its access
    event: the event exists before any byte leaves), send to the checked address, record the
    result (delivered, retry later with backoff, or failed).
    """
    with tenant_context(tenant_id):
        claim = _claim(tenant_id, delivery_id, actor)
    if not isinstance(claim, _Claim):
        return claim
    result = sender.send(
        target=claim.target,
        addresses=claim.addresses,
        body=claim.body,
        headers=claim.headers,
        connect_timeout=settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS,
        read_timeout=settings.WEBHOOK_READ_TIMEOUT_SECONDS,
    )
    with tenant_context(tenant_id):
        return _record(delivery_id, claim.attempt, result)


def _claim(tenant_id: uuid.UUID, delivery_id: uuid.UUID, actor: Actor) -> _Claim | str:
    now = timezone.now()
    delivery = (
        WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("webhook")
        .filter(id=delivery_id)
        .first()
    )
    if delivery is None:
        return "skipped"  # gone (webhook deleted), or another worker holds it right now
    if delivery.state == State.SENDING and delivery.sending_until and delivery.sending_until < now:
        # The previous attempt never reported back: its worker died mid-send.
        delivery.last_error = "the attempt was interrupted (worker lost); retrying"
        if not _schedule_retry(delivery, now, enqueue=False):
            delivery.save()
            return delivery.state
    elif delivery.state != State.PENDING:
        return delivery.state
    elif delivery.next_attempt_at > now + timedelta(seconds=1):
        return "not due"  # an early duplicate message; the scheduled one will come
    webhook = delivery.webhook
    if not webhook.active and delivery.event != PING_EVENT:
        _finish(delivery, State.CANCELLED, now, "the webhook was deactivated")
        delivery.save()
        return delivery.state

    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = None
    delivery.last_duration_ms = None
    detail: dict[str, Any] = {
        "webhook": str(webhook.id),
        "event": delivery.event,
        "attempt": delivery.attempts,
    }
    try:
        target = targets.parse_url(webhook.url)
        detail["host"] = target.host
        addresses = targets.resolve_checked(target)
        secret = secret_open(
            tenant_id=tenant_id,
            webhook_id=webhook.id,
            key_id=webhook.secret_key_id,
            sealed=bytes(webhook.secret_sealed),
        )
    except targets.TargetRefused as exc:
        # Refused now although accepted at creation: the DNS answer changed. Final.
        _finish(delivery, State.FAILED, now, f"refused: {exc}")
        _audit_attempt(delivery, actor, detail, AccessEvent.Outcome.DENIED, f"refused: {exc}")
        delivery.save()
        return delivery.state
    except (targets.TargetUnresolvable, SecretUnavailable) as exc:
        delivery.last_error = str(exc)
        if isinstance(exc, SecretUnavailable):
            _finish(delivery, State.FAILED, now, str(exc))
        else:
            _schedule_retry(delivery, now)
        _audit_attempt(delivery, actor, detail, AccessEvent.Outcome.FAILED, str(exc))
        delivery.save()
        return delivery.state

    body = json.dumps(
        delivery.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    timestamp = int(time.time())
    headers = {
        "Host": target.host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Annotate-Event": delivery.event,
        "X-Annotate-Delivery": str(delivery.id),
        "X-Annotate-Attempt": str(delivery.attempts),
        "X-Annotate-Timestamp": str(timestamp),
        "X-Annotate-Signature": signature(secret, timestamp, body),
    }
    budget = (
        settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS * len(addresses)
        + settings.WEBHOOK_READ_TIMEOUT_SECONDS * 3
    )
    delivery.state = State.SENDING
    delivery.sending_until = now + timedelta(seconds=budget) + SENDING_GRACE
    detail.update(address=str(addresses[0]), bytes=len(body))
    _audit_attempt(delivery, actor, detail, AccessEvent.Outcome.ALLOWED, "")
    delivery.save()
    return _Claim(delivery.attempts, target, addresses, body, headers)


def _record(delivery_id: uuid.UUID, attempt: int, result: sender.SendResult) -> str:
    now = timezone.now()
    delivery = (
        WebhookDelivery.objects.select_for_update()
        .filter(id=delivery_id, state=State.SENDING, attempts=attempt)
        .first()
    )
    if delivery is None:
        return "superseded"  # deleted, or declared lost and taken over meanwhile
    delivery.last_status_code = result.status_code
    delivery.last_duration_ms = result.duration_ms
    delivery.sending_until = None
    if result.delivered:
        _finish(delivery, State.DELIVERED, now, "")
    elif result.retryable:
        delivery.last_error = result.error[:500]
        _schedule_retry(delivery, now)
    else:
        _finish(delivery, State.FAILED, now, result.error)
    delivery.save()
    return delivery.state


def _finish(delivery: WebhookDelivery, state: str, now: datetime, error: str) -> None:
    delivery.state = state
    delivery.finished_at = now
    delivery.sending_until = None
    delivery.last_error = error[:500]


def _schedule_retry(delivery: WebhookDelivery, now: datetime, *, enqueue: bool = True) -> bool:
    """Pending again after a backoff, or failed when the attempts are used up. Returns whether
    another attempt will come."""
    if delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        error = f"{delivery.last_error} (gave up after {delivery.attempts} attempts)"
        _finish(delivery, State.FAILED, now, error)
        return False
    delay = retry_delay(delivery.attempts)
    delivery.state = State.PENDING
    delivery.sending_until = None
    delivery.next_attempt_at = now + timedelta(seconds=delay)
    if enqueue:
        tenant_id, ids = delivery.tenant_id, [str(delivery.id)]
        transaction.on_commit(lambda: _enqueue(tenant_id, ids, countdown=delay), robust=True)
    return True


def _audit_attempt(
    delivery: WebhookDelivery, actor: Actor, detail: dict[str, Any], outcome: str, reason: str
) -> None:
    audit_record(
        tenant_id=delivery.tenant_id,
        actor=actor,
        action="webhook.deliver",
        resource_type="webhook_delivery",
        resource_id=delivery.id,
        outcome=outcome,
        reason=reason,
        detail=detail,
    )


# -- housekeeping -------------------------------------------------------------------------------


def deliveries_sweep(*, tenant_id: uuid.UUID, actor: Actor) -> dict[str, int]:
    """Re-enqueue deliveries whose message was lost or whose attempt never reported back, and
    prune finished deliveries older than ``WEBHOOK_DELIVERY_RETENTION_DAYS``. Run by beat for
    each tenant; cheap when there is nothing to do (two probes of a partial index)."""
    now = timezone.now()
    with tenant_context(tenant_id):
        owed = WebhookDelivery.objects.filter(state__in=[State.PENDING, State.SENDING])
        overdue = list(
            owed.filter(state=State.PENDING, next_attempt_at__lt=now - OVERDUE).values_list(
                "id", flat=True
            )[:SWEEP_BATCH]
        )
        lost = list(
            owed.filter(state=State.SENDING, sending_until__lt=now).values_list("id", flat=True)[
                :SWEEP_BATCH
            ]
        )
        cutoff = now - timedelta(days=settings.WEBHOOK_DELIVERY_RETENTION_DAYS)
        pruned, _ = WebhookDelivery.objects.filter(
            state__in=[State.DELIVERED, State.FAILED, State.CANCELLED],
            id__lt=_uuid7_floor(cutoff),  # ids are time-ordered: the primary key index serves
        ).delete()
        counts = {"requeued": len(overdue) + len(lost), "pruned": pruned}
        if any(counts.values()):
            audit_record(
                tenant_id=tenant_id,
                actor=actor,
                action="webhook.sweep",
                resource_type="webhook_delivery",
                detail=counts,
            )
            ids = [str(i) for i in overdue + lost]
            transaction.on_commit(lambda: _enqueue(tenant_id, ids), robust=True)
    return counts


def _uuid7_floor(moment: datetime) -> uuid.UUID:
    """The smallest UUIDv7 of ``moment``'s millisecond: ids below it are older."""
    ms = int(moment.timestamp() * 1000)
    return uuid.UUID(int=(ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | 0b10 << 62)
