"""Webhook tasks: thin, tenant id first, one service call each (services are imported inside the
function bodies, so that this module and the services do not import each other at load time).

Retries are not Celery retries: the delivery row holds the attempt count and the next attempt's
time, and the service enqueues the next attempt with a countdown. A lost message is found again
by the sweeper, so nothing depends on the broker keeping a delayed message.
"""

from __future__ import annotations

import uuid

from workers.base import PlatformTask, TenantTask
from workers.celery import app


@app.task(
    base=TenantTask,
    name="annotate.webhooks.tasks.webhook_deliver",
    bind=True,
    single_transaction=False,  # no transaction may stay open while a receiver is slow
    acks_late=True,
    reject_on_worker_lost=True,
)
def webhook_deliver_task(self: TenantTask, tenant_id: uuid.UUID, delivery_id: str) -> str:
    from annotate.webhooks.services import delivery_attempt

    return delivery_attempt(
        tenant_id=tenant_id, delivery_id=uuid.UUID(delivery_id), actor=self.actor()
    )


@app.task(
    base=TenantTask,
    name="annotate.webhooks.tasks.webhook_sweep",
    bind=True,
    single_transaction=False,
)
def webhook_sweep_task(self: TenantTask, tenant_id: uuid.UUID) -> dict[str, int]:
    from annotate.webhooks.services import deliveries_sweep

    return deliveries_sweep(tenant_id=tenant_id, actor=self.actor())


@app.task(base=PlatformTask, name="annotate.webhooks.tasks.platform_webhook_sweep")
def platform_webhook_sweep() -> int:
    """Beat: one sweep task per active tenant (each runs in its own tenant context)."""
    from tenants.services.isolation import tenant_ids_active

    tenant_ids = tenant_ids_active()
    for tenant_id in tenant_ids:
        webhook_sweep_task.delay(str(tenant_id))
    return len(tenant_ids)
