"""Imports land whole, in every format; items are listed, filtered, read and deleted."""

from __future__ import annotations

import json
import threading

import pytest
from rest_framework.test import APIClient

from annotate.models import ImportJob, Item
from tenants.models import AccessEvent
from tenants.scoping import tenant_context
from tests.conftest import World
from tests.imports.conftest import imports_url, item_count, jsonl


def test_jsonl_import_lands_whole_and_items_are_listed(
    iworld: World, ingest, manager_a: APIClient
) -> None:
    records = [
        {"external_id": f"e{i}", "data": {"text": f"hello {i}"}, "priority": i % 3}
        for i in range(2500)
    ]
    job = ingest(jsonl(records))
    assert (job.state, job.items_total, job.error_count) == ("succeeded", 2500, 0)
    assert job.bytes_processed == job.bytes_total > 0
    assert item_count(iworld) == 2500

    base = f"/api/v1/t/tenant-a/projects/{iworld.project_a.id}/items"
    seen, url = 0, f"{base}?page_size=500"
    while url:
        page = manager_a.get(url).json()
        seen += len(page["results"])
        url = page["next"]
    assert seen == 2500
    found = manager_a.get(f"{base}?external_id=e42").json()["results"]
    assert [(i["external_id"], i["data"], i["priority"]) for i in found] == [
        ("e42", {"text": "hello 42"}, 0)
    ]
    by_dataset = manager_a.get(f"{base}?dataset={job.dataset_id}&status=new&page_size=1").json()
    assert len(by_dataset["results"]) == 1
    item_url = f"{base}/{found[0]['id']}"
    assert manager_a.get(item_url).json()["dataset_id"] == str(job.dataset_id)
    assert manager_a.delete(item_url).status_code == 204
    assert manager_a.get(item_url).status_code == 404
    assert manager_a.get(f"{base}?status=wat").status_code == 400

    status = manager_a.get(f"{imports_url(iworld)}/{job.id}").json()
    assert status["state"] == "succeeded" and status["items_processed"] == 2500
    assert status["rate_items_per_second"] > 0
    with tenant_context(iworld.a.id):
        ingest_events = AccessEvent.objects.filter(action="import.ingest", resource_id=str(job.id))
        assert [(e.outcome, e.auth_method, e.detail["items"]) for e in ingest_events] == [
            ("allowed", "task", 2500)
        ]


def test_flat_records_json_array_and_csv(iworld: World, ingest) -> None:
    flat = ingest(jsonl([{"external_id": "f1", "text": "flat", "extra": 1}]))
    assert flat.state == "succeeded"
    array = ingest(
        json.dumps([{"text": "one"}, {"data": {"text": "two"}, "external_id": "x2"}]).encode(),
        "json",
    )
    assert (array.state, array.items_total) == ("succeeded", 2)
    csv_job = ingest(b'external_id,text,priority\nc1,"hello, world",5\nc2,bye,\n', "csv")
    assert (csv_job.state, csv_job.items_total) == ("succeeded", 2), csv_job.errors
    with tenant_context(iworld.a.id):
        c1 = Item.objects.get(external_id="c1")
        assert (c1.data, c1.priority) == ({"text": "hello, world"}, 5)
        assert Item.objects.get(external_id="f1").data == {"text": "flat", "extra": 1}
    assert item_count(iworld) == 5


def test_json_body_of_items(iworld: World, manager_a: APIClient) -> None:
    response = manager_a.post(
        imports_url(iworld),
        {"items": [{"text": "a"}, {"text": "b"}], "dataset": "batch 7"},
        format="json",
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["state"] == "queued" and body["url"].endswith(body["id"])
    assert response["Location"] == body["url"]
    bad = manager_a.post(imports_url(iworld), {"items": [], "tenant": "tenant-b"}, format="json")
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"items", "tenant"}


def test_idempotency_key_returns_the_same_import_and_refuses_a_different_body(
    iworld: World, upload
) -> None:
    body = jsonl([{"text": "x"}])
    first = upload(body, "jsonl", HTTP_IDEMPOTENCY_KEY="batch-1")
    again = upload(body, "jsonl", HTTP_IDEMPOTENCY_KEY="batch-1")
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    other = upload(jsonl([{"text": "y"}]), "jsonl", HTTP_IDEMPOTENCY_KEY="batch-1")
    assert other.status_code == 409
    assert "batch-1" in other.json()["error"]["message"]
    with tenant_context(iworld.a.id):
        assert ImportJob.objects.filter(idempotency_key="batch-1").count() == 1


def test_concurrent_retries_with_one_key_create_one_import(iworld: World) -> None:
    from tests.factories import token_for

    raw = token_for(iworld.m("a", "manager")).raw
    body = jsonl([{"text": f"t{i}"} for i in range(200)])
    results: list[tuple[int, str]] = []

    def post() -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        r = client.generic(
            "POST",
            f"{imports_url(iworld)}?format=jsonl",
            body,
            content_type="application/octet-stream",
            HTTP_IDEMPOTENCY_KEY="same",
        )
        results.append((r.status_code, r.json().get("id", "")))
        from django.db import connections

        connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {status for status, _ in results} == {202}
    assert len({job_id for _, job_id in results}) == 1
    with tenant_context(iworld.a.id):
        assert ImportJob.objects.filter(idempotency_key="same").count() == 1


@pytest.mark.parametrize("role", ["annotator", "reviewer", "auditor"])
def test_only_project_managers_import(iworld: World, role: str) -> None:
    from tests.factories import token_for

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(iworld.m('a', role)).raw}")
    response = client.generic(
        "POST",
        f"{imports_url(iworld)}?format=jsonl",
        b'{"text": "x"}\n',
        content_type="application/octet-stream",
    )
    assert response.status_code in (403, 404)


def test_comparison_items_need_two_or_more_responses(iworld: World, ingest) -> None:
    from tenants.scoping import tenant_context as ctx

    with ctx(iworld.a.id):
        iworld.project_a.label_schema = {
            "version": 1,
            "data": {
                "prompt": {"type": "text"},
                "responses": {"type": "text_list", "min_items": 2},
            },
            "fields": [{"name": "better", "type": "choices", "choices": ["left", "right"]}],
        }
        iworld.project_a.save(update_fields=["label_schema"])
    ok = ingest(jsonl([{"prompt": "2+2?", "responses": ["4", "5"]}]))
    assert ok.state == "succeeded"
    bad = ingest(jsonl([{"prompt": "2+2?", "responses": ["4"]}, {"prompt": "x", "responses": "4"}]))
    assert bad.state == "failed"
    assert [(e["line"], e["field"], e["message"]) for e in bad.errors] == [
        (1, "data.responses", "must hold 2 to 20 items, has 1"),
        (2, "data.responses", "must be a list of strings"),
    ]


def test_deleting_a_project_removes_its_items(iworld: World, ingest, manager_a: APIClient) -> None:
    ingest(jsonl([{"text": str(i)} for i in range(500)]))
    assert item_count(iworld) == 500
    assert manager_a.delete(f"/api/v1/t/tenant-a/projects/{iworld.project_a.id}").status_code == 204
    with tenant_context(iworld.a.id):
        assert not Item.objects.exists() and not ImportJob.objects.exists()


def test_multipart_upload_is_streamed_and_ingested(iworld: World, manager_a: APIClient) -> None:
    import uuid as uuid_mod

    from django.core.files.uploadedfile import SimpleUploadedFile

    from annotate.services.ingest import import_run
    from tenants.audit import Actor

    upload = SimpleUploadedFile("batch.jsonl", jsonl([{"text": "a"}, {"text": "b"}]))
    response = manager_a.post(
        imports_url(iworld) + "?dataset=form", {"file": upload}, format="multipart"
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["format"], body["filename"]) == ("jsonl", "batch.jsonl")
    import_run(
        tenant_id=iworld.a.id, import_id=uuid_mod.UUID(body["id"]), actor=Actor.for_task("t", "t")
    )
    assert item_count(iworld) == 2

    csv_file = SimpleUploadedFile("rows.csv", b"text\nx\n")
    assert (
        manager_a.post(imports_url(iworld), {"file": csv_file}, format="multipart").json()["format"]
        == "csv"
    )


def test_multipart_bad_input(iworld: World, manager_a: APIClient, settings) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    no_file = manager_a.post(imports_url(iworld), {"note": "x"}, format="multipart")
    assert no_file.status_code == 400 and "file" in no_file.json()["error"]["fields"]
    unknown = manager_a.post(
        imports_url(iworld), {"file": SimpleUploadedFile("data.xml", b"<x/>")}, format="multipart"
    )
    assert unknown.status_code == 400
    assert "cannot tell the format of 'data.xml'" in unknown.json()["error"]["fields"]["file"][0]
    settings.IMPORT_MAX_UPLOAD_BYTES = 1024
    big = manager_a.post(
        imports_url(iworld),
        {"file": SimpleUploadedFile("big.jsonl", b"x" * 5000)},
        format="multipart",
    )
    assert big.status_code == 413
    assert "IMPORT_MAX_UPLOAD_BYTES" in big.json()["error"]["message"]
    with tenant_context(iworld.a.id):
        assert not ImportJob.objects.exists()
