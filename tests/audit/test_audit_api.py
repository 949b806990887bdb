"""The auditor API: list and filter the log, CSV (formula-safe), bundle exports by a worker,
break-glass grants. Each endpoint: another tenant's user gets 404 and nothing leaks, the access
writes its event, bad input is refused naming the field."""

from __future__ import annotations

import csv
import io
import zipfile
import zlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.utils import timezone

from tenants.audit import Actor, audit_record
from tenants.models import AccessEvent, AuditExport, Membership, OperatorGrant
from tenants.proof.bundle import audit_export_run
from tenants.scoping import tenant_context
from tests.audit.conftest import traffic, verify
from tests.conftest import World
from tests.factories import UserFactory

NOT_FOUND = {"error": {"code": "not_found", "message": "Not found."}}


def _last_event(tenant_id: Any) -> AccessEvent:
    with tenant_context(tenant_id):
        return AccessEvent.objects.order_by("-id").first()  # type: ignore[return-value]


@pytest.mark.parametrize(
    "path",
    ["audit/events", "audit/events.csv", "audit/exports", "access-grants"],
)
def test_other_tenants_auditor_gets_404_and_the_attempt_is_logged(
    world: World, token_client: Any, path: str
) -> None:
    response = token_client(world.m("b", "auditor")).get(f"/api/v1/t/tenant-a/{path}")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    event = _last_event(world.a.id)
    assert (event.outcome, event.actor_username, event.actor_tenant_id) == (
        "denied",
        "b-auditor",
        None,
    )


@pytest.mark.parametrize("role", ["annotator", "manager", "reviewer"])
def test_only_auditors_and_owners_read_the_log(world: World, token_client: Any, role: str) -> None:
    response = token_client(world.m("a", role)).get("/api/v1/t/tenant-a/audit/events")
    assert response.status_code == 403


def test_auditor_lists_filters_and_pages_and_the_read_is_logged(
    world: World, token_client: Any
) -> None:
    traffic(world, token_client)
    auditor = token_client(world.m("a", "auditor"))
    body = auditor.get("/api/v1/t/tenant-a/audit/events?outcome=denied").json()
    assert [e["actor_username"] for e in body["results"]] == ["b-owner"]
    assert "secret" not in str(body)
    event = _last_event(world.a.id)
    assert event.action == "audit.events.list" and event.detail["filters"] == {"outcome": "denied"}
    page = auditor.get("/api/v1/t/tenant-a/audit/events?page_size=2").json()
    assert len(page["results"]) == 2 and page["next"]
    rest = auditor.get(page["next"]).json()
    assert {e["id"] for e in rest["results"]}.isdisjoint({e["id"] for e in page["results"]})
    # Tenant B's log does not show through A's API, and vice versa.
    b_events = token_client(world.m("b", "owner")).get("/api/v1/t/tenant-b/audit/events").json()
    assert all(e["actor_username"] != "a-owner" for e in b_events["results"])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("outcome=maybe", "outcome"),
        ("since=yesterday", "since"),
        ("since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z", "until"),
        ("tenant=tenant-b", "tenant"),
    ],
)
def test_bad_filters_are_refused_naming_the_field(
    world: World, token_client: Any, query: str, field: str
) -> None:
    for path in ("audit/events", "audit/events.csv"):
        response = token_client(world.m("a", "auditor")).get(f"/api/v1/t/tenant-a/{path}?{query}")
        assert response.status_code == 400
        assert field in response.json()["error"]["fields"]


def test_csv_is_formula_safe_and_logged(world: World, token_client: Any) -> None:
    with tenant_context(world.a.id):
        audit_record(
            tenant_id=world.a.id,
            actor=Actor(username='=HYPERLINK("http://evil")', auth_method="session"),
            action="project.read",
            resource_type="project",
            resource_id="+1",
            outcome="denied",
            reason="@SUM(A1)",
        )
    response = token_client(world.m("a", "owner")).get("/api/v1/t/tenant-a/audit/events.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    evil = next(r for r in rows if "HYPERLINK" in r["actor_username"])
    assert evil["actor_username"].startswith("'=")
    assert evil["resource_id"] == "'+1" and evil["reason"] == "'@SUM(A1)"
    assert _last_event(world.a.id).action == "audit.events.csv"


def test_csv_over_the_row_limit_is_a_400_naming_it(
    world: World, token_client: Any, settings: Any
) -> None:
    settings.AUDIT_CSV_MAX_ROWS = 1
    traffic(world, token_client)
    response = token_client(world.m("a", "owner")).get("/api/v1/t/tenant-a/audit/events.csv")
    assert (
        response.status_code == 400 and "AUDIT_CSV_MAX_ROWS" in response.json()["error"]["message"]
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "period_from"),
        ({"period_from": "2030-01-01T00:00:00Z", "period_to": "2020-01-01T00:00:00Z"}, "period_to"),
        ({"period_from": "soon", "period_to": "2020-01-01T00:00:00Z"}, "period_from"),
        (
            {
                "period_from": "2020-01-01T00:00:00Z",
                "period_to": "2030-01-01T00:00:00Z",
                "tenant": "tenant-b",
            },
            "tenant",
        ),
    ],
)
def test_export_bad_input(world: World, token_client: Any, body: Any, field: str) -> None:
    response = token_client(world.m("a", "auditor")).post(
        "/api/v1/t/tenant-a/audit/exports", body, format="json"
    )
    assert response.status_code == 400 and field in response.json()["error"]["fields"]


def test_export_job_builds_a_bundle_that_verifies_and_the_export_is_logged(
    committed: None, token_client: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from tests.conftest import build_world
    from workers.tasks import audit as audit_tasks

    world = build_world()
    traffic(world, token_client)
    auditor = token_client(world.m("a", "auditor"))
    now = timezone.now()
    queued: list[Any] = []
    monkeypatch.setattr(audit_tasks.audit_export_run_task, "delay", lambda *a: queued.append(a))
    if True:
        response = auditor.post(
            "/api/v1/t/tenant-a/audit/exports",
            {
                "period_from": (now - timedelta(hours=1)).isoformat(),
                "period_to": (now + timedelta(hours=1)).isoformat(),
            },
            format="json",
        )
    assert response.status_code == 202, response.content
    export_id = response.json()["id"]
    assert queued == [(str(world.a.id), export_id)]  # enqueued on commit, ids only
    assert _last_event(world.a.id).action == "audit.export.create"
    pending = auditor.get(f"/api/v1/t/tenant-a/audit/exports/{export_id}/bundle")
    assert pending.status_code == 409
    state = audit_export_run(
        tenant_id=world.a.id, export_id=export_id, actor=Actor.for_task("t", "1")
    )
    assert state == "succeeded"
    assert _last_event(world.a.id).action == "audit.export.run"
    detail = auditor.get(f"/api/v1/t/tenant-a/audit/exports/{export_id}").json()
    assert detail["state"] == "succeeded" and detail["events_processed"] == detail["events_total"]
    download = auditor.get(f"/api/v1/t/tenant-a/audit/exports/{export_id}/bundle")
    assert download.status_code == 200
    path = tmp_path / "export.zip"
    path.write_bytes(b"".join(download.streaming_content))
    assert _last_event(world.a.id).action == "audit.export.download"
    code, out = verify(path)
    assert code == 0, out
    with zipfile.ZipFile(path) as z:
        assert "tenant-a" in z.read("manifest.json").decode()
    # B cannot fetch A's export, even knowing its id.
    other = token_client(world.m("b", "owner")).get(
        f"/api/v1/t/tenant-b/audit/exports/{export_id}/bundle"
    )
    assert (other.status_code, other.json()) == (404, NOT_FOUND)


# -- break-glass ----------------------------------------------------------------------------


@pytest.fixture
def operator() -> Any:
    return UserFactory(username="op-jane", is_staff=True)


def _request(operator: Any, minutes: int = 30) -> OperatorGrant:
    call_command(
        "request_operator_access",
        "tenant-a",
        operator.username,
        "--minutes",
        str(minutes),
        "--reason",
        "ticket 42",
        stdout=io.StringIO(),
    )
    with tenant_context(_tenant_a()):
        return OperatorGrant.objects.get(operator=operator)


def _tenant_a() -> Any:
    from tenants.models import Tenant

    return Tenant.objects.get(slug="tenant-a").id


def test_an_operator_reads_nothing_without_an_approved_grant(
    world: World, operator: Any, session_client: Any
) -> None:
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(operator)
    assert client.get("/api/v1/t/tenant-a/projects").status_code == 404
    _request(operator)
    assert client.get("/api/v1/t/tenant-a/projects").status_code == 404  # requested only


def test_break_glass_opens_on_owner_approval_flags_events_and_expires(
    world: World, operator: Any, token_client: Any, tmp_path: Path
) -> None:
    from rest_framework.test import APIClient

    from tenants.proof.bundle import bundle_write
    from tenants.proof.sealing import audit_seal_tenant

    grant = _request(operator)
    manager = token_client(world.m("a", "manager"))
    url = f"/api/v1/t/tenant-a/access-grants/{grant.id}/approve"
    assert manager.post(url).status_code == 403  # owners only
    assert (
        token_client(world.m("a", "owner"))
        .post(f"/api/v1/t/tenant-a/access-grants/{grant.id}/explode")
        .status_code
        == 404
    )
    response = token_client(world.m("a", "owner")).post(url)
    assert response.status_code == 200 and response.json()["state"] == "approved"
    again = token_client(world.m("a", "owner")).post(url)
    assert again.status_code == 400 and "state" in again.json()["error"]["fields"]

    client = APIClient()
    client.force_login(operator)
    assert client.get("/api/v1/t/tenant-a/audit/events").status_code == 200
    flagged = _last_event(world.a.id)
    assert flagged.grant_id == grant.id and flagged.actor_role == "auditor"
    assert client.get("/api/v1/t/tenant-b/projects").status_code == 404  # one tenant only

    # The report lists the event under the grant, and the verifier accepts it.
    audit_seal_tenant(tenant_id=world.a.id)
    now = timezone.now()
    path = tmp_path / "bg.zip"
    with tenant_context(world.a.id), path.open("wb") as handle:
        bundle_write(
            tenant_id=world.a.id,
            period_from=now - timedelta(hours=1),
            period_to=now + timedelta(hours=1),
            out=handle,
        )
    code, out = verify(path)
    assert code == 0, out
    with zipfile.ZipFile(path) as z:
        import json

        report = json.loads(z.read("report.json"))
        grants = z.read("grants.jsonl").decode()
    assert [e["grant_id"] for e in report["break_glass_events"]] == [str(grant.id)]
    assert "ticket 42" in grants

    # Expiry: refused at once after expires_at, before any job runs; then the job records it.
    with tenant_context(world.a.id):
        grant = OperatorGrant.objects.get(id=grant.id)
        Membership.objects.filter(id=grant.membership_id).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
        OperatorGrant.objects.filter(id=grant.id).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    assert client.get("/api/v1/t/tenant-a/audit/events").status_code == 404
    from tenants.services.grants import grants_expire_all

    assert grants_expire_all(actor_task="test") == 1
    with tenant_context(world.a.id):
        assert OperatorGrant.objects.get(id=grant.id).state == "expired"
        assert not Membership.objects.get(id=grant.membership_id).is_active


def test_grant_request_bad_input(world: World, operator: Any) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="OPERATOR_GRANT_MAX_MINUTES"):
        _request(operator, minutes=100000)
    with pytest.raises(CommandError, match="no staff user"):
        call_command(
            "request_operator_access", "tenant-a", "a-owner", "--minutes", "5", "--reason", "x"
        )


def test_export_rows_are_tenant_scoped(world: World) -> None:
    with tenant_context(world.b.id):
        assert AuditExport.objects.count() == 0


def test_a_second_delivery_of_a_running_bundle_export_waits_instead_of_writing_beside_it(
    world: World, monkeypatch: Any
) -> None:
    """While one delivery holds the export (its session's advisory lock), another answers
    "busy" and the task retries later; once free, the export runs once."""
    import celery.exceptions

    from tenants.proof import bundle
    from tests.conftest import app_conninfo
    from workers.tasks.audit import audit_export_run_task

    # The progress connection cannot see this test's uncommitted rows.
    monkeypatch.setattr(bundle._Progress, "write", lambda self, **fields: None)
    with tenant_context(world.a.id):
        export = AuditExport.objects.create(
            period_from=timezone.now() - timedelta(days=1),
            period_to=timezone.now(),
            created_by_id=world.m("a", "auditor").user_id,
        )
    key = zlib.crc32(export.id.bytes) - 2**31
    actor = Actor.for_task("t", "1")
    with psycopg.connect(app_conninfo(), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", [bundle.LOCK_CLASS, key])
        assert bundle.audit_export_run(tenant_id=world.a.id, export_id=export.id, actor=actor) == (
            "busy"
        )
        with pytest.raises(celery.exceptions.Retry):
            audit_export_run_task.run(world.a.id, str(export.id))
        with tenant_context(world.a.id):
            export.refresh_from_db()
        assert export.state == AuditExport.State.QUEUED and not export.blob_key
    state = bundle.audit_export_run(tenant_id=world.a.id, export_id=export.id, actor=actor)
    assert state == "succeeded"
    # The lock was given back: a later delivery finds the export done, not busy.
    assert bundle.audit_export_run(tenant_id=world.a.id, export_id=export.id, actor=actor) == (
        "succeeded"
    )
