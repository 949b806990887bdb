"""A worker killed mid-import (kill -9) loses nothing and duplicates nothing."""

from __future__ import annotations

import signal
import time

import psutil
import pytest
from rest_framework.test import APIClient

from tenants.models import AccessEvent
from tenants.scoping import tenant_context
from tests.conftest import World
from tests.imports.conftest import imports_url, item_count, jsonl
from tests.workers.conftest import start_celery_worker, stop_celery_worker

N = 200_000


@pytest.mark.worker
def test_kill_9_mid_import_is_retried_and_lands_exactly_once(
    iworld: World, manager_a: APIClient
) -> None:
    workers = [
        start_celery_worker(name, "--pool", "prefork", "--concurrency", "1")
        for name in ("w1", "w2")
    ]
    try:
        body = jsonl(
            [{"external_id": f"x{i}", "text": "lorem ipsum dolor sit amet " * 7} for i in range(N)]
        )
        response = manager_a.generic(
            "POST",
            f"{imports_url(iworld)}?format=jsonl",
            body,
            content_type="application/octet-stream",
        )
        assert response.status_code == 202
        status_url = response.json()["url"]

        # Progress is visible while the import runs (its transaction is still open).
        deadline = time.monotonic() + 60
        while True:
            status = manager_a.get(status_url).json()
            if status["state"] == "running" and status["items_processed"] > 0:
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.05)
        assert item_count(iworld) == 0  # nothing visible before the import commits

        # kill -9 every pool process: the one ingesting dies mid-transaction.
        for worker in workers:
            for child in psutil.Process(worker.pid).children(recursive=True):
                child.send_signal(signal.SIGKILL)

        deadline = time.monotonic() + 180
        while True:
            status = manager_a.get(status_url).json()
            if status["state"] in ("succeeded", "failed"):
                break
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
    finally:
        for worker in workers:
            stop_celery_worker(worker)

    assert status["state"] == "succeeded", status
    assert status["attempts"] >= 2  # the first attempt died, another ran it
    assert status["items_total"] == N
    assert item_count(iworld) == N
    with tenant_context(iworld.a.id):
        assert AccessEvent.objects.filter(action="import.ingest", outcome="allowed").count() == 1
