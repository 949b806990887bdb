"""The export API: who may, what is logged, bad input, the other tenant, the download."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

from annotate.exports.models import ProjectExport
from annotate.exports.services import project_export_run
from annotate.services.projects import project_permission_grant
from annotate.webhooks.models import WebhookDelivery
from annotate.webhooks.services import webhook_create
from tenants.audit import Actor
from tenants.models import AccessEvent
from tenants.scoping import tenant_context
from tests.exports.conftest import ExportWorld, client_for

NOT_FOUND = {"error": {"code": "not_found", "message": "Not found."}}
Run = Callable[[str], tuple[Any, bytes]]


def _events(tenant_id: uuid.UUID, **filters: Any) -> list[AccessEvent]:
    with tenant_context(tenant_id):
        return list(AccessEvent.objects.filter(**filters).order_by("id"))


def test_access_events_for_create_run_and_download(eworld: ExportWorld, run_export: Run) -> None:
    export, body = run_export("jsonl")
    events = _events(eworld.w.a.id, resource_type="project_export", resource_id=str(export.id))
    assert [(e.action, e.outcome, e.actor_username, e.auth_method) for e in events] == [
        ("export.create", "allowed", "a-manager", "token"),
        ("export.run", "allowed", "task:test", "task"),
        ("export.download", "allowed", "a-manager", "token"),
    ]
    create, run, download = events
    assert create.detail == {"project": str(eworld.w.project_a.id), "format": "jsonl"}
    assert run.detail["items"] == 4 and run.detail["sha256"] == export.content_sha256
    assert download.detail["sha256"] == hashlib.sha256(body).hexdigest()
    assert download.actor_tenant_id == eworld.w.a.id


def test_status_list_and_streamed_download(eworld: ExportWorld, run_export: Run) -> None:
    export, body = run_export("csv")
    client = client_for(eworld.w.m("a", "manager"))
    status = client.get(f"{eworld.base}/{export.id}").json()
    assert status["state"] == "succeeded"
    assert (status["items_total"], status["items_written"], status["rows_written"]) == (4, 4, 6)
    assert status["bytes_written"] == len(body) and status["attempts"] == 1
    assert status["content_sha256"] == hashlib.sha256(body).hexdigest()
    assert status["download_url"].endswith(f"/exports/{export.id}/download")
    assert status["created_by"] == "a-manager" and status["errors"] == []
    listed = client.get(eworld.base).json()["results"]
    assert [e["id"] for e in listed] == [str(export.id)]

    response = client.get(status["download_url"])
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Length"] == str(len(body))
    assert response["Content-Disposition"].startswith('attachment; filename="project-')
    assert response["X-Content-SHA256"] == status["content_sha256"]
    assert b"".join(response.streaming_content) == body
    # The blob at rest is ciphertext: the item text is not in it.
    from tenants.blobstore import blob_backend

    with blob_backend().open(export.blob_key, "rb") as stored:
        assert b"The corrected one" not in stored.read()


def test_export_ready_webhook_is_emitted_with_the_run(eworld: ExportWorld) -> None:
    w = eworld.w
    with tenant_context(w.a.id):
        hook, _ = webhook_create(
            membership=w.m("a", "manager"), url="https://93.184.216.34/h", events=["export.ready"]
        )
    client = client_for(w.m("a", "manager"))
    export_id = uuid.UUID(client.post(eworld.base, {"format": "jsonl"}, format="json").json()["id"])
    project_export_run(tenant_id=w.a.id, export_id=export_id, actor=Actor.for_task("t", "1"))
    with tenant_context(w.a.id):
        deliveries = list(WebhookDelivery.objects.filter(webhook=hook))
    assert [d.event for d in deliveries] == ["export.ready"]
    payload = json.dumps(deliveries[0].payload)
    assert str(export_id) in payload and '"items": 4' in payload


def test_a_finished_export_is_not_run_again(eworld: ExportWorld, run_export: Run) -> None:
    export, _ = run_export("jsonl")
    again = project_export_run(
        tenant_id=eworld.w.a.id, export_id=export.id, actor=Actor.for_task("t", "2")
    )
    assert again == "succeeded"
    with tenant_context(eworld.w.a.id):
        assert ProjectExport.objects.get(id=export.id).attempts == 1
    assert len(_events(eworld.w.a.id, action="export.run")) == 1


def test_bad_input(eworld: ExportWorld) -> None:
    client = client_for(eworld.w.m("a", "manager"))
    unknown = client.post(eworld.base, {"format": "xlsx"}, format="json")
    assert unknown.status_code == 400
    assert "format" in unknown.json()["error"]["fields"]
    missing = client.post(eworld.base, {}, format="json")
    assert missing.status_code == 400 and "format" in missing.json()["error"]["fields"]
    extra = client.post(eworld.base, {"format": "csv", "tenant": str(eworld.w.b.id)}, format="json")
    assert extra.status_code == 400 and "tenant" in extra.json()["error"]["fields"]
    with tenant_context(eworld.w.a.id):
        assert not ProjectExport.objects.exists()  # nothing half-created

    queued = client.post(eworld.base, {"format": "csv"}, format="json").json()
    early = client.get(f"{eworld.base}/{queued['id']}/download")
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "not_ready"
    assert "queued" in early.json()["error"]["message"]
    assert queued["download_url"] is None
    missing_id = client.get(f"{eworld.base}/{uuid.uuid4()}")
    assert (missing_id.status_code, missing_id.json()) == (404, NOT_FOUND)
    denied = _events(eworld.w.a.id, action="export.download")
    assert [(e.outcome, e.status_code) for e in denied] == [("failed", 409)]


def test_members_without_export_permission_are_refused(eworld: ExportWorld) -> None:
    w = eworld.w
    annotator, reviewer = w.m("a", "annotator"), w.m("a", "reviewer")
    # An annotator with no grant does not even see the project: 404.
    response = client_for(annotator).post(eworld.base, {"format": "jsonl"}, format="json")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    # Granted annotate, they see it but may not export: 403 naming the permission.
    with tenant_context(w.a.id):
        project_permission_grant(project=w.project_a, membership=annotator, permission="annotate")
    for who in (annotator, reviewer):
        response = client_for(who).post(eworld.base, {"format": "jsonl"}, format="json")
        assert response.status_code == 403, who
        assert "export" in response.json()["error"]["message"]
    with tenant_context(w.a.id):
        assert not ProjectExport.objects.exists()
        project_permission_grant(project=w.project_a, membership=annotator, permission="export")
    granted = client_for(annotator).post(eworld.base, {"format": "jsonl"}, format="json")
    assert granted.status_code == 202
    refused = [e for e in _events(w.a.id, action="export.create") if e.outcome != "allowed"]
    assert [(e.actor_username, e.status_code) for e in refused] == [
        ("a-annotator", 404),
        ("a-annotator", 403),
        ("a-reviewer", 403),
    ]


def test_another_tenants_member_gets_404_and_nothing_leaks(
    eworld: ExportWorld, run_export: Run
) -> None:
    export, _ = run_export("jsonl")
    w = eworld.w
    intruder = client_for(w.m("b", "owner"))  # owner of B: every permission there
    urls = [eworld.base, f"{eworld.base}/{export.id}", f"{eworld.base}/{export.id}/download"]
    # A's URLs with B's token.
    for url in urls:
        response = intruder.get(url)
        assert (response.status_code, response.json()) == (404, NOT_FOUND), url
    assert intruder.post(eworld.base, {"format": "jsonl"}, format="json").status_code == 404
    # A's ids under B's own tenant URL.
    for url in urls:
        response = intruder.get(url.replace("/t/tenant-a/", "/t/tenant-b/"))
        assert (response.status_code, response.json()) == (404, NOT_FOUND), url
    b_url = f"/api/v1/t/tenant-b/projects/{w.project_b.id}/exports/{export.id}/download"
    response = intruder.get(b_url)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    with tenant_context(w.b.id):
        assert not ProjectExport.objects.exists()
    # B's export never holds A's items.
    b_export = intruder.post(
        f"/api/v1/t/tenant-b/projects/{w.project_b.id}/exports", {"format": "jsonl"}, format="json"
    ).json()
    project_export_run(
        tenant_id=w.b.id, export_id=uuid.UUID(b_export["id"]), actor=Actor.for_task("t", "3")
    )
    download = intruder.get(f"{b_export['url']}/download")
    body = b"".join(download.streaming_content)
    assert b"b secret" in body and b"corrected" not in body and body.count(b"\n") == 1
    # The attempts are in A's log as denied, naming nothing of B.
    denied = _events(w.a.id, outcome="denied", actor_username="b-owner")
    assert len(denied) == len(urls) + 1
    assert all(e.actor_tenant_id is None for e in denied)


def test_the_list_keeps_its_query_count_as_exports_grow(eworld: ExportWorld) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(eworld.w.m("a", "manager"))

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(eworld.base).status_code == 200
        return len(captured)

    client.post(eworld.base, {"format": "jsonl"}, format="json")
    one = queries()
    for fmt in ("csv", "jsonl", "csv", "jsonl"):
        client.post(eworld.base, {"format": fmt}, format="json")
    assert len(client.get(eworld.base).json()["results"]) == 5
    assert queries() == one


def test_an_export_deleted_with_its_project_is_skipped(eworld: ExportWorld) -> None:
    assert (
        project_export_run(
            tenant_id=eworld.w.a.id, export_id=uuid.uuid4(), actor=Actor.for_task("t", "4")
        )
        == "missing"
    )
    assert _events(eworld.w.a.id, action="export.run") == []


def test_a_run_that_fails_is_marked_failed_logged_and_leaves_no_file(
    eworld: ExportWorld, monkeypatch: Any
) -> None:
    import pytest

    from annotate.exports import services

    client = client_for(eworld.w.m("a", "manager"))
    created = client.post(eworld.base, {"format": "csv"}, format="json").json()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services, "webhook_emit", broken)  # after the file was stored
    with pytest.raises(RuntimeError):
        project_export_run(
            tenant_id=eworld.w.a.id,
            export_id=uuid.UUID(created["id"]),
            actor=Actor.for_task("t", "5"),
        )
    status = client.get(created["url"]).json()
    assert status["state"] == "failed" and status["attempts"] == 1
    assert status["errors"] == [
        {"message": "internal error while exporting; nothing was written", "error": "RuntimeError"}
    ]
    assert client.get(f"{created['url']}/download").status_code == 409
    [event] = _events(eworld.w.a.id, action="export.run")
    assert (event.outcome, event.reason) == ("failed", "RuntimeError; nothing was written")
    from tenants.blobstore import blob_backend

    prefix = f"tenants/{eworld.w.a.id}/exports/{created['id']}"
    assert blob_backend().listdir(prefix) == ([], [])
