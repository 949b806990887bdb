"""The RLS canary: a runtime check, in production, that the database wall still holds.

Tests prove the wall at build time; this proves it on the live database, where a hand-run
migration or a role change could silently weaken it. The platform job iterates tenants
explicitly and enqueues one tenant task each.
"""

from __future__ import annotations

import uuid

from workers.base import PlatformTask, TenantTask
from workers.celery import app


@app.task(base=PlatformTask, name="workers.tasks.isolation.platform_rls_canary")
def platform_rls_canary() -> dict[str, object]:
    from tenants.services.isolation import isolation_check_unscoped, tenant_ids_active

    result = isolation_check_unscoped()
    for tenant_id in tenant_ids_active():
        tenant_rls_probe.delay(str(tenant_id))
    return result


@app.task(base=TenantTask, name="workers.tasks.isolation.tenant_rls_probe", bind=True)
def tenant_rls_probe(self: TenantTask, tenant_id: uuid.UUID) -> dict[str, int]:
    from tenants.services.isolation import isolation_probe_tenant

    return isolation_probe_tenant(tenant_id=tenant_id, actor=self.actor())
