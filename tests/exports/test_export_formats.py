"""JSONL and CSV exports: what they hold, round trips, and formula neutralisation."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from annotate.exports.queries import csv_cell
from tests.exports.conftest import INJECTIONS, SCHEMA, ExportWorld

Run = Callable[[str], tuple[Any, bytes]]


def test_jsonl_holds_every_item_with_history_reviews_who_and_when(
    eworld: ExportWorld, run_export: Run
) -> None:
    export, body = run_export("jsonl")
    lines = body.decode().split("\n")
    assert lines[-1] == ""  # newline-terminated
    records = [json.loads(line) for line in lines[:-1]]
    items = eworld.items
    # Import order, every item once, nothing of tenant B.
    assert [r["external_id"] for r in records] == [
        "ext-corrected",
        "@ext",
        "ext-tricky",
        "ext-empty",
    ]
    assert b"b secret" not in body
    assert (export.items_total, export.items_written, export.rows_written) == (4, 4, 4)
    assert export.bytes_written == len(body)
    assert export.content_sha256 == hashlib.sha256(body).hexdigest()

    first = records[0]
    assert set(first) == {
        "id",
        "external_id",
        "dataset_id",
        "data",
        "status",
        "priority",
        "created_at",
        "agreement",
        "annotations",
    }
    assert first["id"] == str(items["corrected"].id)
    assert first["dataset_id"] == str(items["corrected"].dataset_id)
    assert (first["data"], first["status"], first["priority"]) == (
        {"text": "The corrected one"},
        "completed",
        1,
    )
    assert first["agreement"] is None
    v1, v2, other = first["annotations"]
    a = eworld.annotations
    # The history: the corrected version, then the reviewer's correction pointing at it.
    assert (v1["id"], v1["version"], v1["parent_id"], v1["status"], v1["author"]) == (
        str(a["v1"].id),
        1,
        None,
        "superseded",
        "a-annotator",
    )
    assert (v2["id"], v2["version"], v2["parent_id"], v2["status"], v2["author"]) == (
        str(a["v2"].id),
        2,
        str(a["v1"].id),
        "accepted",
        "a-reviewer",
    )
    assert v2["result"] == {"topics": ["a", "b"], "note": "fixed", "stars": 4}
    assert v1["lead_time_ms"] == 1200 and v1["gold_score"] is None
    assert [
        (r["decision"], r["reviewer"], r["comment"], r["correction_id"]) for r in v1["reviews"]
    ] == [("correct", "a-reviewer", "b applies too", str(a["v2"].id))]
    assert v1["reviews"][0]["created_at"].endswith("+00:00")
    assert v2["reviews"] == []
    assert (other["author"], other["gold_score"], other["version"]) == ("a-annotator2", 0.5, 1)
    assert [(r["decision"], r["reviewer"]) for r in other["reviews"]] == [("accept", "a-reviewer")]
    # Times are ISO 8601 with their offset.
    assert "T" in v1["created_at"] and v1["created_at"].endswith("+00:00")

    # JSON survives quotes, newlines, tabs and non-ASCII text, one physical line per item.
    tricky = records[2]
    assert tricky["data"]["text"] == 'He said "hi", then\nleft; ünïcødé, tab\there'
    assert tricky["annotations"][0]["result"]["note"] == 'quote " comma , newline\r\nend'
    assert records[3]["annotations"] == []


def _csv(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))


def test_csv_one_row_per_annotation_with_label_columns(
    eworld: ExportWorld, run_export: Run
) -> None:
    export, body = run_export("csv")
    rows = _csv(body)
    header = body.split(b"\r\n", 1)[0].decode()
    assert next(csv.reader([header])) == [
        "item_id",
        "external_id",
        "data",
        "annotation_id",
        "version",
        "author",
        "status",
        "result",
        "label.topics",
        "label.note",
        "label.stars",
        "created_at",
        "reviewed_by",
        "review_decision",
    ]
    a, items = eworld.annotations, eworld.items
    # 3 annotations of the corrected item, 1 each for the next two, 1 empty row for the last.
    assert [r["annotation_id"] for r in rows] == [
        str(a["v1"].id),
        str(a["v2"].id),
        str(a["other"].id),
        str(a["formulas"].id),
        str(a["tricky"].id),
        "",
    ]
    assert (export.items_written, export.rows_written) == (4, 6)
    assert export.bytes_written == len(body)
    v1, v2, other = rows[0], rows[1], rows[2]
    assert v1["item_id"] == str(items["corrected"].id)
    assert json.loads(v1["data"]) == {"text": "The corrected one"}
    assert json.loads(v2["result"]) == {"topics": ["a", "b"], "note": "fixed", "stars": 4}
    assert (v2["label.topics"], v2["label.note"], v2["label.stars"]) == ("a|b", "fixed", "4")
    assert (v1["version"], v1["author"], v1["status"]) == ("1", "a-annotator", "superseded")
    assert (v1["reviewed_by"], v1["review_decision"]) == ("a-reviewer", "correct")
    assert (v2["reviewed_by"], v2["review_decision"]) == ("", "")
    assert (other["reviewed_by"], other["review_decision"]) == ("a-reviewer", "accept")
    assert "T" in v1["created_at"]
    # Quotes, commas and newlines inside cells round-trip.
    tricky = rows[4]
    assert json.loads(tricky["data"])["text"] == 'He said "hi", then\nleft; ünïcødé, tab\there'
    assert tricky["label.note"] == 'quote " comma , newline\r\nend'
    assert tricky["label.topics"] == ""
    empty = rows[5]
    assert empty["external_id"] == "ext-empty"
    assert all(empty[k] == "" for k in ("version", "author", "result", "label.topics"))
    assert b"b secret" not in body


def test_csv_is_rfc_4180(eworld: ExportWorld, run_export: Run) -> None:
    """Records end with CRLF, every non-empty cell is quoted with inner quotes doubled, every
    record has the header's number of fields, and strict parsing accepts the file."""
    _, body = run_export("csv")
    text = body.decode("utf-8")
    assert text.endswith("\r\n")
    records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    assert len({len(r) for r in records}) == 1
    # Outside quoted cells, every line break is CRLF (a bare LF only inside a quoted cell).
    in_quotes, previous = False, ""
    for char in text:
        if char == '"':
            in_quotes = not in_quotes
        elif char == "\n" and not in_quotes:
            assert previous == "\r"
        previous = char
    assert not in_quotes


def test_csv_neutralises_formulas(eworld: ExportWorld, run_export: Run) -> None:
    _, body = run_export("csv")
    row = _csv(body)[3]
    assert row["external_id"] == "'@ext"
    assert row["label.note"] == "'" + INJECTIONS[0]
    assert row["label.topics"] == "'=c"
    assert json.loads(row["data"]) == {"text": INJECTIONS[1]}  # JSON text starts with "{"
    for cells in _csv(body):
        for value in cells.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value


@pytest.mark.parametrize("value", [*INJECTIONS, "plain", "", 'q"uote', "-"])
def test_python_and_sql_cells_agree(value: str, django_db_blocker: Any) -> None:
    """The header is quoted in Python, the rows in SQL: both follow the same rule."""
    from django.db import connection
    from psycopg import sql

    from annotate.exports.queries import _cell

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        raw = connection.connection
        with raw.cursor() as cur:
            cur.execute(sql.SQL("SELECT {}").format(_cell(sql.Literal(value))))
            (from_sql,) = cur.fetchone()
        del cursor
    assert from_sql == csv_cell(value)
    parsed = next(csv.reader([from_sql]))[0] if from_sql else ""
    expected = "'" + value if value.startswith(("=", "+", "-", "@", "\t", "\r")) else value
    assert parsed == expected


def test_schema_label_fields_make_the_columns() -> None:
    from annotate.exports.queries import csv_header

    assert csv_header(SCHEMA)[8:11] == ["label.topics", "label.note", "label.stars"]
    assert csv_header({"version": 1, "fields": []})[-3:] == [
        "created_at",
        "reviewed_by",
        "review_decision",
    ]


def test_jsonl_carries_the_items_agreement_once_computed(
    eworld: ExportWorld, run_export: Run
) -> None:
    from annotate.models import ItemAgreement
    from tenants.scoping import tenant_context

    fields = {"topics": {"pairs": 1, "agree": 0, "coincidences": {"a\u001fb": 1.0}}}
    with tenant_context(eworld.w.a.id):
        ItemAgreement.objects.create(
            project=eworld.w.project_a, item=eworld.items["corrected"], results=2, fields=fields
        )
    _, body = run_export("jsonl")
    records = [json.loads(line) for line in body.decode().splitlines()]
    agreement = records[0]["agreement"]
    assert (agreement["results"], agreement["fields"]) == (2, fields)
    assert agreement["computed_at"].endswith("+00:00")
    assert [r["agreement"] for r in records[1:]] == [None, None, None]
