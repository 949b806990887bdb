"""Ingest N text items through the HTTP API and compare with a raw PostgreSQL COPY.

Run with `make bench-import` (embedded services) or
`python -m annotate.stack exec -- python bench/import_bench.py --n 100000 --n 1000000`.

For each N it reports: items/second end to end (upload start to import finished), the peak
resident memory of the web and worker process trees, and, on the same machine in the same run,
two physical references, timed in the same run on the same server: a raw COPY of the file's
lines into a jsonb column of a bare table (no index: the disk's and COPY's own speed), and a raw
COPY of the finished item rows into a table shaped, indexed and constrained like annotate_item
(what storing the same rows costs with nothing of the pipeline: no HTTP, parsing, validation,
encryption or RLS).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import psutil
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-" + "x" * 40)

from annotate.stack import free_port, web_command  # noqa: E402
from bench.machine import machine_description  # noqa: E402

WORDS = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
]


POLL_SECONDS = 0.1  # the status poll of the client


def make_file(path: Path, n: int) -> int:
    rng = random.Random(7)
    with path.open("w") as f:
        for i in range(n):
            text = " ".join(rng.choice(WORDS) for _ in range(32))[:200]
            f.write(json.dumps({"external_id": f"n{n}-item-{i}", "data": {"text": text}}) + "\n")
    return path.stat().st_size


class PeakRss(threading.Thread):
    """Samples the resident memory of process trees every 50 ms."""

    def __init__(self, procs: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.procs = procs
        self.peak = dict.fromkeys(procs, 0)
        self.running = True

    def run(self) -> None:
        while self.running:
            for name, pid in self.procs.items():
                try:
                    root = psutil.Process(pid)
                    tree = [root, *root.children(recursive=True)]
                    # Peak of the largest single process (the one doing the work), not the sum
                    # of idle pool siblings.
                    rss = max(p.memory_info().rss for p in tree)
                except psutil.Error:
                    continue
                self.peak[name] = max(self.peak[name], rss)
            time.sleep(0.05)


def setup_django() -> tuple[str, str]:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", database="owner", verbosity=0)
    from annotate.models import Project
    from tenants.models import Role, Tenant
    from tenants.scoping import tenant_context
    from tenants.services.memberships import (
        membership_add,
        tenant_create,
        token_create,
        user_get_or_create,
    )

    slug = f"bench-{int(time.time())}"
    tenant = tenant_create(slug=slug, name="Bench")
    user, _ = user_get_or_create(username=f"{slug}-mgr")
    membership = membership_add(tenant=tenant, user=user, role=Role.MANAGER)
    assert Tenant.objects.filter(id=tenant.id).exists()
    with tenant_context(tenant.id):
        project = Project.objects.create(
            tenant=tenant,
            name="bench",
            created_by_id=user.id,
            label_schema={
                "version": 1,
                "data": {"text": {"type": "text"}},
                "fields": [{"name": "l", "type": "choices", "choices": ["a", "b"]}],
            },
        )
        token = token_create(membership=membership, name="bench", created_by=None).raw
    return f"/api/v1/t/{slug}/projects/{project.id}/imports", token


def raw_copy_rate(path: Path, n: int) -> tuple[float, float]:
    from django.conf import settings

    owner = settings.DATABASES["owner"]
    conninfo = " ".join(
        f"{k}='{v}'"
        for k, v in {
            "dbname": owner["NAME"],
            "user": owner["USER"],
            "host": owner["HOST"],
            "port": owner.get("PORT") or "",
            "password": owner.get("PASSWORD") or "",
        }.items()
        if v
    )
    with psycopg.connect(conninfo) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw_copy")
        conn.execute("CREATE TABLE bench_raw_copy (data jsonb NOT NULL)")
        conn.commit()
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy("COPY bench_raw_copy (data) FROM STDIN") as copy,
            path.open("rb") as f,
        ):
            while chunk := f.read(1024 * 1024):
                copy.write(chunk)
        conn.commit()
        elapsed = time.perf_counter() - started
        # The same rows as the item table holds them (every column, ids in insertion order as
        # the pipeline's UUIDv7 are), written to a file first (not timed), then COPYed into a
        # table shaped, indexed and constrained like annotate_item (LIKE … INCLUDING ALL: no
        # foreign keys, no RLS, no Python): a raw COPY of the items themselves.
        rows = path.with_suffix(".rows")
        with (
            conn.cursor() as cur,
            cur.copy(
                """
                COPY (
                    SELECT t.tenant, ('00000000-0000-7000-8000-' || lpad(to_hex(n), 12, '0')),
                           t.project, t.dataset, coalesce(data->>'external_id', ''),
                           data->'data', '[]', 0, 'new', n, n, 0, 0, now()
                      FROM (SELECT data, row_number() OVER () AS n FROM bench_raw_copy) r,
                           (SELECT gen_random_uuid() AS tenant, gen_random_uuid() AS project,
                                   gen_random_uuid() AS dataset) t
                ) TO STDOUT
                """
            ) as copy,
            rows.open("wb") as out,
        ):
            for block in copy:
                out.write(block)
        conn.execute("DROP TABLE IF EXISTS bench_items")
        conn.execute("CREATE TABLE bench_items (LIKE annotate_item INCLUDING ALL)")
        conn.commit()
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY bench_items (tenant_id, id, project_id, dataset_id, external_id, data, "
                "media, priority, status, seq, queue_key, slots_taken, done_count, created_at) "
                "FROM STDIN"
            ) as copy,
            rows.open("rb") as f,
        ):
            while chunk := f.read(1024 * 1024):
                copy.write(chunk)
        conn.commit()
        indexed = time.perf_counter() - started
        rows.unlink()
        conn.execute("DROP TABLE bench_items")
        conn.execute("DROP TABLE bench_raw_copy")
        conn.commit()
    return n / elapsed, n / indexed


def run_one(
    n: int, url_path: str, token: str, base: str, procs: dict[str, int]
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "items.jsonl"
        size = make_file(path, n)
        monitor = PeakRss(procs)
        monitor.start()
        load = os.getloadavg()[0]
        started = time.perf_counter()
        started_wall = time.time()
        with path.open("rb") as body:
            request = urllib.request.Request(  # noqa: S310 - our own local server
                f"{base}{url_path}?format=jsonl",
                data=body,
                method="POST",
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Length": str(size),
                    "Content-Type": "application/x-ndjson",
                },
            )
            with urllib.request.urlopen(request) as response:  # noqa: S310
                status_url = json.loads(response.read())["url"]
        uploaded = time.perf_counter() - started
        accepted_wall = time.time()
        deadline = time.monotonic() + 3600
        while True:
            if time.monotonic() > deadline:
                raise SystemExit("import did not finish within an hour")
            req = urllib.request.Request(  # noqa: S310 - our own local server
                f"{base}{status_url}", headers={"Authorization": f"Bearer {token}"}
            )
            with urllib.request.urlopen(req) as response:  # noqa: S310
                status = json.loads(response.read())
            if status["state"] in ("succeeded", "failed"):
                break
            time.sleep(POLL_SECONDS)
        elapsed = time.perf_counter() - started
        seen_wall = started_wall + elapsed
        monitor.running = False
        monitor.join()
        if status["state"] != "succeeded":
            raise SystemExit(f"import failed: {status['errors'][:3]}")
        # Where the end-to-end time went (the server's clock is this machine's): upload (until
        # the 202), queued (202 to the worker's start), ingest (start to finish, as the job
        # records them), then the commit and the client's status poll.
        job_started = datetime.fromisoformat(status["started_at"]).timestamp()
        job_finished = datetime.fromisoformat(status["finished_at"]).timestamp()
        raw, indexed = raw_copy_rate(path, n)
        return {
            "n": n,
            "bytes": size,
            "seconds": elapsed,
            "upload_seconds": uploaded,
            "queued_seconds": job_started - accepted_wall,
            "ingest_seconds": job_finished - job_started,
            "tail_seconds": seen_wall - job_finished,
            "load": load,
            "rate": n / elapsed,
            "raw_copy_rate": raw,
            "item_copy_rate": indexed,
            "web_peak_mib": monitor.peak["web"] / 2**20,
            "worker_peak_mib": monitor.peak["worker"] / 2**20,
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, action="append", help="items (repeatable)")
    args = parser.parse_args()
    sizes = args.n or [100_000, 1_000_000]
    url_path, token = setup_django()
    port = free_port()
    env = dict(os.environ)
    (ROOT / "var").mkdir(exist_ok=True)
    worker_log = (ROOT / "var" / "bench-worker.log").open("wb")  # phase timings of each import
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
        print(
            f"{'items':>10} {'MB':>7} {'end-to-end s':>13} {'items/s':>9} {'raw COPY items/s':>17} "
            f"{'ratio':>6} {'item COPY items/s':>18} {'ratio':>6} {'web peak MiB':>13} "
            f"{'worker peak MiB':>16} {'load':>5} | {'upload':>6} {'queued':>6} {'ingest':>6} "
            f"{'commit+poll':>11}"
        )
        for n in sizes:
            r = run_one(n, url_path, token, base, {"web": web.pid, "worker": worker.pid})
            print(
                f"{r['n']:>10} {r['bytes'] / 1e6:>7.1f} {r['seconds']:>13.1f} {r['rate']:>9.0f} "
                f"{r['raw_copy_rate']:>17.0f} {r['rate'] / r['raw_copy_rate']:>6.2f} "
                f"{r['item_copy_rate']:>18.0f} {r['rate'] / r['item_copy_rate']:>6.2f} "
                f"{r['web_peak_mib']:>13.0f} {r['worker_peak_mib']:>16.0f} {r['load']:>5.2f} | "
                f"{r['upload_seconds']:>6.2f} {r['queued_seconds']:>6.2f} "
                f"{r['ingest_seconds']:>6.2f} {r['tail_seconds']:>11.2f}",
                flush=True,
            )
    finally:
        for proc in (web, worker):
            proc.terminate()
            proc.wait(30)
        worker_log.close()
        print("phase timings of each import: var/bench-worker.log")


if __name__ == "__main__":
    main()
