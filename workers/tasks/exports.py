"""Build a project export (annotate.exports.services.project_export_run does the work)."""

from __future__ import annotations

import uuid

from workers.base import TenantTask
from workers.celery import app


@app.task(
    base=TenantTask,
    name="workers.tasks.exports.project_export_run",
    bind=True,
    single_transaction=False,
    acks_late=True,
    reject_on_worker_lost=True,
)
def project_export_run_task(self: TenantTask, tenant_id: uuid.UUID, export_id: str) -> str:
    from annotate.exports.services import project_export_run

    return self.again_if_busy(
        project_export_run(tenant_id=tenant_id, export_id=uuid.UUID(export_id), actor=self.actor())
    )
