"""The export's plan does not depend on fresh statistics: right after a bulk of annotations,
before autovacuum has analyzed them, the per-item lookups still use the indexes (on statistics
that call a table nearly empty, PostgreSQL chose a sequential scan of it per item or per
annotation: quadratic; 90 items/s in a test)."""

from __future__ import annotations

import psycopg
from django.db import connection

from annotate.exports.queries import csv_query, jsonl_query
from annotate.exports.services import export_plan_settings
from annotate.models import Dataset
from tenants.scoping import tenant_context
from tests.conftest import owner_conninfo
from tests.exports.conftest import BULK_ANNOTATIONS, BULK_ITEMS, ExportWorld

N = 3_000


def _plan(eworld: ExportWorld, *, settings: bool, fmt: str) -> str:
    w = eworld.w
    with tenant_context(w.a.id), connection.cursor() as cursor:
        if settings:
            export_plan_settings(cursor)
        if fmt == "jsonl":
            query = jsonl_query(tenant_id=w.a.id, project_id=w.project_a.id)
        else:
            query = csv_query(
                tenant_id=w.a.id, project_id=w.project_a.id, schema=w.project_a.label_schema
            )
        cursor.execute(b"EXPLAIN " + query.as_bytes(cursor.connection))
        return "\n".join(row[0] for row in cursor.fetchall())


def test_export_plan_uses_the_indexes_on_stale_statistics(eworld: ExportWorld) -> None:
    w = eworld.w
    # Statistics taken while the project had a handful of annotations...
    with psycopg.connect(owner_conninfo(), autocommit=True) as owner:
        owner.execute("ANALYZE annotate_item, annotate_annotation, annotate_review")
    # ...then a bulk of annotated items that no ANALYZE has seen.
    params = {"t": w.a.id, "p": w.project_a.id, "n": N, "a": w.m("a", "annotator").user_id}
    with tenant_context(w.a.id), connection.cursor() as cursor:
        params["d"] = Dataset.objects.create(project=w.project_a, name="bulk").id
        cursor.execute(BULK_ITEMS, params)
        cursor.execute(BULK_ANNOTATIONS, params)
    for fmt in ("jsonl", "csv"):
        # Without the settings, on these statistics, PostgreSQL 16 scans the reviews table
        # once per annotation ("Seq Scan on annotate_review" under the nested loop).
        plan = _plan(eworld, settings=True, fmt=fmt)
        assert "Seq Scan" not in plan, plan
        assert "Hash" not in plan and "Merge" not in plan, plan
