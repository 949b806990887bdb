"""The export queries: PostgreSQL builds every output line, Python only moves bytes.

Both queries walk the project's items in id order (UUIDv7: import order) and fetch each item's
annotations (and each annotation's reviews) through a ``LATERAL`` subquery on their
``(tenant, item)`` / ``(tenant, annotation)`` indexes. The plan is a nested loop whatever the
statistics say (no hash of the whole project that a stale estimate could blow up, no sort of
the built lines), so rows come out already grouped and ordered, the first one at once, and stream
through ``COPY … TO STDOUT`` with memory flat in the number of items.

Row-level security applies as everywhere (the worker connects as the application role inside
``tenant_context``); the explicit ``tenant_id`` predicates are there for the indexes.

Every value is composed with ``psycopg.sql.Literal`` (ids, label-field names), never
interpolated as text.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.apps import apps
from psycopg import sql


def agreement_sql() -> str:
    """The item's agreement as JSON: its ``ItemAgreement`` row (computed by a worker when the
    item completes) as ``{"results", "fields", "computed_at"}``, or null when not computed.

    NOTE: a hook on purpose. Exports must not wait for agreement to exist: without the model
    (older schema) every item exports ``"agreement": null``.
    """
    try:
        model = apps.get_model("annotate", "ItemAgreement")
    except LookupError:
        return "NULL::json"
    return (
        "(SELECT json_build_object('results', g.results, 'fields', g.fields, "
        f"'computed_at', g.computed_at) FROM {model._meta.db_table} g "
        "WHERE g.tenant_id = i.tenant_id AND g.item_id = i.id)"
    )


# OWASP "CSV injection": a cell that a spreadsheet could read as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# Fixed CSV columns, in order; the label-field columns ("label.<name>") go after "result".
CSV_HEAD = (
    "item_id",
    "external_id",
    "data",
    "annotation_id",
    "version",
    "author",
    "status",
    "result",
)
CSV_TAIL = ("created_at", "reviewed_by", "review_decision")

_REVIEWS_JSON = """
    SELECT json_agg(json_build_object(
               'decision', r.decision,
               'reviewer', ru.username,
               'comment', r.comment,
               'correction_id', r.correction_id,
               'created_at', r.created_at)
             ORDER BY r.created_at, r.id) AS list
      FROM annotate_review r
      JOIN auth_user ru ON ru.id = r.reviewer_id
     WHERE r.tenant_id = a.tenant_id AND r.annotation_id = a.id
"""

JSONL_SQL = f"""
SELECT json_build_object(
           'id', i.id,
           'external_id', i.external_id,
           'dataset_id', i.dataset_id,
           'data', i.data,
           'status', i.status,
           'priority', i.priority,
           'created_at', i.created_at,
           'agreement', {{agreement}},
           'annotations', coalesce(an.list, '[]'::json))::text
  FROM annotate_item i
  LEFT JOIN LATERAL (
       SELECT json_agg(json_build_object(
                  'id', a.id,
                  'version', a.version,
                  'parent_id', a.parent_id,
                  'author', u.username,
                  'status', a.status,
                  'result', a.result,
                  'created_at', a.created_at,
                  'lead_time_ms', a.lead_time_ms,
                  'gold_score', a.gold_score,
                  'reviews', coalesce(rv.list, '[]'::json))
                ORDER BY a.created_at, a.id) AS list
         FROM annotate_annotation a
         JOIN auth_user u ON u.id = a.author_id
         LEFT JOIN LATERAL ({_REVIEWS_JSON}) rv ON true
        WHERE a.tenant_id = i.tenant_id AND a.item_id = i.id
  ) an ON true
 WHERE i.tenant_id = {{tenant}} AND i.project_id = {{project}}
 ORDER BY i.id
"""


def jsonl_query(*, tenant_id: uuid.UUID, project_id: uuid.UUID) -> sql.Composed:
    """One row per item: ``(line text)``, the item's JSON object (no newline)."""
    return sql.SQL(JSONL_SQL).format(
        agreement=sql.SQL(agreement_sql()),  # type: ignore[arg-type]
        tenant=sql.Literal(tenant_id),
        project=sql.Literal(project_id),
    )


def label_fields(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """``(name, type)`` of the label schema's fields, in schema order."""
    fields = schema.get("fields") if isinstance(schema, dict) else None
    return [
        (str(f["name"]), str(f.get("type", "")))
        for f in (fields or [])
        if isinstance(f, dict) and f.get("name")
    ]


def csv_header(schema: dict[str, Any]) -> list[str]:
    return [*CSV_HEAD, *(f"label.{name}" for name, _ in label_fields(schema)), *CSV_TAIL]


def _label_value(name: str, kind: str) -> sql.Composable:
    """The field's value as text: choices joined by ``|``, strings as they are, anything else
    (numbers, spans, boxes) as its JSON text; absent or null: empty."""
    value = sql.SQL("a.result -> {}").format(sql.Literal(name))
    if kind == "choices":
        return sql.SQL(
            "CASE WHEN jsonb_typeof({v}) = 'array' "
            "THEN array_to_string(ARRAY(SELECT jsonb_array_elements_text({v})), '|') "
            "ELSE a.result ->> {n} END"
        ).format(v=value, n=sql.Literal(name))
    return sql.SQL("a.result ->> {}").format(sql.Literal(name))


def _cell(column: sql.Composable) -> sql.Composable:
    """One RFC 4180 cell: NULL is empty; anything else is quoted (quotes doubled), and a value a
    spreadsheet would read as a formula is prefixed with a single quote."""
    starts = sql.SQL(", ").join(sql.Literal(c) for c in FORMULA_STARTS)
    return sql.SQL(
        "coalesce('\"' || replace("
        "CASE WHEN left({c}, 1) IN ({starts}) THEN '''' || {c} ELSE {c} END, "
        "'\"', '\"\"') || '\"', '')"
    ).format(c=column, starts=starts)


def csv_query(
    *, tenant_id: uuid.UUID, project_id: uuid.UUID, schema: dict[str, Any]
) -> sql.Composed:
    """One row per annotation (an item without any: one row, annotation cells empty):
    ``(item id text, line text)``, the line an RFC 4180 record without its CRLF.

    The inner query computes each value once (``OFFSET 0`` keeps the planner from folding it
    into the outer one, which would evaluate each value several times in ``_cell``)."""
    labels = label_fields(schema)
    inner_columns = [
        sql.SQL("i.id::text AS item_id"),
        sql.SQL("i.external_id AS external_id"),
        sql.SQL("i.data::text AS data"),
        sql.SQL("a.id::text AS annotation_id"),
        sql.SQL("a.version::text AS version"),
        sql.SQL("a.author AS author"),
        sql.SQL("a.status AS status"),
        sql.SQL("a.result_text AS result"),
        *(
            sql.SQL("a.{} AS {}").format(sql.Identifier(f"l{n}"), sql.Identifier(f"l{n}"))
            for n in range(len(labels))
        ),
        sql.SQL("to_json(a.created_at) #>> '{}' AS created_at"),
        sql.SQL("a.reviewer AS reviewed_by"),
        sql.SQL("a.decision AS review_decision"),
    ]
    label_columns = [
        sql.SQL("{} AS {}").format(_label_value(name, kind), sql.Identifier(f"l{n}"))
        for n, (name, kind) in enumerate(labels)
    ]
    outer_names = [
        "item_id",
        "external_id",
        "data",
        "annotation_id",
        "version",
        "author",
        "status",
        "result",
        *(f"l{n}" for n in range(len(labels))),
        "created_at",
        "reviewed_by",
        "review_decision",
    ]
    line = sql.SQL("concat_ws(',', {})").format(
        sql.SQL(", ").join(_cell(sql.Identifier("r", name)) for name in outer_names)
    )
    annotation_select = sql.SQL(", ").join(
        [
            sql.SQL("a.id, a.version, u.username AS author, a.status"),
            sql.SQL("a.result::text AS result_text"),
            *label_columns,
            sql.SQL("a.created_at, rv.reviewer, rv.decision"),
        ]
    )
    return sql.SQL(
        """
SELECT r.item_id, {line}
  FROM (
       SELECT {inner}
         FROM annotate_item i
         LEFT JOIN LATERAL (
              SELECT {annotation_select}
                FROM annotate_annotation a
                JOIN auth_user u ON u.id = a.author_id
                LEFT JOIN LATERAL (
                     SELECT ru.username AS reviewer, r.decision
                       FROM annotate_review r
                       JOIN auth_user ru ON ru.id = r.reviewer_id
                      WHERE r.tenant_id = a.tenant_id AND r.annotation_id = a.id
                      ORDER BY r.created_at DESC, r.id DESC
                      LIMIT 1
                ) rv ON true
               WHERE a.tenant_id = i.tenant_id AND a.item_id = i.id
               ORDER BY a.created_at, a.id
         ) a ON true
        WHERE i.tenant_id = {tenant} AND i.project_id = {project}
        ORDER BY i.id
       OFFSET 0
  ) r
"""
    ).format(
        line=line,
        inner=sql.SQL(", ").join(inner_columns),
        annotation_select=annotation_select,
        tenant=sql.Literal(tenant_id),
        project=sql.Literal(project_id),
    )


def csv_cell(value: str) -> str:
    """The Python twin of ``_cell`` (for the header line)."""
    if value.startswith(FORMULA_STARTS):
        value = "'" + value
    return '"' + value.replace('"', '""') + '"'
