"""Sealing the access log, the platform checkpoint, auditor bundle exports and break-glass
expiry (the services in tenants.proof and tenants.services.grants do the work).

Sealing and the platform checkpoint write no access event of their own, on purpose: they read
only the access log itself (no tenant data), and an event per run would make every run create
work for the next one, so the log would grow forever on an idle tenant. What they produce (seals
and signed checkpoints) is itself the record, and is in every bundle.
"""

from __future__ import annotations

import uuid

from workers.base import PlatformTask, TenantTask
from workers.celery import app


@app.task(base=PlatformTask, name="workers.tasks.audit.platform_audit_seal")
def platform_audit_seal(full: bool = False) -> dict[str, object]:
    """Queue a sealing run for every active tenant, then sign the platform checkpoint over the
    tenants' latest checkpoints (those of the previous run, when this run's are not done)."""
    from tenants.proof.sealing import platform_checkpoint_create
    from tenants.services.isolation import tenant_ids_active

    tenants = tenant_ids_active()
    for tenant_id in tenants:
        tenant_audit_seal.delay(str(tenant_id), full=full)
    platform = platform_checkpoint_create()
    return {"tenants": len(tenants), "platform_checkpoint": platform.id if platform else None}


@app.task(
    base=TenantTask,
    name="workers.tasks.audit.tenant_audit_seal",
    bind=True,
    single_transaction=False,
)
def tenant_audit_seal(
    self: TenantTask, tenant_id: uuid.UUID, full: bool = False
) -> dict[str, object]:
    from tenants.proof.sealing import audit_seal_tenant

    return audit_seal_tenant(tenant_id=tenant_id, full=full).as_dict()


@app.task(
    base=TenantTask,
    name="workers.tasks.audit.audit_export_run",
    bind=True,
    single_transaction=False,
    acks_late=True,
    reject_on_worker_lost=True,
)
def audit_export_run_task(self: TenantTask, tenant_id: uuid.UUID, export_id: str) -> str:
    from tenants.proof.bundle import audit_export_run

    return self.again_if_busy(
        audit_export_run(tenant_id=tenant_id, export_id=uuid.UUID(export_id), actor=self.actor())
    )


@app.task(base=PlatformTask, name="workers.tasks.audit.platform_grants_expire")
def platform_grants_expire() -> int:
    """End break-glass memberships past their expiry (requests already refuse them at once;
    this records the end in the membership history and the grant)."""
    from tenants.services.grants import grants_expire_all

    return grants_expire_all(actor_task="workers.tasks.audit.platform_grants_expire")
