"""webhook_emit, the contract the distribution code calls on every item completion."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import transaction

from annotate.webhooks.models import Webhook, WebhookDelivery
from annotate.webhooks.services import webhook_create, webhook_emit, webhook_update
from tenants.scoping import CrossTenantWrite, tenant_context
from tests.conftest import World
from tests.factories import project_in

pytestmark = pytest.mark.django_db
URL = "https://93.184.216.34/hook"


@pytest.fixture(autouse=True)
def _public_only(settings: Any) -> None:
    settings.WEBHOOK_ALLOWED_NETWORKS = []


def _hook(w: World, events: list[str], project: Any = None, key: str = "a") -> Webhook:
    with tenant_context((w.a if key == "a" else w.b).id):
        return webhook_create(
            membership=w.m(key, "manager"), url=URL, events=events, project=project
        )[0]


def test_no_webhooks_costs_one_query(world: World, django_assert_num_queries) -> None:
    with tenant_context(world.a.id), django_assert_num_queries(1):
        n = webhook_emit(
            tenant_id=world.a.id,
            event="item.completed",
            project_id=world.project_a.id,
            payload={"item_id": str(uuid.uuid4())},
        )
    assert n == 0


def test_the_emit_query_is_served_by_an_index(world: World) -> None:
    from django.db import connection

    with tenant_context(world.a.id):
        qs = Webhook.objects.filter(active=True, events__contains=["item.completed"])
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            plan = qs.explain()
    # With sequential scans priced out, a plan without one proves an index serves the query
    # (the partial webhook_active_idx, or the tenant-leading ones, as the statistics decide).
    assert "Seq Scan" not in plan and "Index" in plan, plan


def test_emit_reaches_tenant_wide_and_this_projects_subscribed_active_webhooks(
    world: World, django_assert_max_num_queries
) -> None:
    other_project = project_in(world.a, world.m("a", "manager"), name="other")
    tenant_wide = _hook(world, ["item.completed"])
    this_project = _hook(world, ["item.completed", "project.completed"], world.project_a)
    _hook(world, ["item.completed"], other_project)  # another project
    _hook(world, ["import.finished"])  # another event
    inactive = _hook(world, ["item.completed"])
    with tenant_context(world.a.id):
        webhook_update(webhook=inactive, changes={"active": False})
    _hook(world, ["item.completed"], key="b")  # another tenant

    item_id = uuid.uuid4()
    done = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with tenant_context(world.a.id):
        with django_assert_max_num_queries(3):
            n = webhook_emit(
                tenant_id=world.a.id,
                event="item.completed",
                project_id=world.project_a.id,
                payload={"item_id": item_id, "completed_at": done, "annotations": 2},
            )
        deliveries = list(WebhookDelivery.objects.order_by("webhook_id"))
    assert n == 2
    assert sorted(d.webhook_id for d in deliveries) == sorted([tenant_wide.id, this_project.id])
    body = deliveries[0].payload
    assert set(body) == {"id", "event", "created_at", "tenant", "project_id", "data"}
    assert body["id"] == str(deliveries[0].id)
    assert (body["event"], body["tenant"], body["project_id"]) == (
        "item.completed",
        "tenant-a",
        str(world.project_a.id),
    )
    assert body["data"] == {
        "item_id": str(item_id),
        "completed_at": "2026-01-02T03:04:05Z",
        "annotations": 2,
    }
    assert {d.state for d in deliveries} == {"pending"}
    with tenant_context(world.b.id):
        assert not WebhookDelivery.objects.exists()


def test_a_tenant_event_without_project_reaches_only_tenant_wide_webhooks(world: World) -> None:
    tenant_wide = _hook(world, ["export.ready"])
    _hook(world, ["export.ready"], world.project_a)
    with tenant_context(world.a.id):
        assert webhook_emit(tenant_id=world.a.id, event="export.ready", project_id=None, payload={})
        assert [d.webhook_id for d in WebhookDelivery.objects.all()] == [tenant_wide.id]


def test_rolled_back_caller_leaves_no_delivery_and_enqueues_nothing(
    world: World, monkeypatch: Any
) -> None:
    from annotate.webhooks import services

    enqueued: list[Any] = []
    monkeypatch.setattr(services, "_enqueue", lambda *a, **k: enqueued.append(a))
    _hook(world, ["item.completed"])
    with pytest.raises(RuntimeError), tenant_context(world.a.id), transaction.atomic():
        webhook_emit(tenant_id=world.a.id, event="item.completed", project_id=None, payload={})
        raise RuntimeError("the submit failed")
    with tenant_context(world.a.id):
        assert not WebhookDelivery.objects.exists()
    assert enqueued == []


def test_unknown_event_and_wrong_tenant_are_programming_errors(world: World) -> None:
    with tenant_context(world.a.id):
        with pytest.raises(ValueError, match="unknown webhook event"):
            webhook_emit(tenant_id=world.a.id, event="item.deleted", project_id=None, payload={})
        with pytest.raises(CrossTenantWrite):
            webhook_emit(tenant_id=world.b.id, event="item.completed", project_id=None, payload={})
