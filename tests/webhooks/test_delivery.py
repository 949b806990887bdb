"""Delivery, in process, against a real HTTP receiver on 127.0.0.1: signature, retries with
backoff, final failures, the address wall at delivery time (DNS rebinding), the sweeper."""

from __future__ import annotations

import json
import socket
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from annotate.webhooks import services, targets
from annotate.webhooks.models import Webhook, WebhookDelivery
from annotate.webhooks.services import (
    deliveries_sweep,
    delivery_attempt,
    retry_delay,
    webhook_create,
    webhook_emit,
    webhook_ping,
    webhook_update,
)
from tenants.audit import Actor
from tenants.models import AccessEvent
from tenants.scoping import tenant_context
from tests.conftest import World, build_world
from tests.webhooks.conftest import Receiver

ACTOR = Actor.for_task("annotate.webhooks.tasks.webhook_deliver", "test-task-id")


@pytest.fixture
def w(committed: None, allow_loopback: None) -> World:
    return build_world()


@pytest.fixture
def enqueued(monkeypatch: Any) -> list[tuple[list[str], float]]:
    """Messages the services would send to the broker (no worker runs in these tests)."""
    calls: list[tuple[list[str], float]] = []
    monkeypatch.setattr(
        services, "_enqueue", lambda tenant_id, ids, countdown=0: calls.append((ids, countdown))
    )
    return calls


def _hook(w: World, receiver: Receiver, url: str | None = None, **kwargs: Any) -> Webhook:
    with tenant_context(w.a.id):
        webhook, secret = webhook_create(
            membership=w.m("a", "manager"),
            url=url or receiver.url(),
            events=kwargs.pop("events", ["item.completed"]),
            **kwargs,
        )
    receiver.secret = secret
    return webhook


def _emit(w: World, **data: Any) -> WebhookDelivery:
    with tenant_context(w.a.id):
        assert webhook_emit(
            tenant_id=w.a.id,
            event="item.completed",
            project_id=w.project_a.id,
            payload={"item_id": str(uuid.uuid4()), **data},
        )
        return WebhookDelivery.objects.order_by("-id").first()


def _attempt(w: World, delivery: WebhookDelivery) -> str:
    return delivery_attempt(tenant_id=w.a.id, delivery_id=delivery.id, actor=ACTOR)


def _reload(w: World, delivery: WebhookDelivery) -> WebhookDelivery:
    with tenant_context(w.a.id):
        return WebhookDelivery.objects.get(id=delivery.id)


def _make_due(w: World, delivery: WebhookDelivery) -> None:
    with tenant_context(w.a.id):
        WebhookDelivery.objects.filter(id=delivery.id).update(next_attempt_at=timezone.now())


def _deliver_events(w: World) -> list[AccessEvent]:
    with tenant_context(w.a.id):
        return list(AccessEvent.objects.filter(action="webhook.deliver").order_by("id"))


def test_a_delivery_is_signed_and_its_attempt_logged(
    w: World, receiver: Receiver, enqueued: list
) -> None:
    _hook(w, receiver)
    delivery = _emit(w, text="hello")

    assert _attempt(w, delivery) == "delivered"

    (got,) = receiver.received
    assert got.signature_valid
    assert got.path == "/hook"
    assert json.loads(got.body) == delivery.payload
    assert (
        got.body
        == json.dumps(
            delivery.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    )
    assert got.headers["X-Annotate-Event"] == "item.completed"
    assert got.headers["X-Annotate-Delivery"] == str(delivery.id)
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["Host"] == f"127.0.0.1:{receiver.port}"
    done = _reload(w, delivery)
    assert (done.state, done.attempts, done.last_status_code, done.last_error) == (
        "delivered",
        1,
        200,
        "",
    )
    assert done.finished_at is not None and done.last_duration_ms is not None
    (event,) = _deliver_events(w)
    assert (event.outcome, event.resource_type, event.resource_id) == (
        "allowed",
        "webhook_delivery",
        str(delivery.id),
    )
    assert event.actor_username == "task:annotate.webhooks.tasks.webhook_deliver"
    assert event.detail["address"] == "127.0.0.1" and event.detail["attempt"] == 1
    # Done is done: a duplicate message changes nothing and sends nothing.
    assert _attempt(w, delivery) == "delivered"
    assert len(receiver.received) == 1


def test_5xx_is_retried_with_exponential_backoff_then_given_up(
    w: World, receiver: Receiver, enqueued: list, settings: Any
) -> None:
    settings.WEBHOOK_RETRY_BASE_SECONDS = 10
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver.statuses = [500, 503, 502]
    _hook(w, receiver)
    delivery = _emit(w)

    delays = []
    for attempt in (1, 2, 3):
        before = timezone.now()
        state = _attempt(w, delivery)
        row = _reload(w, delivery)
        assert row.attempts == attempt
        if attempt < 3:
            assert state == "pending"
            delay = (row.next_attempt_at - before).total_seconds()
            delays.append(round(delay))
            assert enqueued[-1] == ([str(delivery.id)], retry_delay(attempt))
            # Not due yet: an early duplicate message sends nothing.
            assert _attempt(w, delivery) == "not due"
            _make_due(w, delivery)
    assert delays == [10, 20]
    assert (row.state, row.last_status_code) == ("failed", 502)
    assert row.last_error == "HTTP 502: status 502 (gave up after 3 attempts)"
    assert len(receiver.received) == 3 and all(r.signature_valid for r in receiver.received)
    assert [e.detail["attempt"] for e in _deliver_events(w)] == [1, 2, 3]


def test_the_retry_schedule_doubles_and_is_capped(settings: Any) -> None:
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30
    settings.WEBHOOK_RETRY_MAX_SECONDS = 3600
    assert [retry_delay(n) for n in range(1, 10)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]


@pytest.mark.parametrize(
    ("status", "state", "retried"),
    [
        (400, "failed", False),
        (404, "failed", False),
        (410, "failed", False),
        (429, "pending", True),
    ],
)
def test_4xx_is_final_except_throttling(
    w: World, receiver: Receiver, enqueued: list, status: int, state: str, retried: bool
) -> None:
    receiver.statuses = [status]
    _hook(w, receiver)
    delivery = _emit(w)
    assert _attempt(w, delivery) == state
    assert _reload(w, delivery).last_status_code == status
    assert any(countdown > 0 for _, countdown in enqueued) == retried


def test_redirects_are_not_followed(w: World, receiver: Receiver, enqueued: list) -> None:
    receiver.statuses = [302]
    receiver.headers_out = {"Location": f"http://127.0.0.1:{receiver.port}/elsewhere"}
    _hook(w, receiver)
    delivery = _emit(w)
    assert _attempt(w, delivery) == "failed"
    row = _reload(w, delivery)
    assert "redirects are not followed" in row.last_error
    assert [r.path for r in receiver.received] == ["/hook"]


def test_a_slow_or_absent_receiver_is_retried(
    w: World, receiver: Receiver, enqueued: list, settings: Any
) -> None:
    settings.WEBHOOK_READ_TIMEOUT_SECONDS = 1
    receiver.delay = 2.5
    _hook(w, receiver)
    delivery = _emit(w)
    assert _attempt(w, delivery) == "pending"
    assert "timed out after 1 s" in _reload(w, delivery).last_error

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with tenant_context(w.a.id):
        WebhookDelivery.objects.all().delete()
        Webhook.objects.all().delete()
    _hook(w, receiver, url=f"http://127.0.0.1:{closed}/hook")
    delivery = _emit(w)
    assert _attempt(w, delivery) == "pending"
    assert _reload(w, delivery).last_error == "connection refused"


def test_a_target_refused_at_delivery_time_gets_nothing(
    w: World, receiver: Receiver, enqueued: list, settings: Any
) -> None:
    _hook(w, receiver)  # accepted while the operator allowed loopback
    delivery = _emit(w)
    settings.WEBHOOK_ALLOWED_NETWORKS = []  # ...and no longer

    assert _attempt(w, delivery) == "failed"

    assert receiver.received == []
    row = _reload(w, delivery)
    assert row.last_error.startswith("refused: the host is a loopback address")
    assert all(countdown == 0 for _, countdown in enqueued)  # final: no retry
    (event,) = _deliver_events(w)
    assert event.outcome == "denied"
    assert event.reason.startswith("refused: the host is a loopback address")


def test_dns_rebinding_to_a_private_address_is_refused(
    w: World, receiver: Receiver, enqueued: list, settings: Any, monkeypatch: Any
) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    answers = {"hooks.customer.example": ["93.184.216.34"]}
    monkeypatch.setattr(targets, "resolve", lambda host, port: answers[host])
    _hook(w, receiver, url=f"http://hooks.customer.example:{receiver.port}/hook")
    delivery = _emit(w)
    answers["hooks.customer.example"] = ["93.184.216.34", "127.0.0.1"]  # the rebinding answer

    assert _attempt(w, delivery) == "failed"
    assert receiver.received == []
    assert "resolves to a loopback address" in _reload(w, delivery).last_error


def test_delivery_connects_to_the_checked_address_without_resolving_again(
    w: World, receiver: Receiver, enqueued: list, monkeypatch: Any
) -> None:
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(targets, "resolve", resolve)
    real_getaddrinfo = socket.getaddrinfo

    def numeric_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "127.0.0.1":
            pytest.fail(f"{host!r} was resolved outside the check")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", numeric_only)
    _hook(w, receiver, url=f"http://hooks.customer.example:{receiver.port}/in?x=1")
    delivery = _emit(w)
    calls.clear()

    assert _attempt(w, delivery) == "delivered"
    assert calls == ["hooks.customer.example"]  # one resolution, checked, then used
    (got,) = receiver.received
    assert got.headers["Host"] == f"hooks.customer.example:{receiver.port}"
    assert got.path == "/in?x=1" and got.signature_valid


def test_deactivated_webhooks_cancel_their_queue_but_ping_still_goes(
    w: World, receiver: Receiver, enqueued: list
) -> None:
    webhook = _hook(w, receiver)
    delivery = _emit(w)
    with tenant_context(w.a.id):
        webhook_update(webhook=webhook, changes={"active": False})
        ping = webhook_ping(webhook=webhook)
    assert _attempt(w, delivery) == "cancelled"
    assert _attempt(w, ping) == "delivered"
    (got,) = receiver.received
    assert got.headers["X-Annotate-Event"] == "webhook.ping" and got.signature_valid


def test_a_rotated_secret_signs_from_the_next_attempt(
    w: World, receiver: Receiver, enqueued: list
) -> None:
    webhook = _hook(w, receiver)
    delivery = _emit(w)
    with tenant_context(w.a.id):
        _, new_secret = webhook_update(webhook=webhook, changes={"rotate_secret": True})
    old = receiver.secret
    # The receiver still checks the old secret: 401, which is retried (a rotation takes a
    # moment to reach every receiver).
    assert _attempt(w, delivery) == "pending"
    assert receiver.received[-1].signature_valid is False
    receiver.secret = new_secret
    _make_due(w, delivery)
    assert _attempt(w, delivery) == "delivered"
    assert new_secret != old


def test_the_sweeper_recovers_lost_attempts_and_messages_and_prunes_old_deliveries(
    w: World, receiver: Receiver, enqueued: list, settings: Any
) -> None:
    _hook(w, receiver)
    lost, overdue, fresh = _emit(w), _emit(w), _emit(w)
    now = timezone.now()
    old_id = uuid.UUID(int=(int((now - timedelta(days=40)).timestamp() * 1000) << 80) | 7 << 76)
    with tenant_context(w.a.id):
        WebhookDelivery.objects.filter(id=lost.id).update(
            state="sending", attempts=1, sending_until=now - timedelta(seconds=1)
        )
        WebhookDelivery.objects.filter(id=overdue.id).update(
            next_attempt_at=now - timedelta(minutes=5)
        )
        WebhookDelivery.objects.create(
            id=old_id,
            webhook_id=lost.webhook_id,
            event="item.completed",
            payload={},
            state="delivered",
        )
    enqueued.clear()

    counts = deliveries_sweep(tenant_id=w.a.id, actor=ACTOR)

    assert counts == {"requeued": 2, "pruned": 1}
    assert sorted(enqueued[0][0]) == sorted([str(lost.id), str(overdue.id)])
    assert str(fresh.id) not in enqueued[0][0]
    assert _attempt(w, lost) == "delivered"
    row = _reload(w, lost)
    assert row.attempts == 2
    with tenant_context(w.a.id):
        assert not WebhookDelivery.objects.filter(id=old_id).exists()
        sweep = AccessEvent.objects.get(action="webhook.sweep")
    assert sweep.detail == {"requeued": 2, "pruned": 1}
    # Nothing to do: no event.
    enqueued.clear()
    _attempt(w, overdue)
    _attempt(w, fresh)
    assert deliveries_sweep(tenant_id=w.a.id, actor=ACTOR) == {"requeued": 0, "pruned": 0}
    with tenant_context(w.a.id):
        assert AccessEvent.objects.filter(action="webhook.sweep").count() == 1


def test_concurrent_duplicates_of_a_delivery_send_it_once(
    w: World, receiver: Receiver, enqueued: list
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    _hook(w, receiver)
    delivery = _emit(w)
    receiver.delay = 0.5

    def attempt(_: int) -> str:
        try:
            return _attempt(w, delivery)
        finally:
            connection.close()  # each thread has its own connection

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(attempt, range(6)))

    # One made the attempt; the others found it locked (skipped), under way (sending), or, if
    # they came late, already delivered.
    assert "delivered" in results and set(results) <= {"delivered", "sending", "skipped"}
    assert len(receiver.received) == 1
    assert _reload(w, delivery).attempts == 1
