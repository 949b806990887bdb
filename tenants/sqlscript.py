"""Several SQL statements in one round trip, for the request hot paths.

A transaction-local ``set_config`` must run *before* the query whose row-level-security policy
reads it. Within one statement PostgreSQL does not promise that order, so the two stay separate
statements; sent together in one simple-protocol message they still cost one round trip and one
``execute`` (Django's client-side binding cursors, the default, use that protocol). Outside a
transaction the statements of one message form one implicit transaction, so a transaction-local
setting made by the first dies with the last.

With server-side binding (``OPTIONS: {"server_side_binding": True}``) a message may hold only
one statement: the statements are then executed one by one, with the same results.

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
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from django.db import transaction
from django.db.models import signals
from django.db.models.base import ModelState

Statement = tuple[str, Sequence[Any] | dict[str, Any] | None]


def run_script(cursor: Any, statements: Sequence[Statement]) -> list[list[tuple[Any, ...]]]:
    """Execute ``statements`` in order on ``cursor`` (a Django cursor) and return every
    statement's rows (an empty list for statements that return none).

    Guarantees: each statement sees the effects of the ones before it, and an error in any
    statement raises, with the later ones not executed."""
    raw = cursor.cursor
    if isinstance(raw, psycopg.ClientCursor):
        script = ";\n".join(raw.mogrify(sql, params) for sql, params in statements)
        cursor.execute(script)
        results = []
        while True:
            # The result's status, not ``description`` (which builds a column object each).
            returned = raw.pgresult.status == psycopg.pq.ExecStatus.TUPLES_OK
            results.append(raw.fetchall() if returned else [])
            if not raw.nextset():
                break
        return results
    results = []
    # One transaction for all, as the single message would have had.
    with transaction.atomic(using=cursor.db.alias):
        for sql, params in statements:
            cursor.execute(sql, params)
            results.append(cursor.fetchall() if cursor.description is not None else [])
    return results


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
# Names prepared on each database session (psycopg connection), by connection.
_prepared: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


@functools.cache
def _positional(sql: str) -> tuple[str, str, tuple[str, ...]]:
    """``sql`` with ``%(name)s`` placeholders as ``$n``, a statement name, and the names in
    ``$n`` order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    positional = _PLACEHOLDER.sub(number, sql)
    name = "ann_" + hashlib.sha256(positional.encode()).hexdigest()[:16]
    return positional, name, tuple(names)


def prepared(cursor: Any, sql: str, params: dict[str, Any]) -> Statement:
    """The statement ``(sql, params)`` as an ``EXECUTE`` of a prepared statement of this
    connection, prepared now if it was not yet (one extra round trip per connection).

    ``sql`` uses ``%(name)s`` placeholders; a parameter whose type PostgreSQL cannot infer
    from its place (a bare select-list value) must carry a cast in ``sql``. With server-side
    binding the statement is returned as it is (psycopg prepares repeated queries itself)."""
    raw = cursor.cursor
    if not isinstance(raw, psycopg.ClientCursor):
        return sql, params
    positional, name, names = _positional(sql)
    done = _prepared.setdefault(raw.connection, set())
    if name not in done:
        cursor.execute(f"PREPARE {name} AS {positional}")
        done.add(name)
    arguments = ", ".join(["%s"] * len(names))
    return f"EXECUTE {name}({arguments})", [params[key] for key in names]


SET_LOCAL = "SELECT set_config(%(name)s, %(value)s, true)"


def set_local(cursor: Any, name: str, value: str) -> Statement:
    """The statement setting ``name`` to ``value`` for the transaction, prepared (see
    ``prepared``): a script's settings run on every request."""
    return prepared(cursor, SET_LOCAL, {"name": name, "value": value})


def execute_prepared(cursor: Any, sql: str, params: dict[str, Any]) -> None:
    """Execute ``sql`` with ``params`` as a prepared statement (see ``prepared``); read the
    rows from ``cursor`` as usual."""
    statement, arguments = prepared(cursor, sql, params)
    cursor.execute(statement, arguments)
