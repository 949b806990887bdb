"""Tasks run in a real worker process inside their own tenant, and nothing carries over."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest

from tenants.models import AccessEvent
from tenants.scoping import tenant_context
from tenants.services.isolation import isolation_check_unscoped
from tests.conftest import World, build_world, owner_conninfo
from workers.tasks.isolation import platform_rls_canary, tenant_rls_probe


def _task_events(tenant_id: uuid.UUID) -> list[AccessEvent]:
    with tenant_context(tenant_id):
        return list(AccessEvent.objects.filter(auth_method="task").order_by("id"))


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time; see var/test-worker.log")


@pytest.mark.worker
def test_tenant_tasks_run_scoped_in_a_real_worker(celery_worker_process, committed: None) -> None:
    w: World = build_world()
    # Interleave tenants on one worker process: A, B, an unknown tenant, A again, then the
    # platform job (no tenant) which enqueues one probe per tenant.
    tenant_rls_probe.delay(str(w.a.id))
    tenant_rls_probe.delay(str(w.b.id))
    tenant_rls_probe.delay(str(uuid.uuid4()))
    tenant_rls_probe.delay(str(w.a.id))
    platform_rls_canary.delay()

    _wait_for(lambda: len(_task_events(w.a.id)) == 3 and len(_task_events(w.b.id)) == 2)
    for tenant in (w.a, w.b):
        for event in _task_events(tenant.id):
            assert event.action == "isolation.probe"
            assert event.resource_id == str(tenant.id)
            assert event.actor_username == "task:workers.tasks.isolation.tenant_rls_probe"
            assert event.detail["foreign_rows"] == {}, event.detail
            assert event.credential_id  # the Celery task id


def test_unscoped_check_reports_a_table_whose_wall_is_down(committed: None) -> None:
    build_world()
    assert isolation_check_unscoped() == {"ok": True, "leaking_tables": {}}
    with psycopg.connect(owner_conninfo(), autocommit=True) as conn:
        conn.execute("ALTER TABLE annotate_project DISABLE ROW LEVEL SECURITY")
        try:
            result = isolation_check_unscoped()
        finally:
            conn.execute("ALTER TABLE annotate_project ENABLE ROW LEVEL SECURITY")
    assert result == {"ok": False, "leaking_tables": {"annotate_project": 2}}
