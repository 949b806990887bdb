"""A request's transaction, whose ``COMMIT`` is sent ahead: the database flushes the commit to
disk while the request goes on (serialises and renders its answer), and the answer leaves only
once the commit is known to have succeeded (docs/audit.md, "What the event costs a request").

The flush of a transaction that wrote (a request's access event, at the least) is most of what
the event costs a read: an ``fdatasync`` of the WAL, slower on a disk that has been idle since
the last request. Sent at the end of the block, the ``COMMIT`` overlaps the rendering; sent
with the request's last access event (``send_commit_with``, for a handler that has read all it
needs), it also overlaps the serialising. Nothing of the answer leaves before the commit's
result is read: if the commit fails, the request fails (500) as it would have under Django's
``atomic()``, and the answer is dropped.

Guarantees, as ``transaction.atomic()`` around the request would give: the block runs in one
transaction; an exception or ``set_rollback`` before the ``COMMIT`` is sent rolls it back; on
success the commit's answer is read (after the ``overlap`` work) before the context exits,
``on_commit`` callbacks run after it, and a failed commit raises. Once the ``COMMIT`` is
sent, the database may not be used until its answer is read
(``sent_ahead.StatementAfterLast``), and what the transaction wrote is committed whatever the
answer. Inside an atomic block that is already open (a test case, a caller's transaction), it
is a plain ``atomic()`` and ``overlap`` work runs after it; the ban on statements after the
last one holds there too, so tests catch a handler that breaks it.

TRICKY: Django and psycopg both believe they own the commit. Here the transaction is opened by
turning autocommit off (Django's "pretend atomic": an ``atomic()`` inside neither commits nor
rolls back at its exit) and sending the ``BEGIN`` raw, its answer read with the first
statement's (psycopg then finds the transaction open and sends no ``BEGIN`` of its own: one
round trip fewer); the ``COMMIT`` goes out raw too (``tenants.sent_ahead``), and only after
its answer is read is autocommit turned back on, which psycopg would refuse while a statement
is in flight. The request's tenant context leaves ``app.tenant_id`` set (the transaction,
and the setting with it, ends right after it: another round trip fewer), so from its end
until the ``COMMIT`` no statement may run (``sent_ahead.StatementAfterLast``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connections, transaction
from psycopg import IsolationLevel, pq

from tenants import sent_ahead

_STATE = "request_commit"


@dataclass
class RequestTransaction:
    """What ``request_transaction`` yields. ``overlap``: work to run while the commit is in
    flight (it may not use the database). ``sent``: the ``COMMIT`` has gone out."""

    overlap: Callable[[], Any] | None = None
    sent: bool = False


def commit_sent(using: str = "default") -> bool:
    """True once this connection's request transaction has sent its ``COMMIT``."""
    state = getattr(connections[using], _STATE, None)
    return state is not None and state.sent


def ends_with_request(using: str = "default") -> bool:
    """True while this connection is in a request transaction of its own whose ``COMMIT`` has
    not been sent: the transaction ends with the request (commit or rollback), and its
    transaction-local settings with it."""
    state = getattr(connections[using], _STATE, None)
    return state is not None and not state.sent


def send_commit_with(connection: Any, sql: str, params: dict[str, Any]) -> bool:
    """Send ``sql`` and the request's ``COMMIT`` in one message, to be read at the end of the
    request; from here on the connection refuses statements. False if this connection is not
    in a request transaction of its own (then nothing is sent)."""
    state: RequestTransaction | None = getattr(connection, _STATE, None)
    if state is None or state.sent:
        return False
    sent_ahead.send(connection, sql, params, then="COMMIT")
    state.sent = True
    sent_ahead.forbid_more(connection, "the request's COMMIT was sent with its access event")
    return True


@contextlib.contextmanager
def request_transaction(using: str = "default") -> Iterator[RequestTransaction]:
    """Run the block in one transaction whose ``COMMIT`` is sent ahead; ``handle.overlap``, if
    set by the block, runs while the commit is in flight (see the module's docstring)."""
    connection = connections[using]
    handle = RequestTransaction()
    if connection.in_atomic_block or not connection.get_autocommit():
        with transaction.atomic(using=using):
            yield handle
        if handle.overlap is not None:
            handle.overlap()
        return
    connection.set_autocommit(False)
    setattr(connection, _STATE, handle)
    connection.execute_wrappers.append(sent_ahead.collect_first)
    try:
        try:
            # The BEGIN goes out at once, its answer read with the first statement's (psycopg
            # then finds the transaction open and sends none of its own).
            sent_ahead.send_text(connection, _begin_statement(connection.connection))
            # Outermost with autocommit off: Django's atomic() neither commits nor rolls back
            # at its exit, it marks ``needs_rollback`` on an error. Both ends are handled here.
            with transaction.atomic(using=using, savepoint=False):
                yield handle
        except BaseException:
            if handle.sent:
                _read_commit_after_error(connection)
            else:
                _roll_back(connection)
            raise
        if connection.needs_rollback and not handle.sent:
            _roll_back(connection)
            if handle.overlap is not None:
                handle.overlap()
            return
        _commit(connection, handle)
    finally:
        setattr(connection, _STATE, None)
        connection.execute_wrappers.remove(sent_ahead.collect_first)
        sent_ahead.allow_more(connection)
        if connection.connection is not None and not connection.get_autocommit():
            connection.set_autocommit(True)  # runs the on_commit callbacks after a commit


def _begin_statement(raw: Any) -> str:
    """The ``BEGIN`` psycopg would send for this connection (its isolation level, read-only
    and deferrable settings)."""
    parts = ["BEGIN"]
    if raw.isolation_level is not None:
        level = IsolationLevel(raw.isolation_level).name.replace("_", " ")
        parts.append(f"ISOLATION LEVEL {level}")
    if raw.read_only is not None:
        parts.append("READ ONLY" if raw.read_only else "READ WRITE")
    if raw.deferrable is not None:
        parts.append("DEFERRABLE" if raw.deferrable else "NOT DEFERRABLE")
    return " ".join(parts)


def _commit(connection: Any, handle: RequestTransaction) -> None:
    if connection.connection is None:
        # Closed inside the block: the server rolled the transaction back.
        raise transaction.TransactionManagementError(
            "the connection closed during the request's transaction: nothing was committed"
        )
    if not handle.sent:
        sent_ahead.send_text(connection, "COMMIT")
        handle.sent = True
    sent_ahead.forbid_more(connection, "the request's COMMIT is in flight")
    try:
        if handle.overlap is not None:
            with connection.execute_wrapper(sent_ahead.collect_first):
                handle.overlap()
    except BaseException:
        _read_commit_after_error(connection)
        raise
    try:
        sent_ahead.collect(connection)
    except BaseException:
        _settle(connection)
        raise
    _committed(connection)


def _read_commit_after_error(connection: Any) -> None:
    """The ``COMMIT`` went out, then the request failed: the commit goes on regardless (as it
    would have under atomic() before the failing work). Read its answer so that the connection
    is usable; the request's own error stands."""
    try:
        failure: object = sent_ahead.collect(connection, raise_errors=False)
    except Exception as exc:  # the connection itself failed
        failure = exc
    if failure is None:
        with contextlib.suppress(transaction.TransactionManagementError):
            _committed(connection)
    else:
        _settle(connection)


def _committed(connection: Any) -> None:
    if connection.connection.info.transaction_status != pq.TransactionStatus.IDLE:
        # The COMMIT was not run: nothing was written.
        _roll_back(connection)
        raise transaction.TransactionManagementError("the request's COMMIT did not run")
    connection.errors_occurred = False
    connection.needs_rollback = False
    connection.run_commit_hooks_on_set_autocommit_on = True


def _settle(connection: Any) -> None:
    """After a failed commit, leave the connection idle: roll back what is still open (a failed
    COMMIT has already ended the transaction) and drop the on_commit callbacks of a transaction
    that did not commit."""
    status = connection.connection.info.transaction_status if connection.connection else None
    if status in (pq.TransactionStatus.INTRANS, pq.TransactionStatus.INERROR):
        _roll_back(connection)
    else:
        connection.run_on_commit = []
        connection.needs_rollback = False


def _roll_back(connection: Any) -> None:
    try:
        sent_ahead.collect(connection, raise_errors=False)  # the BEGIN, if nothing followed it
        connection.rollback()
    except Exception:
        # The connection itself failed: drop it, as Django's atomic() does.
        connection.close()
