"""Several SQL statements in one round trip, for the request hot paths.

A transaction-local ``set_config`` must run *before* the query whose row-level-security policy
reads it. Within one statement PostgreSQL does not promise that order, so the two stay separate
statements; sent together in one simple-protocol message they still cost one round trip and one
``execute`` (Django's client-side binding cursors, the default, use that protocol). Outside a
transaction the statements of one message form one implicit transaction, so a transaction-local
setting made by the first dies with the last.

With server-side binding (``OPTIONS: {"server_side_binding": True}``) a message may hold only
one statement: the statements are then executed one by one, with the same results.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import psycopg
from django.db import transaction

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
            results.append(cursor.fetchall() if cursor.description is not None else [])
            if not cursor.nextset():
                break
        return results
    results = []
    # One transaction for all, as the single message would have had.
    with transaction.atomic(using=cursor.db.alias):
        for sql, params in statements:
            cursor.execute(sql, params)
            results.append(cursor.fetchall() if cursor.description is not None else [])
    return results


def select_list(model: Any, alias: str, *, exclude: Sequence[str] = ()) -> tuple[list[Any], str]:
    """The model's concrete fields (less ``exclude``, by attribute name) and the SQL that
    selects them from ``alias``, for ``from_row``."""
    fields = [f for f in model._meta.concrete_fields if f.attname not in exclude]
    return fields, ", ".join(f'{alias}."{f.column}"' for f in fields)


def from_row(model: Any, fields: Sequence[Any], values: Sequence[Any], connection: Any) -> Any:
    """A model instance from raw column values, converted as the ORM converts them (JSON
    columns arrive as text); fields left out are deferred (loaded on access)."""
    order = _field_order(model)
    pairs = sorted(zip(fields, values, strict=True), key=lambda pair: order[pair[0].attname])
    converted = [
        f.from_db_value(v, None, connection) if v is not None and hasattr(f, "from_db_value") else v
        for f, v in pairs
    ]
    # from_db takes the values in the model's field order.
    return model.from_db(connection.alias, [f.attname for f, _ in pairs], converted)


@functools.cache
def _field_order(model: Any) -> dict[str, int]:
    return {f.attname: i for i, f in enumerate(model._meta.concrete_fields)}


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
