"""Bad input: a failed import names file, line, field or limit, and writes no item."""

from __future__ import annotations

import json

import pytest

from tests.conftest import World
from tests.imports.conftest import item_count, jsonl


def _failed(job, line, field, fragment) -> None:  # type: ignore[no-untyped-def]
    assert job.state == "failed", job.errors
    assert job.error_count >= 1
    first = job.errors[0]
    assert first["file"] == job.filename
    assert (first["line"], first["field"]) == (line, field), first
    assert fragment in first["message"], first


@pytest.mark.parametrize(
    ("body", "fmt", "line", "field", "fragment"),
    [
        (
            b'{"text": "ok"}\n{"text": "broken"\n{"text": "ok"}\n',
            "jsonl",
            2,
            "(line)",
            "invalid JSON",
        ),
        (b'{"text": "ok"}\n{"text": "caf\xe9"}\n', "jsonl", 2, "(line)", "not valid UTF-8"),
        (b"", "jsonl", None, "(file)", "holds no items"),
        (b"\n\n", "jsonl", None, "(file)", "holds no items"),
        (b'{"text": "ok"}\n{"other": "x"}\n', "jsonl", 2, "data.text", "required field is missing"),
        (b'{"text": 5}\n', "jsonl", 1, "data.text", "must be a string"),
        (b"[1, 2]\n", "jsonl", 1, "(record)", "must be a JSON object"),
        (b'{"data": {"text": "x"}, "tenant": "b"}\n', "jsonl", 1, "tenant", "unknown key"),
        (b'{"text": "x", "external_id": ["a"]}\n', "jsonl", 1, "external_id", "must be a string"),
        (b'{"text": "x", "priority": "high"}\n', "jsonl", 1, "priority", "32-bit integer"),
        (b"id,body\n1,x\n", "csv", 1, "text", "required column 'text'"),
        (
            b"text,external_id\nx,1\ny,2,extra\n",
            "csv",
            3,
            "(row)",
            "has 3 fields, the header has 2",
        ),
        (b"", "csv", None, "(file)", "file is empty"),
        (b'[{"text": "a"}, {"text": ', "json", 2, "(file)", "invalid JSON"),
        (b'{"text": "not an array"}', "json", 1, "(file)", "must be one array"),
        (b"  \n ", "json", None, "(file)", "the file is empty"),
        (b'[{"text": "a"}, 7]', "json", 2, "(record)", "must be a JSON object"),
    ],
)
def test_bad_file_fails_naming_the_place_and_writes_nothing(
    iworld: World, ingest, body: bytes, fmt: str, line, field: str, fragment: str
) -> None:
    job = ingest(body, fmt)
    _failed(job, line, field, fragment)
    assert item_count(iworld) == 0


def test_errors_are_all_counted_and_the_first_ones_listed(iworld: World, ingest, settings) -> None:
    settings.IMPORT_MAX_REPORTED_ERRORS = 3
    body = jsonl([{"text": "ok"} if i % 2 else {"nope": i} for i in range(20)])
    job = ingest(body)
    assert job.error_count == 10 and len(job.errors) == 3
    assert [e["line"] for e in job.errors] == [1, 3, 5]
    assert item_count(iworld) == 0
    # The failed ingest is an access too: logged, by the task, with the reason.
    from tenants.models import AccessEvent
    from tenants.scoping import tenant_context

    with tenant_context(iworld.a.id):
        events = list(AccessEvent.objects.filter(action="import.ingest", resource_id=str(job.id)))
    assert [(e.outcome, e.auth_method, e.reason) for e in events] == [
        ("failed", "task", "10 error(s); nothing was imported")
    ]


def test_line_over_the_limit(iworld: World, ingest, settings) -> None:
    settings.IMPORT_MAX_LINE_BYTES = 300
    body = jsonl([{"text": "short"}, {"text": "x" * 1000}, {"text": "short"}])
    job = ingest(body)
    _failed(job, 2, "(line)", "IMPORT_MAX_LINE_BYTES")
    assert job.error_count == 1  # the rest of the long line was skipped, not misread


def test_too_many_items(iworld: World, ingest, settings) -> None:
    settings.IMPORT_MAX_ITEMS = 5
    job = ingest(jsonl([{"text": str(i)} for i in range(8)]))
    _failed(job, 6, "(file)", "IMPORT_MAX_ITEMS")
    assert item_count(iworld) == 0


def test_deeply_nested_record(iworld: World, ingest, settings) -> None:
    nested: dict = {}
    cursor = nested
    for _ in range(50):
        cursor["x"] = {}
        cursor = cursor["x"]
    job = ingest(jsonl([{"text": "ok"}, {"text": "deep", "meta": nested}]))
    _failed(job, 2, "(record)", "JSON_MAX_DEPTH")


def test_duplicate_external_ids_in_the_file_and_in_the_project(iworld: World, ingest) -> None:
    job = ingest(
        jsonl(
            [
                {"external_id": "a", "text": "1"},
                {"external_id": "b", "text": "2"},
                {"external_id": "a", "text": "3"},
            ]
        )
    )
    _failed(job, 3, "external_id", "'a' repeats line 1")
    assert ingest(jsonl([{"external_id": "a", "text": "1"}])).state == "succeeded"
    again = ingest(jsonl([{"external_id": "z", "text": "1"}, {"external_id": "a", "text": "2"}]))
    _failed(again, 2, "external_id", "'a' already exists in this project")
    assert item_count(iworld) == 1


def test_upload_over_the_size_limit_is_413_and_keeps_nothing(
    iworld: World, upload, settings
) -> None:
    settings.IMPORT_MAX_UPLOAD_BYTES = 2048
    body = jsonl([{"text": "x" * 100} for _ in range(50)])
    response = upload(body, "jsonl")
    assert response.status_code == 413
    assert "IMPORT_MAX_UPLOAD_BYTES" in response.json()["error"]["message"]
    from annotate.models import ImportJob
    from tenants.scoping import tenant_context

    with tenant_context(iworld.a.id):
        assert not ImportJob.objects.exists()


def test_unknown_format_and_bad_idempotency_key(iworld: World, upload, manager_a) -> None:
    response = upload(b"x", "xml")
    assert response.status_code == 400 and "format" in response.json()["error"]["fields"]
    response = upload(b'{"text": "x"}\n', "jsonl", HTTP_IDEMPOTENCY_KEY="k" * 300)
    assert "Idempotency-Key" in response.json()["error"]["fields"]
    assert (
        json.loads(
            manager_a.get(f"/api/v1/t/tenant-a/projects/{iworld.project_a.id}/imports").content
        )["results"]
        == []
    )


def test_the_size_limit_holds_while_streaming_and_leaves_no_blob(
    iworld: World, settings, tmp_path
) -> None:
    """Without a (truthful) Content-Length the limit is enforced on the bytes themselves."""
    from pathlib import Path

    from annotate.services.imports import UploadTooLarge, upload_store
    from tenants.scoping import tenant_context
    from tenants.storage import TenantStorage

    settings.IMPORT_MAX_UPLOAD_BYTES = 10_000
    chunks = (b"x" * 4096 for _ in range(10))
    with (
        tenant_context(iworld.a.id),
        pytest.raises(UploadTooLarge, match="IMPORT_MAX_UPLOAD_BYTES"),
    ):
        upload_store(
            storage=TenantStorage(iworld.a.id),
            chunks=chunks,
            fmt="jsonl",
            dataset_name="",
            filename="f.jsonl",
        )
    imports_dir = Path(settings.STORAGE_ROOT) / "tenants" / str(iworld.a.id) / "imports"
    assert not imports_dir.exists() or not any(p.is_file() for p in imports_dir.rglob("*"))
