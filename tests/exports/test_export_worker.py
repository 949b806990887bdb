"""A real Celery worker builds the export; progress is visible while its transaction is open."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from typing import Any

import psycopg
import pytest
from django.db import connection

from annotate.models import Dataset
from tenants.models import AccessEvent
from tenants.scoping import tenant_context
from tests.conftest import owner_conninfo
from tests.exports.conftest import BULK_ANNOTATIONS, BULK_ITEMS, ExportWorld, client_for
from tests.workers.conftest import ROOT, start_celery_worker, stop_celery_worker

N = 60_000


def _bulk_items(eworld: ExportWorld, n: int) -> None:
    """``n`` more items, each with one accepted annotation, by SQL (fast).

    TRICKY: two transactions with ANALYZE between (and after). The annotations' foreign key to
    their item is checked at commit, one lookup per row, with a plan made then: on statistics
    that still say the item table is nearly empty (a truncate ago), that plan is a sequential
    scan per row, and 60,000 of them take minutes.
    """
    w = eworld.w
    params = {"t": w.a.id, "p": w.project_a.id, "n": n, "a": w.m("a", "annotator").user_id}
    with tenant_context(w.a.id), connection.cursor() as cursor:
        params["d"] = Dataset.objects.create(project=w.project_a, name="bulk").id
        cursor.execute(BULK_ITEMS, params)
    with psycopg.connect(owner_conninfo(), autocommit=True) as owner:
        owner.execute("ANALYZE annotate_item")
    connection.close()  # a fresh session plans the key checks on the new statistics
    with tenant_context(w.a.id), connection.cursor() as cursor:
        cursor.execute(BULK_ANNOTATIONS, params)
    # And the annotations' statistics: on a table the planner still thinks empty, the export's
    # per-item lookup of annotations became a scan per item (90 items/s; a timed-out test).
    with psycopg.connect(owner_conninfo(), autocommit=True) as owner:
        owner.execute("ANALYZE annotate_annotation")


def _stuck(status: dict[str, Any], *workers: str) -> str:
    """What a timed-out wait shows: the export, the database's sessions, the workers' logs."""
    with psycopg.connect(owner_conninfo(), autocommit=True) as owner:
        sessions = owner.execute(
            "SELECT pid, state, wait_event_type, wait_event, left(query, 120)"
            "  FROM pg_stat_activity WHERE datname = current_database()"
        ).fetchall()
    logs = [(ROOT / "var" / f"test-worker-{name}.log").read_text()[-2000:] for name in workers]
    return "\n".join([repr(status), *map(repr, sessions), *logs])


@pytest.mark.worker
def test_real_worker_builds_the_export_with_progress(eworld: ExportWorld) -> None:
    _bulk_items(eworld, N)
    connection.close()
    from workers.celery import app

    app.control.purge()
    worker = start_celery_worker("exports", "--pool", "solo")
    client = client_for(eworld.w.m("a", "manager"))
    seen: list[dict[str, Any]] = []
    refused = 0
    try:
        response = client.post(eworld.base, {"format": "jsonl"}, format="json")
        assert response.status_code == 202
        assert response["Location"] == response.json()["url"]
        status_url = response.json()["url"]
        deadline = time.monotonic() + 120
        while True:
            status = client.get(status_url).json()
            seen.append(status)
            if status["state"] in ("succeeded", "failed"):
                break
            if status["state"] == "running":
                # Nothing to download until it has succeeded (it may succeed meanwhile).
                code = client.get(f"{status_url}/download").status_code
                refused += code == 409
                assert code == 409 or client.get(status_url).json()["state"] == "succeeded"
            assert time.monotonic() < deadline, _stuck(status, "exports")
            time.sleep(0.02)
    finally:
        stop_celery_worker(worker)

    assert status["state"] == "succeeded", status
    total = N + 4
    assert (status["items_total"], status["items_written"], status["attempts"]) == (total, total, 1)
    # Progress was visible while the worker's transaction was still open.
    partial = [
        s for s in seen if s["state"] == "running" and 0 < s["items_written"] < s["items_total"]
    ]
    assert partial, [(s["state"], s["items_written"]) for s in seen]
    assert partial[0]["items_total"] == total and partial[0]["started_at"]
    assert refused

    download = client.get(f"{status_url}/download")
    lines = b"".join(download.streaming_content).split(b"\n")
    assert len(lines) == total + 1 and lines[-1] == b""
    records = [json.loads(line) for line in lines[:-1]]
    assert {r["external_id"] for r in records} >= {f"bulk-{i}" for i in range(1, N + 1)}
    bulk = next(r for r in records if r["external_id"] == f"bulk-{N}")
    assert [(a["author"], a["result"]) for a in bulk["annotations"]] == [
        ("a-annotator", {"topics": ["a"]})
    ]

    with tenant_context(eworld.w.a.id):
        run = AccessEvent.objects.get(action="export.run")
    assert (run.auth_method, run.actor_username, run.outcome) == (
        "task",
        "task:workers.tasks.exports.project_export_run",
        "allowed",
    )
    assert run.detail["items"] == total


@pytest.mark.worker
def test_kill_9_mid_export_is_run_again_and_succeeds_once(eworld: ExportWorld) -> None:
    """The worker's process dies mid-run (SIGKILL): nothing is downloadable meanwhile, the
    message is redelivered (late acknowledgement), and the export succeeds once, whole."""
    import signal

    import psutil

    n = 100_000
    _bulk_items(eworld, n)
    connection.close()
    from workers.celery import app

    app.control.purge()
    workers = [
        start_celery_worker(name, "--pool", "prefork", "--concurrency", "1")
        for name in ("ex1", "ex2")
    ]
    client = client_for(eworld.w.m("a", "manager"))
    try:
        status_url = client.post(eworld.base, {"format": "csv"}, format="json").json()["url"]
        deadline = time.monotonic() + 60
        while True:
            status = client.get(status_url).json()
            if status["state"] == "running" and status["items_written"] > 0:
                break
            assert status["state"] in ("queued", "running"), status
            assert time.monotonic() < deadline, _stuck(status, "ex1", "ex2")
            time.sleep(0.02)
        for worker in workers:
            for child in psutil.Process(worker.pid).children(recursive=True):
                child.send_signal(signal.SIGKILL)
        assert client.get(f"{status_url}/download").status_code == 409
        deadline = time.monotonic() + 180
        while status["state"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, _stuck(status, "ex1", "ex2")
            time.sleep(0.2)
            status = client.get(status_url).json()
    finally:
        for worker in workers:
            stop_celery_worker(worker)

    assert status["state"] == "succeeded", status
    assert status["attempts"] >= 2  # the first run died, another one built it
    assert status["items_written"] == n + 4
    body = b"".join(client.get(f"{status_url}/download").streaming_content)
    records = list(csv.reader(io.StringIO(body.decode(), newline="")))
    assert len(records) == 1 + n + 6  # header, one record per bulk item, 6 of the world
    with tenant_context(eworld.w.a.id):
        runs = list(AccessEvent.objects.filter(action="export.run"))
    assert [(e.outcome, e.detail["items"]) for e in runs] == [("allowed", n + 4)]


@pytest.mark.worker
def test_a_delivery_that_finds_the_lock_held_comes_back_instead_of_being_dropped(
    eworld: ExportWorld,
) -> None:
    """The redelivered message of a killed worker can arrive before PostgreSQL has ended the
    dead worker's backend, which still holds the export's advisory lock. The task must not be
    acknowledged as done then (the export would stay "running" for ever): it is retried, and
    builds the export once the lock is free."""
    from annotate.exports.services import LOCK_CLASS, _lock_key
    from workers.base import BUSY_RETRY_SECONDS
    from workers.celery import app

    client = client_for(eworld.w.m("a", "manager"))
    app.control.purge()
    worker = start_celery_worker("exports-busy", "--pool", "solo")
    try:
        with psycopg.connect(owner_conninfo()) as holder:
            # Created while the lock is held (a stand-in for the dead backend's session).
            response = client.post(eworld.base, {"format": "jsonl"}, format="json")
            status_url = response.json()["url"]
            export_id = status_url.rstrip("/").rsplit("/", 1)[-1]
            holder.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [LOCK_CLASS, _lock_key(uuid.UUID(export_id))],
            )
            deadline = time.monotonic() + 30
            log = ROOT / "var" / "test-worker-exports-busy.log"
            while b"Retry in" not in log.read_bytes():
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.1)
            assert client.get(status_url).json()["state"] == "queued"
        # The holder's transaction ended: the next try builds it.
        deadline = time.monotonic() + BUSY_RETRY_SECONDS + 30
        status = client.get(status_url).json()
        while status["state"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
            status = client.get(status_url).json()
    finally:
        stop_celery_worker(worker)
    assert (status["state"], status["attempts"]) == ("succeeded", 1)
