"""Export a project of N annotated items through the HTTP API, as JSONL and as CSV.

Run with `make bench-export` (embedded services) or
`python -m annotate.stack exec -- python bench/export_bench.py --n 100000`.

For each N it creates a project of N items, each with one accepted annotation (by SQL, fast),
then, per format: POST the export, poll its status until it has succeeded (end to end: the
request, the broker, the worker's query, encryption and storage), then download it over HTTP
(streamed, decrypted). It reports seconds end to end, items/second, the download time, the
file size, and the peak resident memory of the worker process (flat in N: compare sizes).

Server (granian, 2 workers), database, Celery worker and client all run on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-" + "x" * 40)

from annotate.stack import free_port, web_command  # noqa: E402
from bench.distribution_bench import analyze  # noqa: E402
from bench.import_bench import PeakRss  # noqa: E402
from bench.machine import machine_description  # noqa: E402

SCHEMA = {
    "version": 1,
    "data": {"text": {"type": "text"}},
    "fields": [
        {"name": "label", "type": "choices", "choices": ["a", "b"], "multiple": True},
        {"name": "note", "type": "text", "required": False},
    ],
}


def setup_tenant() -> tuple[str, object, str]:
    """A tenant with a manager (token). Returns (slug, membership, token)."""
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", database="owner", verbosity=0)
    from tenants.models import Role
    from tenants.scoping import tenant_context
    from tenants.services.memberships import (
        membership_add,
        tenant_create,
        token_create,
        user_get_or_create,
    )

    slug = f"export-{int(time.time())}"
    tenant = tenant_create(slug=slug, name="Export bench")
    user, _ = user_get_or_create(username=f"{slug}-mgr")
    membership = membership_add(tenant=tenant, user=user, role=Role.MANAGER)
    with tenant_context(tenant.id):
        raw = token_create(membership=membership, name="bench", created_by=None).raw
    return slug, membership, raw


def make_project(slug: str, membership: object, n: int) -> str:
    """A project of ``n`` items, each with one accepted annotation (two SQL statements)."""
    from django.db import connection

    from annotate.models import Dataset, Project
    from tenants.models import Tenant
    from tenants.scoping import tenant_context

    tenant = Tenant.objects.get(slug=slug)
    with tenant_context(tenant.id):
        project = Project.objects.create(
            tenant=tenant,
            name=f"export bench {n}",
            label_schema=SCHEMA,
            created_by_id=membership.user_id,  # type: ignore[attr-defined]
            item_positions=n,
        )
        dataset = Dataset.objects.create(project=project, name="bench")
        params = {
            "t": tenant.id,
            "p": project.id,
            "d": dataset.id,
            "n": n,
            "a": membership.user_id,  # type: ignore[attr-defined]
        }
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO annotate_item (tenant_id, id, project_id, dataset_id, external_id,
                    data, media, priority, status, seq, queue_key, slots_taken, done_count,
                    created_at)
                SELECT %(t)s, gen_random_uuid(), %(p)s, %(d)s, 'e' || g,
                       jsonb_build_object('text', repeat('lorem ipsum ', 16) || g),
                       '[]', 0, 'completed', g, g, 1, 1, now()
                  FROM generate_series(1, %(n)s) g
                """,
                params,
            )
    # TRICKY: statistics first. The annotations' key to their item is checked at commit, one
    # lookup per row, planned then: on statistics that say the item table is nearly empty
    # (a fresh database), each lookup is a sequential scan and the insert takes minutes.
    analyze()
    with tenant_context(tenant.id), connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO annotate_annotation (tenant_id, id, project_id, item_id, author_id,
                version, result, status, idempotency_key, lead_time_ms, created_at)
            SELECT %(t)s, gen_random_uuid(), %(p)s, id, %(a)s, 1,
                   '{"label": ["a"], "note": "fine"}', 'accepted', '', 2500, now()
              FROM annotate_item WHERE tenant_id = %(t)s AND dataset_id = %(d)s
            """,
            params,
        )
    connection.close()
    analyze()
    _analyze_annotations()
    return str(project.id)


def _analyze_annotations() -> None:
    import psycopg
    from django.conf import settings

    owner = settings.DATABASES["owner"]
    with psycopg.connect(
        host=owner["HOST"],
        port=owner.get("PORT") or None,
        dbname=owner["NAME"],
        user=owner["USER"],
        password=owner.get("PASSWORD") or None,
        autocommit=True,
    ) as conn:
        conn.execute("ANALYZE annotate_annotation")


def _get(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    with urllib.request.urlopen(request) as response:  # noqa: S310 - our own local server
        return json.loads(response.read())


def run_one(base: str, path: str, token: str, fmt: str, worker_pid: int, n: int) -> dict:
    monitor = PeakRss({"worker": worker_pid})
    monitor.start()
    started = time.perf_counter()
    request = urllib.request.Request(  # noqa: S310 - our own local server
        f"{base}{path}/exports",
        data=json.dumps({"format": fmt}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310
        status_url = json.loads(response.read())["url"]
    deadline = time.monotonic() + 600
    while True:
        status = _get(f"{base}{status_url}", token)
        if status["state"] in ("succeeded", "failed"):
            break
        if time.monotonic() > deadline:
            raise SystemExit("export did not finish within 10 minutes")
        time.sleep(0.1)  # each poll is a request with its access event: keep them few
    ready = time.perf_counter() - started
    monitor.running = False
    monitor.join()
    if status["state"] != "succeeded":
        raise SystemExit(f"export failed: {status['errors']}")
    download_started = time.perf_counter()
    size = 0
    request = urllib.request.Request(  # noqa: S310 - our own local server
        f"{base}{status['download_url']}", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request) as response:  # noqa: S310
        while chunk := response.read(1 << 20):
            size += len(chunk)
    downloaded = time.perf_counter() - download_started
    assert size == status["bytes_written"], (size, status["bytes_written"])
    worker_seconds = None
    if status["started_at"] and status["finished_at"]:
        from django.utils.dateparse import parse_datetime

        worker_seconds = (
            parse_datetime(status["finished_at"]) - parse_datetime(status["started_at"])
        ).total_seconds()
    return {
        "n": n,
        "format": fmt,
        "seconds": ready,
        "worker_seconds": worker_seconds,
        "rate": n / ready,
        "download_seconds": downloaded,
        "mb": size / 1e6,
        "worker_peak_mib": monitor.peak["worker"] / 2**20,
        "items": status["items_written"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, action="append", help="items (repeatable)")
    parser.add_argument("--format", action="append", choices=["jsonl", "csv"], help="(repeatable)")
    args = parser.parse_args()
    sizes = args.n or [100_000]
    formats = args.format or ["jsonl", "csv"]
    slug, membership, token = setup_tenant()
    projects = {n: make_project(slug, membership, n) for n in sizes}
    port = free_port()
    env = dict(os.environ)
    (ROOT / "var").mkdir(exist_ok=True)
    worker_log = (ROOT / "var" / "bench-export-worker.log").open("wb")
    web = subprocess.Popen(
        web_command(port=port, workers=2),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "workers.celery",
            "worker",
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1)  # noqa: S310
                break
            except OSError:
                time.sleep(0.2)
        time.sleep(3)  # let the worker connect
        print(f"machine: {machine_description()}")
        print("server: granian 2 workers; 1 Celery worker (prefork, concurrency 1)")
        print(
            f"{'items':>9} {'format':>6} {'end-to-end s':>13} {'worker s':>9} {'items/s':>9} "
            f"{'MB':>7} {'download s':>11} {'worker peak MiB':>16}"
        )
        for n in sizes:
            for fmt in formats:
                r = run_one(
                    base, f"/api/v1/t/{slug}/projects/{projects[n]}", token, fmt, worker.pid, n
                )
                assert r["items"] == n, r
                print(
                    f"{r['n']:>9} {r['format']:>6} {r['seconds']:>13.2f} "
                    f"{r['worker_seconds'] or 0:>9.2f} {r['rate']:>9.0f} {r['mb']:>7.1f} "
                    f"{r['download_seconds']:>11.2f} {r['worker_peak_mib']:>16.0f}",
                    flush=True,
                )
    finally:
        for proc in (web, worker):
            proc.terminate()
            proc.wait(30)
        worker_log.close()
        print("worker log (timings of each export): var/bench-export-worker.log")


if __name__ == "__main__":
    main()
