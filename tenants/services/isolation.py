"""Runtime checks of the database wall (used by the RLS canary tasks and /healthz)."""

from __future__ import annotations

import logging
import uuid

from django.apps import apps
from django.db import connection, transaction

from tenants.audit import Actor, audit_record
from tenants.models import Tenant
from tenants.scoping import TenantOwnedModel

logger = logging.getLogger(__name__)


def tenant_owned_tables() -> list[str]:
    return sorted(
        m._meta.db_table
        for m in apps.get_models()
        if issubclass(m, TenantOwnedModel) and not m._meta.proxy
    )


def tenant_ids_active() -> list[uuid.UUID]:
    return list(Tenant.objects.filter(status=Tenant.Status.ACTIVE).values_list("id", flat=True))


def isolation_check_unscoped() -> dict[str, object]:
    """In a fresh transaction nothing has set a tenant, so every tenant-owned table must look
    empty. Rows here mean RLS is off on that table, or a tenant setting leaked across
    transactions on this pooled connection."""
    leaking: dict[str, int] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        for table in tenant_owned_tables():
            cursor.execute(f'SELECT count(*) FROM "{table}"')
            (count,) = cursor.fetchone()
            if count:
                leaking[table] = count
    if leaking:
        logger.error("RLS canary: rows visible without a tenant: %s", leaking)
    return {"ok": not leaking, "leaking_tables": leaking}


def isolation_probe_tenant(*, tenant_id: uuid.UUID, actor: Actor) -> dict[str, int]:
    """Inside a tenant context: count rows of other tenants that are visible (must be 0)."""
    foreign: dict[str, int] = {}
    with connection.cursor() as cursor:
        for table in tenant_owned_tables():
            cursor.execute(f'SELECT count(*) FROM "{table}" WHERE tenant_id <> %s', [tenant_id])
            (count,) = cursor.fetchone()
            if count:
                foreign[table] = count
    if foreign:
        logger.error("RLS probe: tenant %s sees foreign rows: %s", tenant_id, foreign)
    audit_record(
        tenant_id=tenant_id,
        actor=actor,
        action="isolation.probe",
        resource_type="tenant",
        resource_id=tenant_id,
        detail={"foreign_rows": foreign, "tables": len(tenant_owned_tables())},
    )
    return foreign
