"""The batched ingest: parsed in a thread, inserted batch by batch in one transaction.

Batches of three records here, so every file spans several; the result must be the one of a
single batch: the same items in the same order, the same errors, nothing written on failure,
and no parser thread left behind."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest

from annotate.models import Item
from annotate.services import ingest as ingest_module
from tenants.scoping import tenant_context
from tests.conftest import World
from tests.imports.conftest import item_count, jsonl


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest_module, "BATCH_ROWS", 3)
    monkeypatch.setattr(ingest_module, "_CHUNK_ROWS", 2)  # a batch: chunks of two and one


def _parser_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "import-parser" and t.is_alive()]


def _items(w: World) -> list[Item]:
    with tenant_context(w.a.id):
        return list(Item.objects.filter(project=w.project_a).order_by("queue_key"))


def test_a_file_of_many_batches_lands_whole_and_in_order(
    iworld: World, ingest: Any, small_batches: None
) -> None:
    interval = sys.getswitchinterval()
    job = ingest(jsonl([{"external_id": f"e{i}", "text": f"t{i}"} for i in range(11)]))
    assert job.state == "succeeded", job.errors
    items = _items(iworld)
    assert [i.external_id for i in items] == [f"e{i}" for i in range(11)]
    assert [i.seq for i in items] == list(range(1, 12))
    assert [i.data for i in items] == [{"text": f"t{i}"} for i in range(11)]
    assert sorted(str(i.id) for i in items) == [str(i.id) for i in items]  # uuid7, file order
    assert not _parser_threads()
    assert sys.getswitchinterval() == interval


def test_escapes_survive_the_copy_text_format(
    iworld: World, ingest: Any, small_batches: None
) -> None:
    texts = ["back\\slash", "tab\there", "new\nline", "cr\rhere", 'quote"s', "\\N", "é ü 漢"]
    job = ingest(jsonl([{"text": t} for t in texts]))
    assert job.state == "succeeded", job.errors
    assert [i.data["text"] for i in _items(iworld)] == texts
    csv_job = ingest(b'text,external_id\n"a\\b",c1\n"tab\there",c2\n', "csv")
    assert csv_job.state == "succeeded", csv_job.errors
    with tenant_context(iworld.a.id):
        assert {
            i.external_id: i.data["text"]
            for i in Item.objects.filter(dataset_id=csv_job.dataset_id)
        } == {
            "c1": "a\\b",
            "c2": "tab\there",
        }


def _errors_of(ingest: Any, body: bytes) -> tuple[int, list[dict[str, Any]]]:
    job = ingest(body)
    assert job.state == "failed"
    return job.error_count, job.errors


def test_duplicates_across_batches_are_reported_as_by_one_batch(
    iworld: World, ingest: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ingest(jsonl([{"external_id": "old", "text": "x"}])).state == "succeeded"
    records = [{"external_id": f"e{i}", "text": str(i)} for i in range(12)]
    records[7]["external_id"] = "e1"  # repeats line 2, two batches later
    records[10]["external_id"] = "old"  # already in the project, in the last batch
    records[11]["external_id"] = "e1"  # a third time
    body = jsonl(records)
    one_batch = _errors_of(ingest, body)
    monkeypatch.setattr(ingest_module, "BATCH_ROWS", 3)
    batched = _errors_of(ingest, body)
    assert batched == one_batch
    count, errors = batched
    assert count == 2
    assert [(e["line"], e["field"], e["message"]) for e in errors] == [
        (8, "external_id", "'e1' repeats line 2"),
        (11, "external_id", "'old' already exists in this project"),
    ]
    assert [i.external_id for i in _items(iworld)] == ["old"]
    assert not _parser_threads()


def test_an_error_in_a_late_batch_leaves_nothing(
    iworld: World, ingest: Any, small_batches: None
) -> None:
    records: list[dict[str, Any]] = [{"text": str(i)} for i in range(10)]
    records[8] = {"other": "x"}  # batch three: two batches were inserted already
    job = ingest(jsonl(records))
    assert job.state == "failed"
    assert [(e["line"], e["field"]) for e in job.errors] == [(9, "data.text")]
    assert item_count(iworld) == 0
    assert not _parser_threads()


def test_validation_errors_come_before_duplicates_as_before(
    iworld: World, ingest: Any, small_batches: None
) -> None:
    records: list[dict[str, Any]] = [{"external_id": "same", "text": str(i)} for i in range(4)]
    records += [{"text": "ok"}] * 4 + [{"text": 5}]
    job = ingest(jsonl(records))
    assert [(e["line"], e["field"]) for e in job.errors] == [(9, "data.text")]
    assert job.error_count == 1
    assert item_count(iworld) == 0


def test_a_database_error_mid_ingest_stops_the_parser_and_keeps_nothing(
    iworld: World, ingest: Any, small_batches: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The third batch (lines 7 to 9) fails in the database, after two were inserted.
    failing = ingest_module._INSERT.replace(
        "FROM import_staging",
        "FROM import_staging WHERE 1 / (CASE WHEN line > 6 THEN 0 ELSE 1 END) = 1",
    )
    assert failing != ingest_module._INSERT
    monkeypatch.setattr(ingest_module, "_INSERT", failing)
    with pytest.raises(Exception, match="division by zero"):
        ingest(jsonl([{"text": str(i)} for i in range(30)]))
    assert item_count(iworld) == 0
    assert not _parser_threads()
    with tenant_context(iworld.a.id):
        from annotate.models import ImportJob

        job = ImportJob.objects.get(project=iworld.project_a)
    assert job.state == "failed"
    assert "internal error" in job.errors[0]["message"]
