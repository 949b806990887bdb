"""Ingest an uploaded dataset (annotate.services.imports.import_run does the work)."""

from __future__ import annotations

import uuid

from workers.base import TenantTask
from workers.celery import app


@app.task(
    base=TenantTask,
    name="workers.tasks.imports.import_run",
    bind=True,
    single_transaction=False,
    acks_late=True,
    reject_on_worker_lost=True,
)
def import_run_task(self: TenantTask, tenant_id: uuid.UUID, import_id: str) -> str:
    from annotate.services.ingest import import_run

    return self.again_if_busy(
        import_run(tenant_id=tenant_id, import_id=uuid.UUID(import_id), actor=self.actor())
    )
