"""Writes sent ahead: a statement sent to PostgreSQL at once, without waiting for its answer,
which is read before the connection's next statement, or at the end of the request's tenant
context. The write runs on the server while Python goes on (a request renders its answer after
recording its access event); by the time the answer is read it has usually arrived, so it
costs no wait (docs/audit.md, "What the event costs a request").

TRICKY: libpq allows one statement in flight per connection, and psycopg knows nothing of this
one. Before psycopg may use the connection again the answer must be read (``collect``): every
statement Django sends passes ``collect_first`` (an execute wrapper that the request's
transaction and its tenant context install for their duration), and the context collects on
each of its exits, before Django commits or rolls back. Nothing else uses the connection
meanwhile: these are sent only from a request's own transaction, on its own thread's
connection. The request's ``BEGIN`` and ``COMMIT`` are sent the same way
(``tenants.request_transaction``); once the ``COMMIT`` is (or once the request's tenant
context has ended), ``forbid_more`` makes ``collect_first`` refuse any statement.
"""

from __future__ import annotations

from typing import Any

from psycopg import errors, pq

from tenants.sqlscript import (
    flush,
    next_result,
    prepared,
    read_pipelined,
    reused_cursor,
    send_pipelined,
)

_IN_FLIGHT = "sent_ahead_in_flight"  # False, True (a simple-protocol message) or _PIPELINE
_PIPELINE = "pipeline"
_LAST = "sent_ahead_last"


class StatementAfterLast(RuntimeError):
    """A statement came after the one that was to be the connection's last for now (the
    request's ``COMMIT`` is in flight)."""


def send(connection: Any, sql: str, params: dict[str, Any], *, then: str = "") -> None:
    """Send ``sql`` with ``params`` on Django's ``connection`` and return at once. Reads the
    answer of an earlier one first. ``then``: SQL with nothing to bind, sent after it (run
    only if it succeeds).

    ``sql`` (``%(name)s`` placeholders) is sent as a call of a prepared statement of the
    session, bound by name (``sqlscript.prepared``; prepared with a round trip of its own the
    first time): the access event is sent ahead on every request, and parsing and planning its
    INSERT each time cost the server more than running it."""
    with reused_cursor(connection) as cursor:
        statement = prepared(cursor, sql, params)
    collect(connection)
    send_pipelined(connection.connection, [statement], then=then)
    setattr(connection, _IN_FLIGHT, _PIPELINE)


def send_text(connection: Any, text: str) -> None:
    """Send ``text``, complete SQL with nothing to bind, as ``send`` does."""
    collect(connection)
    raw = connection.connection
    pgconn = raw.pgconn
    pgconn.send_query(text.encode(raw.info.encoding))
    flush(pgconn)  # a non-blocking connection may keep part of it buffered
    setattr(connection, _IN_FLIGHT, True)


def collect(connection: Any, *, raise_errors: bool = True) -> errors.Error | None:
    """Read the answer of the statement in flight on ``connection``, if there is one, waiting
    for it if it has not arrived. Its error is raised (as Django raises database errors) unless
    ``raise_errors`` is False (the transaction is failing anyway): then it is returned."""
    in_flight = getattr(connection, _IN_FLIGHT, False)
    if not in_flight:
        return None
    setattr(connection, _IN_FLIGHT, False)
    raw = connection.connection
    failure: errors.Error | None = None
    if in_flight == _PIPELINE:
        _, failure = read_pipelined(raw, 1)
    else:
        pgconn = raw.pgconn
        while (result := next_result(pgconn)) is not None:
            if result.status == pq.ExecStatus.FATAL_ERROR and failure is None:
                failure = errors.error_from_result(result, encoding=raw.info.encoding)
    if failure is not None and raise_errors:
        with connection.wrap_database_errors:
            raise failure
    return failure


def forbid_more(connection: Any, why: str) -> None:
    """Until ``allow_more``, a statement through ``collect_first`` raises, naming ``why``."""
    setattr(connection, _LAST, why)


def allow_more(connection: Any) -> None:
    setattr(connection, _LAST, None)


def collect_first(execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    """Execute wrapper: the answer in flight is read before the connection's next statement."""
    connection = context["connection"]
    why = getattr(connection, _LAST, None)
    if why:
        raise StatementAfterLast(f"{why}; the database may not be used after it: {sql[:100]!r}")
    collect(connection)
    return execute(sql, params, many, context)
