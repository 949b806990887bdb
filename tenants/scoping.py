"""The tenant context: one mechanism for requests, commands and tasks.

``tenant_context(tenant_id)`` does two things together, so neither can be forgotten:

* sets a contextvar that the fail-closed manager of every tenant-owned model reads;
* sets ``app.tenant_id`` **transaction-locally** (``set_config(..., true)``) on the connection,
  which the PostgreSQL row-level-security policies read. Being transaction-local, the value
  dies with the transaction: a pooled or persistent connection never carries a tenant over to
  the next request or task.

Unscoped access is spelled ``Model.dangerously_unscoped`` and is rare and grep-able.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import connections, models, transaction

from tenants import request_transaction, sent_ahead
from tenants.sqlscript import SET_LOCAL

_current_tenant: ContextVar[uuid.UUID | None] = ContextVar("annotate_tenant", default=None)

TENANT_SETTING = "app.tenant_id"
USER_SETTING = "app.user_id"
TOKEN_HASH_SETTING = "app.token_hash"  # noqa: S105 - a setting name


class TenantContextMissing(RuntimeError):
    """A tenant-owned model was queried outside any tenant context."""


class CrossTenantWrite(RuntimeError):
    """A row of one tenant was about to be written while another tenant's context is active."""


def current_tenant_id() -> uuid.UUID | None:
    return _current_tenant.get()


def require_tenant_id() -> uuid.UUID:
    tenant_id = _current_tenant.get()
    if tenant_id is None:
        raise TenantContextMissing("no tenant context is active")
    return tenant_id


def db_set(name: str, value: str, *, using: str = "default") -> None:
    """Set a transaction-local setting. Outside a transaction it would vanish at once: refuse."""
    connection = connections[using]
    if not connection.in_atomic_block:
        raise RuntimeError(f"{name} must be set inside a transaction (transaction-local setting)")
    with connection.cursor() as cursor:
        cursor.execute(SET_LOCAL, {"name": name, "value": value})


@contextmanager
def tenant_context(
    tenant_id: uuid.UUID | str,
    *,
    using: str = "default",
    savepoint: bool = True,
    is_set: bool = False,
) -> Iterator[uuid.UUID]:
    """Run the block inside a transaction scoped to one tenant.

    Guarantees: tenant-owned managers filter by this tenant, and the database shows and accepts
    only this tenant's rows, until the block ends. Re-entering the same tenant is allowed;
    entering a different tenant inside one is refused, because a half-switched context is how
    data crosses. ``savepoint=False``, inside an all-or-nothing transaction (a request's),
    spares the savepoint: an error in the block then dooms the whole transaction.
    ``is_set``: this transaction already set ``app.tenant_id`` to this tenant (token
    authentication does, for the URL's tenant), so it is not set again.
    """
    tid = tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id))
    outer = _current_tenant.get()
    if outer is not None and outer != tid:
        raise CrossTenantWrite(f"cannot enter tenant {tid} inside the context of tenant {outer}")
    with transaction.atomic(using=using, savepoint=savepoint):
        connection = connections[using]
        # A request's context (no savepoint, outermost) lets writes be sent ahead
        # (``defer_to_context_end``): their answers are read before the connection's next
        # statement (the execute wrapper) and on every exit of the context (below).
        depth = len(connection.savepoint_ids) if not savepoint and outer is None else None
        # A request's own transaction has installed the wrapper already: once is enough.
        wraps = depth is not None and sent_ahead.collect_first not in connection.execute_wrappers
        if depth is not None:
            connection.tenant_deferred = depth
        if wraps:
            connection.execute_wrappers.append(sent_ahead.collect_first)
        token = _current_tenant.set(tid)
        try:
            if not is_set:
                db_set(TENANT_SETTING, str(tid), using=using)
            yield tid
        except BaseException:
            if depth is not None and not request_transaction.commit_sent(using):
                # The transaction is doomed (no savepoint): a write in flight goes with it. Its
                # answer is read all the same, so that the connection can roll back; if the
                # connection itself failed, Django discards it and the first error stands.
                with contextlib.suppress(Exception):
                    sent_ahead.collect(connection, raise_errors=False)
            raise
        finally:
            _current_tenant.reset(token)
            if depth is not None:
                connection.tenant_deferred = None
                sent_ahead.allow_more(connection)
            if wraps:
                connection.execute_wrappers.remove(sent_ahead.collect_first)
        if request_transaction.commit_sent(using):
            # The request's COMMIT is in flight: the request reads its answer, and the
            # transaction-local setting ends with the transaction.
            return
        # Normal exit only: a write in flight must have succeeded (or this fails the request).
        # If this atomic block is nested in a longer transaction (a test case, a platform job),
        # clear the setting so the rest of it sees no tenant. A request's own transaction
        # ends right after its context (nothing runs in between), and the setting with it.
        if depth is not None:
            sent_ahead.collect(connection)
            if request_transaction.ends_with_request(using):
                sent_ahead.forbid_more(connection, "the request's tenant context has ended")
                return
        if outer is None:
            db_set(TENANT_SETTING, "", using=using)


def defer_to_context_end(
    sql: str, params: dict[str, Any], *, using: str = "default", last: bool = False
) -> bool:
    """Send a write ahead in the current request's tenant context: at once, in the same
    transaction and tenant, without waiting for its answer, which is read before the
    connection's next statement or at the end of the context (``tenants.sent_ahead``). The
    server runs it while the request goes on (renders its answer), so it costs the request no
    round trip of its own. True if sent; False if the caller must execute it now.

    Only a write made directly at the level of a request's context (``savepoint=False``,
    outermost) is sent ahead: its fate is then that of the whole transaction, as if it had run
    at once (it is sent and answered before the context ends, so before any commit). Inside a
    nested atomic block, whose savepoint may be rolled back on its own, or in any other
    context, it is not. Its errors surface at the connection's next statement or at the end of
    the context (failing the request), not at the call.

    ``last``: the request uses the database no more after this write. In a request transaction
    of its own (``tenants.request_transaction``), the request's ``COMMIT`` goes in the same
    message, so that the flush overlaps the rest of the request; nested in a longer
    transaction (a test case), it cannot commit. Either way, a statement after it raises."""
    connection = connections[using]
    depth: int | None = getattr(connection, "tenant_deferred", None)
    if depth is None or len(connection.savepoint_ids) != depth:
        return False
    if last and request_transaction.send_commit_with(connection, sql, params):
        return True
    sent_ahead.send(connection, sql, params)
    if last:
        sent_ahead.forbid_more(connection, "the request's last access event was sent")
    return True


@contextmanager
def tenant_scope(tenant_id: uuid.UUID) -> Iterator[uuid.UUID]:
    """Set only the contextvar, for code that opens one ``tenant_context`` per batch (each
    re-sets the database setting in its own transaction)."""
    token = _current_tenant.set(tenant_id)
    try:
        yield tenant_id
    finally:
        _current_tenant.reset(token)


class TenantScopedManager(models.Manager):
    """Default manager of tenant-owned models: filters by the current tenant, raises without one."""

    def get_queryset(self) -> models.QuerySet[Any]:
        tenant_id = _current_tenant.get()
        if tenant_id is None:
            name = self.model.__name__
            raise TenantContextMissing(
                f"{name}.objects was used outside a tenant context. Enter "
                f"tenants.scoping.tenant_context(tenant_id) first, or, for a platform-wide job "
                f"that iterates tenants explicitly, use {name}.dangerously_unscoped."
            )
        return super().get_queryset().filter(tenant_id=tenant_id)


def tenant_key(*, constraint: bool = True, index: bool = True) -> models.ForeignKey:
    """The ``tenant`` column of a tenant-owned row: never editable, never followed back.

    A hot table may go without the foreign-key constraint (``constraint=False``) when its
    tenant is certain otherwise (a composite key to a row of the same tenant, or RLS's WITH
    CHECK), and without the single-column index (``index=False``) when composite indexes led
    by the tenant serve every query; the model says which and why."""
    return models.ForeignKey(
        "tenants.Tenant",
        on_delete=models.PROTECT,
        editable=False,
        related_name="+",
        db_constraint=constraint,
        db_index=index,
    )


class TenantOwnedModel(models.Model):
    """Base of every tenant-owned model.

    * ``tenant`` is a direct foreign key on the row (never editable through the API);
    * ``objects`` is fail-closed (see ``TenantScopedManager``);
    * ``dangerously_unscoped`` is the explicit escape;
    * ``save()`` fills ``tenant`` from the context and refuses a row of another tenant.

    Row-level security on the table (``tenants.rls``) is the database's own copy of this rule;
    ``tests/isolation/test_rls_coverage.py`` fails if a subclass's table lacks it.
    """

    tenant = tenant_key()

    objects = TenantScopedManager()
    dangerously_unscoped = models.Manager()  # noqa: DJ012 - managers before Meta by design

    class Meta:
        abstract = True
        base_manager_name = "dangerously_unscoped"

    def save(self, *args: Any, **kwargs: Any) -> None:
        active = _current_tenant.get()
        if self.tenant_id is None:
            if active is None:
                raise TenantContextMissing(
                    f"cannot save a {type(self).__name__} without a tenant context"
                )
            self.tenant_id = active
        elif active is not None and self.tenant_id != active:
            raise CrossTenantWrite(
                f"{type(self).__name__} of tenant {self.tenant_id} saved in the context of {active}"
            )
        super().save(*args, **kwargs)
