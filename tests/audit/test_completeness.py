"""The log is complete: every URL pattern and every Celery task writes its event.

URLs: ``tests/isolation/test_api_isolation.py::test_every_endpoint_writes_its_access_event``
walks every tenant URL pattern (discovered from the URL conf) and requires exactly one allowed
event per successful call; ``test_the_url_sweep_is_complete`` below checks that no URL outside
the tenant patterns serves tenant data unlogged.

Tasks: every task registered with the Celery app must be run here (and write an event with the
task as actor), or name the test that asserts its event, or be exempt with a reason. A new task
that is none of these fails this test, so no task ships without deciding.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from tenants.models import AccessEvent, AuditExport, OperatorGrant
from tenants.scoping import tenant_context
from tests.conftest import World
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parent.parent.parent


def _run_rls_probe(world: World) -> uuid.UUID:
    from workers.tasks.isolation import tenant_rls_probe

    tenant_rls_probe(str(world.a.id))
    return world.a.id


def _run_rekey(world: World) -> uuid.UUID:
    from workers.tasks.distribution import rekey_queue

    rekey_queue(str(world.a.id), str(world.project_a.id))
    return world.a.id


def _run_export(world: World) -> uuid.UUID:
    from workers.tasks.audit import audit_export_run_task

    with tenant_context(world.a.id):
        export = AuditExport.objects.create(
            period_from=timezone.now() - timedelta(days=1),
            period_to=timezone.now(),
            created_by_id=world.m("a", "auditor").user_id,
        )
    # The progress connection cannot see this uncommitted row; progress is best-effort.
    from tenants.proof import bundle

    original = bundle._Progress.write
    bundle._Progress.write = lambda self, **fields: None  # type: ignore[method-assign]
    try:
        audit_export_run_task(str(world.a.id), str(export.id))
    finally:
        bundle._Progress.write = original  # type: ignore[method-assign]
    return world.a.id


def _run_grants_expire(world: World) -> uuid.UUID:
    from workers.tasks.audit import platform_grants_expire

    operator = UserFactory(is_staff=True)
    with tenant_context(world.a.id):
        OperatorGrant.objects.create(
            operator=operator,
            minutes=1,
            reason="x",
            state=OperatorGrant.State.APPROVED,
            expires_at=timezone.now() - timedelta(minutes=1),
        )
    platform_grants_expire()
    return world.a.id


def _run_webhook_sweep(world: World) -> uuid.UUID:
    from annotate.webhooks.models import WebhookDelivery
    from annotate.webhooks.services import webhook_create
    from annotate.webhooks.tasks import webhook_sweep_task

    with tenant_context(world.a.id):
        hook, _ = webhook_create(
            membership=world.m("a", "manager"),
            url="https://93.184.216.34/h",
            events=["item.completed"],
        )
        WebhookDelivery.objects.create(  # its message was lost: the sweep re-enqueues it
            webhook=hook,
            event="item.completed",
            payload={},
            next_attempt_at=timezone.now() - timedelta(hours=1),
        )
    webhook_sweep_task(str(world.a.id))
    return world.a.id


def _working_annotator(world: World) -> Any:
    """An annotator of project A holding an active lease, with more items waiting."""
    from annotate.services.distribution import lease_next
    from tests.distribution.conftest import add_items, annotator, configure

    configure(world.project_a)
    add_items(world.project_a, 5)
    member = annotator(world.project_a, "worker-1")
    with tenant_context(world.a.id):
        assert lease_next(project=world.project_a, membership=member).lease is not None
    return member


def _run_refill(world: World) -> uuid.UUID:
    from workers.tasks.distribution import refill_queue

    member = _working_annotator(world)
    assert refill_queue(str(world.a.id), str(world.project_a.id), str(member.id)) > 0
    return world.a.id


def _run_expire(world: World) -> uuid.UUID:
    from annotate.models import Lease
    from workers.tasks.distribution import expire_leases

    _working_annotator(world)
    with tenant_context(world.a.id):
        Lease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert expire_leases() > 0
    return world.a.id


def _run_item_completed(world: World) -> uuid.UUID:
    from annotate.models import Item
    from tests.distribution.conftest import add_items
    from workers.tasks.distribution import item_completed

    (item,) = add_items(world.project_a, 1)
    with tenant_context(world.a.id):
        Item.objects.filter(id=item.id).update(status="completed")
    item_completed(str(world.a.id), str(world.project_a.id), str(item.id))
    return world.a.id


def _run_complete_projects(world: World) -> uuid.UUID:
    from annotate.models import Item
    from tests.distribution.conftest import add_items
    from workers.tasks.distribution import complete_projects

    (item,) = add_items(world.project_a, 1)
    with tenant_context(world.a.id):
        Item.objects.filter(id=item.id).update(status="completed")
    assert complete_projects() >= 1
    return world.a.id


# Run here; each must leave an event whose actor is the task.
RUN: dict[str, Callable[[World], uuid.UUID]] = {
    "workers.tasks.isolation.tenant_rls_probe": _run_rls_probe,
    "workers.tasks.distribution.rekey_queue": _run_rekey,
    "workers.tasks.distribution.refill_queue": _run_refill,
    "workers.tasks.distribution.expire_leases": _run_expire,
    "workers.tasks.distribution.item_completed": _run_item_completed,
    "workers.tasks.distribution.complete_projects": _run_complete_projects,
    "workers.tasks.audit.audit_export_run": _run_export,
    "workers.tasks.audit.platform_grants_expire": _run_grants_expire,
    "annotate.webhooks.tasks.webhook_sweep": _run_webhook_sweep,
}
# Their event is asserted by another test (file::test, checked to exist).
ELSEWHERE = {
    "workers.tasks.imports.import_run": (
        "tests/imports/test_import_formats.py::test_jsonl_import_lands_whole_and_items_are_listed"
    ),
    "annotate.webhooks.tasks.webhook_deliver": (
        "tests/webhooks/test_delivery.py::test_a_delivery_is_signed_and_its_attempt_logged"
    ),
    "workers.tasks.exports.project_export_run": (
        "tests/exports/test_export_worker.py::test_real_worker_builds_the_export_with_progress"
    ),
}
# Read or write no tenant data themselves.
EXEMPT = {
    "workers.tasks.isolation.platform_rls_canary": (
        "counts rows with no tenant set (must see none) and fans out tenant_rls_probe, which logs"
    ),
    "workers.tasks.audit.platform_audit_seal": "fans out tenant_audit_seal; signs hashes only",
    "workers.tasks.audit.tenant_audit_seal": (
        "reads only the log itself; its seals and signed checkpoint are the record (an event "
        "per run would give every run work for the next, forever: see workers/tasks/audit.py)"
    ),
    "annotate.webhooks.tasks.platform_webhook_sweep": "fans out webhook_sweep per tenant",
}


def _registered_tasks() -> set[str]:
    from workers.celery import app

    app.loader.import_default_modules()
    import annotate.webhooks.tasks  # noqa: F401 - registered by its app, import to be sure

    return {name for name in app.tasks if not name.startswith("celery.")}


def test_every_task_is_run_covered_or_exempt_with_a_reason() -> None:
    tasks = _registered_tasks()
    decided = set(RUN) | set(ELSEWHERE) | set(EXEMPT)
    undecided = sorted(tasks - decided)
    assert not undecided, (
        f"tasks with no access-event check: {undecided}. Add a runner to RUN (the task must "
        "write an event with the task as actor), name the test asserting it in ELSEWHERE, or "
        "exempt it with a reason."
    )
    assert not sorted(decided - tasks), "stale entries: these tasks no longer exist"
    for name, where in ELSEWHERE.items():
        path, test = where.split("::")
        assert f"def {test}(" in (ROOT / path).read_text(), f"{name}: {where} is gone"


@pytest.mark.parametrize("name", sorted(RUN))
def test_task_writes_its_event_with_the_task_as_actor(
    world: World, name: str, monkeypatch: Any
) -> None:
    # In process, inside the test's transaction: the worker's connection recycling must not
    # close the test's connection.
    monkeypatch.setattr("workers.base.close_old_connections", lambda: None)
    tenants = (world.a.id, world.b.id)
    before = {}
    for tid in tenants:
        with tenant_context(tid):
            before[tid] = AccessEvent.objects.order_by("-id").values_list("id", flat=True).first()
    tenant_id = RUN[name](world)
    with tenant_context(tenant_id):
        new = list(AccessEvent.objects.filter(id__gt=before[tenant_id] or 0))
    assert any(e.auth_method == "task" and e.actor_username == f"task:{name}" for e in new), [
        (e.action, e.actor_username) for e in new
    ]


def _walk(patterns: list[Any], prefix: str = "") -> list[str]:
    routes = []
    for p in patterns:
        if isinstance(p, URLResolver):
            routes += _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            routes.append(prefix + str(p.pattern))
    return routes


def test_the_url_sweep_is_complete() -> None:
    """Every route that can reach tenant data is a tenant pattern (swept by the isolation
    tests); the few others are listed here with why they need no event."""
    outside_tenant = {
        "healthz": "database and broker reachability only",
        "api/v1/schema/": "the OpenAPI document",
        "api/v1/docs/": "static API docs",
        "api/v1/redoc/": "static API docs",
        "api/v1/auth/csrf": "a CSRF cookie",
        "api/v1/auth/login": "authentication (no tenant data)",
        "api/v1/auth/logout": "authentication (no tenant data)",
        "api/v1/me": "logs one event per tenant it lists (tenants/api/me.py)",
        "media/s/<str:token>": "logs media.read (annotate/api/media.py, tests/imports)",
        "": "the browser app's HTML",
        "^t/(?P<path>.*)$": "the browser app's HTML",
    }
    routes = _walk(get_resolver().url_patterns)
    tenant_routes = [r for r in routes if r.startswith("api/v1/t/<slug:tenant>/")]
    others = [r for r in routes if r not in tenant_routes and not re.match(r"^\^?static", r)]
    assert tenant_routes
    assert sorted(set(others) - set(outside_tenant)) == []
