"""Base classes every task uses, so that no task can forget its tenant.

``TenantTask``: the first argument is the tenant id; the task body runs inside
``tenant_context(tenant_id)`` (one transaction, ``app.tenant_id`` set transaction-locally), and
the context is gone when it returns, so the next task on the same worker process starts with no
tenant. Tasks that need several transactions (long imports) set ``single_transaction = False``:
the contextvar is set for the whole run and each batch opens its own ``tenant_context``.

``PlatformTask``: platform-wide jobs. They have no tenant and iterate tenants explicitly.
"""

from __future__ import annotations

import uuid
from typing import Any

from celery import Task
from django.db import close_old_connections

from tenants.audit import Actor

# A job whose lock is held is tried again this often, for up to ten minutes.
BUSY_RETRY_SECONDS = 5
BUSY_MAX_RETRIES = 120


class TenantTask(Task):
    abstract = True
    single_transaction = True

    def __call__(self, tenant_id: str | uuid.UUID, *args: Any, **kwargs: Any) -> Any:
        from tenants.models import Tenant
        from tenants.scoping import current_tenant_id, tenant_context, tenant_scope

        if current_tenant_id() is not None:
            # Eager execution inside a request would inherit the caller's context: refuse.
            raise RuntimeError(f"task {self.name} started inside an active tenant context")
        tid = uuid.UUID(str(tenant_id))
        close_old_connections()
        if not Tenant.objects.filter(id=tid, status=Tenant.Status.ACTIVE).exists():
            return None  # tenant suspended or gone: its work is dropped, not run unscoped
        if self.single_transaction:
            with tenant_context(tid):
                return self.run(tid, *args, **kwargs)
        with tenant_scope(tid):
            return self.run(tid, *args, **kwargs)

    def actor(self) -> Actor:
        """The actor recorded in access events written by this task."""
        return Actor.for_task(self.name, self.request.id or "")

    def again_if_busy(self, state: str) -> str:
        """Come back later when the job's advisory lock was held (``state == "busy"``).

        TRICKY: the holder is either a live duplicate delivery (it will finish the job) or the
        backend of a worker process that was just killed, which PostgreSQL ends (and unlocks)
        only when it notices the closed socket. The redelivered message can arrive first;
        acknowledging it then would leave the job "running" for ever. A retry re-checks the
        job's state under the lock once the holder is gone.
        """
        if state == "busy":
            raise self.retry(countdown=BUSY_RETRY_SECONDS, max_retries=BUSY_MAX_RETRIES)
        return state


class PlatformTask(Task):
    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        close_old_connections()
        return self.run(*args, **kwargs)
