"""End to end with a real Celery worker process, real Redis and PostgreSQL, and a real HTTP
receiver on 127.0.0.1 that verifies every signature (the worker's operator allows 127.0.0.1)."""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from annotate.webhooks.models import WebhookDelivery
from annotate.webhooks.services import webhook_emit
from tenants.models import AccessEvent
from tenants.scoping import tenant_context
from tests.conftest import World, build_world
from tests.webhooks.conftest import Receiver
from tests.workers.conftest import start_celery_worker, stop_celery_worker

pytestmark = pytest.mark.worker


@pytest.fixture
def webhook_worker(committed: None, allow_loopback: None, monkeypatch: Any) -> Iterator[None]:
    from workers.celery import app

    monkeypatch.setenv("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1/32")
    monkeypatch.setenv("WEBHOOK_RETRY_BASE_SECONDS", "1")
    monkeypatch.setenv("WEBHOOK_READ_TIMEOUT_SECONDS", "5")
    app.control.purge()
    proc = start_celery_worker("webhooks", "--pool", "solo")
    try:
        yield
    finally:
        stop_celery_worker(proc)


def _wait(predicate: Any, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time; see var/test-worker-webhooks.log")


def _create(client: Any, receiver: Receiver, events: list[str], **extra: Any) -> dict[str, Any]:
    response = client.post(
        "/api/v1/t/tenant-a/webhooks",
        {"url": receiver.url(), "events": events, **extra},
        format="json",
    )
    assert response.status_code == 201, response.json()
    receiver.secret = response.json()["secret"]
    return response.json()


def test_a_real_worker_delivers_signed_and_backs_off_on_500s(
    webhook_worker: None, receiver: Receiver, token_client: Any, settings: Any
) -> None:
    w: World = build_world()
    client = token_client(w.m("a", "manager"))
    hook = _create(client, receiver, ["item.completed"])
    receiver.statuses = [500, 500]  # then 200
    # A second webhook, accepted here under a wider exception than the worker's operator
    # allows (127.0.0.1/32 only): the worker refuses it at delivery time.
    settings.WEBHOOK_ALLOWED_NETWORKS = [ipaddress.ip_network("127.0.0.0/8")]
    secret = receiver.secret
    refused = _create(client, receiver, ["item.completed"], url=receiver.url(host="127.0.0.2"))
    receiver.secret = secret

    with tenant_context(w.a.id):
        assert webhook_emit(
            tenant_id=w.a.id,
            event="item.completed",
            project_id=w.project_a.id,
            payload={"item_id": "i-1", "text": "a secret item"},
        )
    # Commit: the delivery is enqueued; the worker makes attempt 1 (500), waits ~1 s, attempt 2
    # (500), waits ~2 s, attempt 3 (200).
    got = receiver.wait_for(3, timeout=60)
    assert all(r.signature_valid for r in got)
    assert {r.headers["X-Annotate-Delivery"] for r in got} == {
        got[0].headers["X-Annotate-Delivery"]
    }
    assert [r.headers["X-Annotate-Attempt"] for r in got] == ["1", "2", "3"]
    gaps = [got[1].at - got[0].at, got[2].at - got[1].at]
    assert 0.9 <= gaps[0] < 1.9 + 5 and 1.9 <= gaps[1] < 2 + 5, gaps
    assert got[0].body == got[2].body  # the same bytes on every attempt

    def delivered() -> bool:
        with tenant_context(w.a.id):
            return WebhookDelivery.objects.filter(state="delivered").exists()

    _wait(delivered)
    log = client.get(f"/api/v1/t/tenant-a/webhooks/{hook['id']}/deliveries").json()["results"]
    assert [(d["state"], d["attempts"], d["last_status_code"]) for d in log] == [
        ("delivered", 3, 200)
    ]
    (denied,) = client.get(f"/api/v1/t/tenant-a/webhooks/{refused['id']}/deliveries").json()[
        "results"
    ]
    assert (denied["state"], denied["attempts"], denied["last_status_code"]) == ("failed", 1, None)
    assert denied["last_error"].startswith("refused: the host is a loopback address")
    with tenant_context(w.a.id):
        events = list(AccessEvent.objects.filter(action="webhook.deliver").order_by("id"))
    assert sorted((e.outcome, e.detail["attempt"]) for e in events) == [
        ("allowed", 1),
        ("allowed", 2),
        ("allowed", 3),
        ("denied", 1),
    ]
    assert len(receiver.received) == 3  # nothing came from the refused one
    assert all(e.auth_method == "task" and e.credential_id for e in events)
    with tenant_context(w.b.id):  # nothing of it in the other tenant
        assert not AccessEvent.objects.filter(action="webhook.deliver").exists()


def test_a_finished_import_is_announced(
    webhook_worker: None, receiver: Receiver, token_client: Any
) -> None:
    w: World = build_world()
    client = token_client(w.m("a", "manager"))
    _create(client, receiver, ["import.finished"], project=str(w.project_a.id))
    imports = f"/api/v1/t/tenant-a/projects/{w.project_a.id}/imports"

    ok = client.post(imports, {"items": [{"text": "one"}, {"text": "two"}]}, format="json")
    assert ok.status_code == 202, ok.json()
    (got,) = receiver.wait_for(1, timeout=60)
    body = json.loads(got.body)
    assert got.signature_valid and got.headers["X-Annotate-Event"] == "import.finished"
    assert body["project_id"] == str(w.project_a.id) and body["tenant"] == "tenant-a"
    assert body["data"]["import_id"] == ok.json()["id"]
    assert (body["data"]["state"], body["data"]["items"]) == ("succeeded", 2)

    bad = client.post(imports, {"items": [{"wrong": 1}]}, format="json")
    assert bad.status_code == 202, bad.json()
    got = receiver.wait_for(2, timeout=60)[1]
    body = json.loads(got.body)
    assert (body["data"]["import_id"], body["data"]["state"]) == (bad.json()["id"], "failed")
    assert body["data"]["error_count"] >= 1
