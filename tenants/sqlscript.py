"""Several SQL statements in one round trip, for the request hot paths.

A transaction-local ``set_config`` must run *before* the query whose row-level-security policy
reads it. Within one statement PostgreSQL does not promise that order, so the two stay separate
statements. On Django's client-side-binding connections (the default) a script's statements,
each made by ``prepared()``, are bound and executed by name (the extended protocol, the values
sent apart from the SQL, nothing quoted into it), all in one libpq pipeline: one round trip,
answered in order. Until the Sync that ends the pipeline they form one implicit transaction
outside a transaction block, so a transaction-local setting made by the first dies with the
last. (They went out as one simple-protocol message of ``EXECUTE`` texts before: binding the
values client-side and quoting them into that text, about 110 values a request, had been the
largest single cost of the web process's Python on the hot path, and psycopg's cursor
machinery around each script the next: docs/distribution.md, "Performance", item 22.)

Server-side binding (``OPTIONS: {"server_side_binding": True}``) allows no such pipeline of
statements bound by name: ``annotate.settings.database`` refuses it.

``prepared()`` turns a statement that runs on every request into a named prepared statement of
the connection (planned once per connection, not per call: for the larger hot-path queries,
planning cost more than executing). Prepared statements outlive transactions, rolled back or
not, and die with the connection. The connection's ``plan_cache_mode=force_generic_plan``
(``annotate.settings.database``) keeps it to one plan: PostgreSQL's own heuristic re-planned
the larger ones on every call when their generic plan looked dearer than a custom one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import select
import time
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from django.db.models import signals
from django.db.models.base import ModelState
from psycopg import postgres, pq
from psycopg.adapt import AdaptersMap, PyFormat, Transformer


def run_script(cursor: Any, statements: Sequence[Prepared]) -> list[list[tuple[Any, ...]]]:
    """Execute ``statements`` (each made by ``prepared()`` or ``set_local()``) in order on
    ``cursor`` (a Django cursor) and return every statement's rows (an empty list for
    statements that return none).

    Guarantees: each statement sees the effects of the ones before it, and an error in any
    statement raises, with the later ones not executed."""
    for statement in statements:
        if type(statement) is not Prepared:
            raise TypeError(
                "run_script takes statements made by prepared() on this connection, not "
                f"{statement[0][:80]!r}"
            )
    return _run_pipelined(cursor, statements)


def _require_client_binding(raw: Any) -> None:
    if not isinstance(raw, psycopg.ClientCursor):
        raise TypeError(
            "tenants.sqlscript needs a client-side-binding cursor (psycopg.ClientCursor), not "
            f"{type(raw).__name__}: annotate.settings.database refuses server_side_binding"
        )


@contextlib.contextmanager
def reused_cursor(connection: Any) -> Iterator[Any]:
    """A cursor of ``connection`` that the hot path's statements share, left open at the end
    of the block: building a cursor (Django's wrapper, psycopg's, and psycopg's per-cursor
    cache of adapters) cost about as much as binding a statement's parameters, several times
    per request. Replaced when the connection is (a new session); not shared when queries are
    being logged (``DEBUG``, ``CaptureQueriesContext``), which want a cursor of their own."""
    connection = unproxied(connection)
    if connection.queries_logged:
        with connection.cursor() as cursor:
            yield cursor
        return
    cursor = getattr(connection, _REUSED, None)
    if cursor is None or cursor.cursor.connection is not connection.connection or cursor.closed:
        cursor = connection.cursor()
        setattr(connection, _REUSED, cursor)
    yield cursor


_REUSED = "sqlscript_reused_cursor"


def unproxied(connection: Any) -> Any:
    """The connection itself for ``django.db.connection`` (a proxy that looks the thread's
    connection up again on every attribute it is asked for), or ``connection`` as given."""
    namespace = connection.__dict__
    if "_connections" in namespace:
        return namespace["_connections"][namespace["_alias"]]
    return connection


def select_list(model: Any, alias: str, *, exclude: Sequence[str] = ()) -> tuple[list[Any], str]:
    """The model's concrete fields (less ``exclude``, by attribute name) and the SQL that
    selects them from ``alias``, for ``from_row``."""
    fields = [f for f in model._meta.concrete_fields if f.attname not in exclude]
    return fields, ", ".join(f'{alias}."{f.column}"' for f in fields)


def from_row(model: Any, fields: Sequence[Any], values: Sequence[Any], connection: Any) -> Any:
    """A model instance from raw column values, converted as the ORM converts them (JSON
    columns arrive as text); fields left out are deferred (loaded on access).

    What ``Model.from_db`` makes, without ``Model.__init__``'s pass over every field (a tenth
    of a hot-path request's Python, at nine instances per request): the values go straight
    into the instance's ``__dict__``, where the ORM's deferred loading and unpickling put
    them. A model with ``pre_init``/``post_init`` receivers goes through ``from_db``."""
    connection = unproxied(connection)
    plan = _row_plans.get((model, id(fields)))
    if plan is None or plan[0] is not fields:
        plan = (fields, *_row_plan(model, tuple(fields)))
        if len(_row_plans) < _ROW_PLANS_KEPT:  # callers pass constant lists; others pay
            _row_plans[model, id(fields)] = plan
    _, names, converters = plan
    converted = [
        v if c is None or v is None else c(v, None, connection)
        for c, v in zip(converters, values, strict=True)
    ]
    if signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):
        # from_db takes the values in the model's field order.
        order = {f.attname: i for i, f in enumerate(model._meta.concrete_fields)}
        pairs = sorted(zip(names, converted, strict=True), key=lambda pair: order[pair[0]])
        return model.from_db(connection.alias, [n for n, _ in pairs], [v for _, v in pairs])
    obj = model.__new__(model)
    state = obj._state = ModelState()
    state.adding = False
    state.db = connection.alias
    obj.__dict__.update(zip(names, converted, strict=True))
    return obj


# By the identity of the field list the caller keeps (select_list's), kept alive here:
# hashing a tuple of fields on every call cost more than the look-up it saved.
_row_plans: dict[tuple[Any, int], tuple[Sequence[Any], tuple[str, ...], tuple[Any, ...]]] = {}
_ROW_PLANS_KEPT = 256


def _row_plan(model: Any, fields: tuple[Any, ...]) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """For ``from_row``: the fields' attribute names and their ``from_db_value`` converters
    (None where there is none)."""
    names = tuple(f.attname for f in fields)
    concrete = {f.attname for f in model._meta.concrete_fields}
    if len(set(names)) != len(names) or not set(names) <= concrete:
        raise ValueError(f"{model.__name__}: not distinct concrete fields of it: {names}")
    return names, tuple(getattr(f, "from_db_value", None) for f in fields)


def insert_parts(obj: Any, connection: Any) -> tuple[str, str, dict[str, Any]]:
    """For a raw INSERT of a new model instance: its column list, the matching named
    placeholders (``%(f_<column>)s``) and their values, prepared as the ORM prepares them.
    Every concrete column is listed: a raw INSERT gets no Python-side defaults otherwise (they
    were applied when ``obj`` was built)."""
    fields = obj._meta.concrete_fields
    columns = ", ".join(f'"{f.column}"' for f in fields)
    placeholders = ", ".join(f"%(f_{f.column})s" for f in fields)
    params = {
        f"f_{f.column}": f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields
    }
    return columns, placeholders, params


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


class Prepared(tuple[str, list[Any]]):
    """A prepared statement's call, as ``prepared()`` makes it: ``(EXECUTE text, arguments)``
    (what ``cursor.execute`` would take, e.g. behind an ``EXPLAIN``), and ``name``, the
    statement's name as bytes, for binding by name."""

    name: bytes

    def __new__(cls, execute: str, arguments: list[Any], name: bytes) -> Prepared:
        statement = super().__new__(cls, (execute, arguments))
        statement.name = name
        return statement


class _Session:
    """What this module keeps per database session (psycopg connection): the names prepared
    on it, and one ``Transformer`` (psycopg's adapters for binding and loading, looked up by
    type and kept: one per script cost about as much as the binding it did)."""

    __slots__ = ("prepared", "transformer")

    def __init__(self, raw: Any) -> None:
        self.prepared: set[str] = set()
        self.transformer = Transformer(_LoadingContext(raw))


_TIMESTAMPTZ = postgres.types["timestamptz"].oid


class _LoadingContext:
    """The adapters a session's ``Transformer`` uses: the connection's (Django's included),
    but with psycopg's own ``timestamptz`` loader, written in C, where it gives exactly what
    Django's would. Django registers a Python subclass of psycopg's pure-Python loader (to
    force the time zone Django wants), so every timestamp a hot-path row carried, about
    fourteen a request, was parsed in Python (5-7 % of the web process's samples in py-spy;
    0.16 ms of CPU per request less without it, docs/distribution.md item 26). psycopg's
    loader attaches the session's ``TimeZone``, which Django set to its own time zone when it
    opened the connection (UTC): when the two agree, the datetimes are equal, with the same
    ``tzinfo``. Otherwise Django's loader stays. A later ``SET TIME ZONE`` on the session is
    not followed (nothing in the application runs one)."""

    __slots__ = ("adapters", "connection")

    def __init__(self, raw: Any) -> None:
        self.connection = raw
        self.adapters = raw.adapters
        django_loader = raw.adapters.get_loader(_TIMESTAMPTZ, pq.Format.TEXT)
        c_loader = psycopg.adapters.get_loader(_TIMESTAMPTZ, pq.Format.TEXT)
        wanted = getattr(django_loader, "timezone", None)
        if (
            c_loader is not None
            and c_loader is not django_loader
            and wanted is not None
            and wanted == raw.info.timezone
        ):
            self.adapters = AdaptersMap(raw.adapters)
            self.adapters.register_loader(_TIMESTAMPTZ, c_loader)


_sessions: weakref.WeakKeyDictionary[Any, _Session] = weakref.WeakKeyDictionary()


def _session(raw: Any) -> _Session:
    session = _sessions.get(raw)
    if session is None:
        session = _sessions[raw] = _Session(raw)
    return session


@functools.cache
def _positional(sql: str) -> tuple[str, str, tuple[str, ...], str]:
    """``sql`` with ``%(name)s`` placeholders as ``$n``, a statement name, the names in ``$n``
    order, and the ``EXECUTE`` that calls it with ``%s`` arguments."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    positional = _PLACEHOLDER.sub(number, sql)
    name = "ann_" + hashlib.sha256(positional.encode()).hexdigest()[:16]
    execute = f"EXECUTE {name}({', '.join(['%s'] * len(names))})"
    return positional, name, tuple(names), execute


def prepared(cursor: Any, sql: str, params: dict[str, Any]) -> Prepared:
    """The statement ``(sql, params)`` as a call of a prepared statement of this connection
    (a ``Prepared``), prepared now if it was not yet (one extra round trip per connection).

    ``sql`` uses ``%(name)s`` placeholders; a parameter whose type PostgreSQL cannot infer
    from its place (a bare select-list value) must carry a cast in ``sql``."""
    raw = cursor.cursor
    _require_client_binding(raw)
    positional, name, names, execute = _positional(sql)
    done = _session(raw.connection).prepared
    if name not in done:
        cursor.execute(f"PREPARE {name} AS {positional}")
        done.add(name)
    return Prepared(execute, [params[key] for key in names], name.encode())


SET_LOCAL = "SELECT set_config(%(name)s, %(value)s, true)"


def set_local(cursor: Any, name: str, value: str) -> Prepared:
    """The statement setting ``name`` to ``value`` for the transaction, prepared (see
    ``prepared``): a script's settings run on every request."""
    return prepared(cursor, SET_LOCAL, {"name": name, "value": value})


def execute_prepared(cursor: Any, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Execute ``sql`` with ``params`` as a prepared statement (see ``prepared``) and return
    its rows (none for a statement that returns none)."""
    return run_script(cursor, [prepared(cursor, sql, params)])[0]


# -- prepared statements bound by name, in a pipeline --------------------------------------


def _run_pipelined(cursor: Any, statements: Sequence[Prepared]) -> list[list[tuple[Any, ...]]]:
    """``run_script`` for prepared statements: one pipeline, through the connection's execute
    wrappers (``sent_ahead.collect_first`` reads an answer in flight first) and, when queries
    are logged, into ``connection.queries_log`` as one entry (one round trip, as before)."""
    connection = cursor.db
    connection.validate_no_broken_transaction()
    if not connection.execute_wrappers and not connection.queries_logged:
        with connection.wrap_database_errors:
            return _pipeline(connection, statements)

    def execute(sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        with connection.wrap_database_errors:
            return _pipeline(connection, statements)

    executor = execute
    for wrapper in reversed(connection.execute_wrappers):
        executor = functools.partial(wrapper, executor)
    sql = ";\n".join(statement[0] for statement in statements)
    params = [value for statement in statements for value in statement[1]]
    context = {"connection": connection, "cursor": cursor}
    if not connection.queries_logged:
        return executor(sql, params, False, context)
    started = time.monotonic()
    try:
        return executor(sql, params, False, context)
    finally:
        logged = ";\n".join(cursor.cursor.mogrify(*statement) for statement in statements)
        connection.queries_log.append({"sql": logged, "time": f"{time.monotonic() - started:.3f}"})


def _pipeline(connection: Any, statements: Sequence[Prepared]) -> list[list[tuple[Any, ...]]]:
    raw = connection.connection
    send_pipelined(raw, statements)
    results, failure = read_pipelined(raw, len(statements))
    if failure is not None:
        raise failure
    return results


_TEXT = PyFormat.TEXT


def send_pipelined(raw: Any, statements: Sequence[Prepared], *, then: str = "") -> None:
    """Send ``statements`` (and ``then``, SQL with nothing to bind, run only if they succeed)
    on the psycopg connection ``raw`` as one pipeline, and return without reading: the answer
    must then be read with ``read_pipelined`` before anything else uses the connection.

    Values are bound as text, each parsed by the server as its parameter's type (the type
    PostgreSQL gave it when the statement was prepared), as a quoted literal was."""
    pgconn = raw.pgconn
    transformer = _session(raw).transformer
    pgconn.enter_pipeline_mode()
    try:
        for statement in statements:
            arguments = statement[1]
            values = transformer.dump_sequence(arguments, [_TEXT] * len(arguments))
            pgconn.send_query_prepared(statement.name, values)
        if then:
            pgconn.send_query_params(then.encode(), None)
        pgconn.pipeline_sync()
        flush(pgconn)
    except BaseException:
        _broken(raw)
        raise


def read_pipelined(
    raw: Any, count: int
) -> tuple[list[list[tuple[Any, ...]]], psycopg.Error | None]:
    """The rows of each of the ``count`` statements of the pipeline in flight on ``raw``
    (``then``'s, if any, are read and dropped), waiting for them, and the first statement's
    error, if one failed (the statements after it did not run); the pipeline is then over
    and psycopg may use the connection again. A lost connection raises."""
    pgconn = raw.pgconn
    transformer = _session(raw).transformer
    results: list[list[tuple[Any, ...]]] = []
    failure: psycopg.Error | None = None
    try:
        while True:
            result = next_result(pgconn)
            if result is None:
                if pgconn.status != pq.ConnStatus.OK:
                    raise psycopg.OperationalError(
                        f"the connection was lost: {pgconn.get_error_message().decode()}"
                    )
                continue  # the end of one statement's results
            status = result.status
            if status == pq.ExecStatus.PIPELINE_SYNC:
                break
            if status == pq.ExecStatus.TUPLES_OK:
                transformer.set_pgresult(result)
                results.append(transformer.load_rows(0, result.ntuples, tuple))
            elif status == pq.ExecStatus.FATAL_ERROR:
                if failure is None:
                    failure = psycopg.errors.error_from_result(result, encoding=raw.info.encoding)
                results.append([])
            else:  # COMMAND_OK, or PIPELINE_ABORTED after an error
                results.append([])
        pgconn.exit_pipeline_mode()
    except BaseException:
        _broken(raw)
        raise
    finally:
        transformer.set_pgresult(None)
    return results[:count], failure


def next_result(pgconn: Any) -> Any:
    """The next result of ``pgconn``, waiting for it without holding the GIL."""
    while pgconn.is_busy():
        _wait(pgconn.socket, select.POLLIN)
        pgconn.consume_input()
    return pgconn.get_result()


def flush(pgconn: Any) -> None:
    """Send what libpq holds buffered (the connection is non-blocking), reading as it goes
    so that the server, answering, never waits on us."""
    while pgconn.flush():
        if _wait(pgconn.socket, select.POLLIN | select.POLLOUT) & select.POLLIN:
            pgconn.consume_input()


def _wait(fd: int, events: int) -> int:
    poller = select.poll()
    poller.register(fd, events)
    return sum(ready for _, ready in poller.poll())


def _broken(raw: Any) -> None:
    """The pipeline failed half-way (the connection was lost, or an exception came while
    answers were pending): the session's state is unknown, so the connection is closed, as
    psycopg closes one it can no longer follow; Django replaces it."""
    raw.close()
