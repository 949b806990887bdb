"""K concurrent annotators looping next + submit over the real HTTP API.

Run with `make bench-distribution` (embedded services) or
`python -m annotate.stack exec -- python bench/distribution_bench.py`.

For each (loop, overlap, K) it creates a fresh project of N items (default 100,000), starts K
client threads (each with its own keep-alive HTTP connection and its own annotator token) that
each loop for a bounded number of iterations, and reports annotations/second, p50 and p99
latency of ``next`` and of submit, and the number of items handed to more annotators than the
overlap allows, or to one annotator twice (must be 0; counted from what the clients saw and
again from the database rows). Loops (``--loop``, repeatable):

* ``two``: ``POST next`` + ``POST submit``, two requests per annotation;
* ``combined``: one ``POST next``, then ``POST submit?next=1`` (the result and the next lease
  in one request), one request per annotation; its latency is reported as submit's.

Server, database, Celery worker and clients all run on this machine, which may be shared: each
row prints the 1-minute load average before and after it (``os.getloadavg()``) and, as ``py ms``,
the CPU milliseconds a fixed Python loop took just before it (``bench.machine.python_speed_ms``:
the machine's speed of the moment; lower is faster). Each row starts once the Celery worker has
finished the previous row's work (agreements of an overlap-3 row), so that it has the cores.
``--repeat N`` runs each row N times, each on a fresh project, and ends with the median and
range of annotations/s and of ``py ms`` per row.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "bench-" + "x" * 40)

from annotate.stack import free_port, web_command  # noqa: E402
from bench.machine import machine_description, python_speed_ms  # noqa: E402

SCHEMA = {
    "version": 1,
    "data": {"text": {"type": "text"}},
    "fields": [{"name": "label", "type": "choices", "choices": ["a", "b"]}],
}


def setup_tenant(k_max: int) -> tuple[str, list[tuple[object, str]]]:
    """A tenant with ``k_max`` annotators (tokens). Returns (slug, [(membership, token)])."""
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

    slug = f"dist-{int(time.time())}"
    tenant = tenant_create(slug=slug, name="Distribution bench")
    annotators = []
    for i in range(k_max):
        user, _ = user_get_or_create(username=f"{slug}-ann-{i}")
        membership = membership_add(tenant=tenant, user=user, role=Role.ANNOTATOR)
        with tenant_context(tenant.id):
            raw = token_create(membership=membership, name="bench", created_by=None).raw
        annotators.append((membership, raw))
    return slug, annotators


def make_project(slug: str, annotators: list[tuple[object, str]], n: int, overlap: int) -> str:
    """A project of ``n`` items (one SQL statement), annotate granted to every annotator."""
    from django.db import connection

    from annotate.models import Dataset, Project
    from annotate.services.projects import project_permission_grant
    from tenants.models import Tenant
    from tenants.scoping import tenant_context

    tenant = Tenant.objects.get(slug=slug)
    with tenant_context(tenant.id):
        first = annotators[0][0]
        project = Project.objects.create(
            tenant=tenant,
            name=f"bench overlap {overlap}",
            label_schema=SCHEMA,
            overlap=overlap,
            created_by_id=first.user_id,
            item_positions=n,
        )
        dataset = Dataset.objects.create(project=project, name="bench")
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO annotate_item (tenant_id, id, project_id, dataset_id, external_id,
                    data, media, priority, status, seq, queue_key, slots_taken, done_count,
                    created_at)
                SELECT %s, gen_random_uuid(), %s, %s, 'b' || g,
                       jsonb_build_object('text', repeat('lorem ipsum ', 16) || g), '[]', 0,
                       'new', g, g, 0, 0, now()
                  FROM generate_series(1, %s) g
                """,
                [tenant.id, project.id, dataset.id, n],
            )
        for membership, _ in annotators:
            project_permission_grant(project=project, membership=membership, permission="annotate")
    connection.close()
    analyze()
    return str(project.id)


def analyze() -> None:
    """Fresh statistics for the imported items, as autovacuum gathers within a minute of a
    large import (the application role may not run ANALYZE; the owner may).

    TRICKY: the lease table is analysed only once it holds thousands of leases (1 MB), as a
    deployment's has after its first hours. Statistics of a tiny lease table (none, or the 50
    leases of a warm-up) gave each connection's generic plans sequential scans of it, kept
    while the run filled it: the database's CPU per annotation grew from 2.4 to 6 ms over
    3,000 annotations (docs/distribution.md, "Performance", item 19).
    """
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
        conn.execute("ANALYZE annotate_item")
        # (Its size, not a row count: row-level security shows the owner no rows.)
        if conn.execute("SELECT pg_relation_size('annotate_lease') >= 1048576").fetchone()[0]:
            conn.execute("ANALYZE annotate_lease")


class Client(threading.Thread):
    def __init__(
        self, port: int, path: str, token: str, iterations: int, combined: bool = False
    ) -> None:
        super().__init__(daemon=True)
        self.port, self.path, self.token, self.iterations = port, path, token, iterations
        self.combined = combined
        self.next_ms: list[float] = []
        self.submit_ms: list[float] = []
        self.items: list[str] = []
        self.errors: list[str] = []

    def _post(self, conn: http.client.HTTPConnection, url: str, body: bytes | None) -> tuple:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        started = time.perf_counter()
        conn.request("POST", url, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, data, (time.perf_counter() - started) * 1000

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.connect()
        # No Nagle: http.client writes headers and body separately, and a small second segment
        # would wait for the server's delayed ACK (~40 ms), measuring TCP, not the server.
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = json.dumps({"result": {"label": "a"}}).encode()
        try:
            if self.combined:
                self._run_combined(conn, body)
                return
            for _ in range(self.iterations):
                status, data, ms = self._post(conn, f"{self.path}/next", None)
                self.next_ms.append(ms)
                if status == 204:
                    return
                if status not in (200, 201):
                    self.errors.append(f"next {status} {data[:200]!r}")
                    return
                lease = json.loads(data)
                self.items.append(lease["item"]["id"])
                status, data, ms = self._post(
                    conn, f"{self.path}/leases/{lease['id']}/submit", body
                )
                self.submit_ms.append(ms)
                if status not in (200, 201):
                    self.errors.append(f"submit {status} {data[:200]!r}")
                    return
        except OSError as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    def _run_combined(self, conn: http.client.HTTPConnection, body: bytes) -> None:
        status, data, ms = self._post(conn, f"{self.path}/next", None)
        self.next_ms.append(ms)
        if status not in (200, 201):
            if status != 204:
                self.errors.append(f"next {status} {data[:200]!r}")
            return
        lease = json.loads(data)
        for _ in range(self.iterations):
            self.items.append(lease["item"]["id"])
            status, data, ms = self._post(
                conn, f"{self.path}/leases/{lease['id']}/submit?next=1", body
            )
            self.submit_ms.append(ms)
            if status not in (200, 201):
                self.errors.append(f"submit?next=1 {status} {data[:200]!r}")
                return
            answer = json.loads(data)
            lease = answer["next"]
            if lease is None and answer["next_reason"] == "retry":
                # What is left was held by other requests that instant: `next` waits for it.
                status, data, ms = self._post(conn, f"{self.path}/next", None)
                self.next_ms.append(ms)
                if status not in (200, 201):
                    return
                lease = json.loads(data)
            if lease is None:
                return


def process_tree(pid: int) -> list:
    """The process ``pid`` and its descendants (none if it has exited)."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(procs: list) -> dict[int, float]:
    """CPU seconds (user + system) used so far by each of ``procs`` still alive, by pid, with
    those of its children that have exited and been reaped (the kernel adds them to the
    parent's ``children_*`` times)."""
    import psutil

    seen = {}
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        seen[proc.pid] = times.user + times.system + times.children_user + times.children_system
    return seen


class CpuMeter:
    """CPU seconds (user + system) used between two snapshots by each group of processes, as
    a whole tree: the web server's, the Celery worker's, the PostgreSQL server's that holds the
    bench's database (its backends, whichever ended or began during the row, and its WAL
    writer, checkpointer and autovacuum) and this process (the clients). A cost per annotation
    that the machine's other load does not change much."""

    def __init__(self, web_pid: int, worker_pid: int) -> None:
        self.web_pid, self.worker_pid = web_pid, worker_pid
        self.postgres_pid = postmaster_pid()

    def _processes(self) -> dict[str, list]:
        import psutil

        return {
            "web": process_tree(self.web_pid),
            "worker": process_tree(self.worker_pid),
            "db": process_tree(self.postgres_pid),
            "clients": [psutil.Process()],
        }

    def snapshot(self) -> dict[str, float]:
        return {
            group: sum(cpu_seconds(procs).values()) for group, procs in self._processes().items()
        }

    @staticmethod
    def used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        """Seconds per group. A process that exited in between was reaped by its parent, in
        the same tree: its CPU moved to the parent's ``children_*`` times, still counted."""
        return {group: after[group] - before[group] for group in after}


def postmaster_pid() -> int:
    """The pid of the PostgreSQL server of the bench's database (on this machine): the parent
    of this process's backend."""
    import psutil
    from django.db import connection

    connection.ensure_connection()
    return psutil.Process(connection.connection.info.backend_pid).ppid()


def wait_until_idle(pid: int, *, quiet_seconds: float = 2.0, limit: float = 180.0) -> float:
    """Wait until the process ``pid`` and its children (the Celery worker) have used no CPU for
    ``quiet_seconds``, at most ``limit`` seconds; returns the seconds waited. A row's worker
    work (agreement of the items an overlap-3 row completed) otherwise runs into the next row
    and takes its cores."""

    def used() -> float:
        return sum(cpu_seconds(process_tree(pid)).values())

    started = time.monotonic()
    last, quiet_since = used(), time.monotonic()
    while time.monotonic() - started < limit:
        time.sleep(0.5)
        now = used()
        if now - last > 0.02:
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_seconds:
            break
    return time.monotonic() - started


def _ms(value: float) -> str:
    """A latency for the table; "-" where there is none (``next`` in the combined loop, whose
    one request per annotation is reported as submit's)."""
    return "-" if math.isnan(value) else f"{value:.1f}"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def db_violations(slug: str, project_id: str, overlap: int) -> int:
    """Items with more leases that were not given back than the overlap, or with two leases of
    one annotator (the unique key makes the latter impossible; counted anyway)."""
    from django.db import connection

    from tenants.models import Tenant
    from tenants.scoping import tenant_context

    tenant = Tenant.objects.get(slug=slug)
    with tenant_context(tenant.id), connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FROM (
                SELECT item_id FROM annotate_lease
                 WHERE tenant_id = %s AND project_id = %s
                   AND state IN ('queued', 'active', 'submitted')
                 GROUP BY item_id
                HAVING count(*) > %s OR count(DISTINCT annotator_id) < count(*)) v
            """,
            [tenant.id, project_id, overlap],
        )
        (count,) = cursor.fetchone()
    connection.close()
    return count


def run_one(
    slug: str,
    annotators: list,
    port: int,
    n: int,
    overlap: int,
    k: int,
    total: int,
    combined: bool = False,
    meter: CpuMeter | None = None,
) -> dict:
    project_id = make_project(slug, annotators[:k], n, overlap)
    path = f"/api/v1/t/{slug}/projects/{project_id}"
    per_client = max(1, total // k)
    clients = [Client(port, path, annotators[i][1], per_client, combined) for i in range(k)]
    load_before = os.getloadavg()[0]
    cpu_before = meter.snapshot() if meter else None
    started = time.perf_counter()
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    seconds = time.perf_counter() - started
    cpu = CpuMeter.used(cpu_before, meter.snapshot()) if meter else {}
    load_after = os.getloadavg()[0]
    errors = [e for c in clients for e in c.errors]
    handed: dict[str, list[int]] = defaultdict(list)
    for index, client in enumerate(clients):
        for item in client.items:
            handed[item].append(index)
    client_dupes = sum(
        1 for owners in handed.values() if len(owners) > overlap or len(set(owners)) < len(owners)
    )
    next_ms = [v for c in clients for v in c.next_ms]
    submit_ms = [v for c in clients for v in c.submit_ms]
    return {
        "loop": "combined" if combined else "two",
        "cpu_ms": {g: v * 1000 / max(1, len(submit_ms)) for g, v in cpu.items()},
        "requests": len(next_ms) + len(submit_ms),
        "load": (load_before, load_after),
        "overlap": overlap,
        "k": k,
        "annotations": len(submit_ms),
        "seconds": seconds,
        "rate": len(submit_ms) / seconds,
        "next_p50": statistics.median(next_ms) if not combined else float("nan"),
        "next_p99": percentile(next_ms, 99) if not combined else float("nan"),
        "submit_p50": statistics.median(submit_ms),
        "submit_p99": percentile(submit_ms, 99),
        "dupes_clients": client_dupes,
        "dupes_db": db_violations(slug, project_id, overlap),
        "errors": errors[:3],
    }


def print_repeats(runs: dict[tuple[str, int, int], list[tuple[float, float]]]) -> None:
    """Per row: the median and range of annotations/s and of py ms over its repeated runs."""
    print(
        f"\n{'loop':>8} {'overlap':>7} {'K':>3} {'runs':>4}  "
        "ann/s median (min-max)  py ms (min-max)"
    )
    for (loop, overlap, k), values in runs.items():
        rates = [rate for rate, _ in values]
        speeds = [speed for _, speed in values]
        print(
            f"{loop:>8} {overlap:>7} {k:>3} {len(values):>4}  "
            f"{statistics.median(rates):>12.0f} ({min(rates):.0f}-{max(rates):.0f})  "
            f"{min(speeds):>6.0f}-{max(speeds):.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--k", type=int, action="append", help="concurrent clients (repeatable)")
    parser.add_argument("--overlap", type=int, action="append", help="(repeatable)")
    parser.add_argument("--annotations", type=int, default=4000, help="per run, all clients")
    # 2 x 3 on this 2-core machine: four alternated rounds against 3 x 4 gave 9-26 % more
    # annotations/s, with less CPU per annotation in the web processes and the database
    # (fewer threads handing the GIL over, fewer busy backends); docs/distribution.md, item 17.
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=3)
    parser.add_argument(
        "--loop",
        choices=["two", "combined"],
        action="append",
        help="two: next + submit; combined: submit?next=1 (repeatable; default: two)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run each row this many times, each on a fresh project, then print the median "
        "and range of annotations/s and of py ms per row (the machine's speed varies: one run "
        "says more about the moment than about the code)",
    )
    parser.add_argument(
        "--queue-depth",
        type=int,
        default=None,
        help="DISTRIBUTION_QUEUE_DEPTH for the server and worker (default: the setting's)",
    )
    args = parser.parse_args()
    ks = args.k or [1, 8, 32]
    overlaps = args.overlap or [1, 3]
    loops = args.loop or ["two"]
    slug, annotators = setup_tenant(max(ks))
    port = free_port()
    env = dict(os.environ)
    if args.queue_depth is not None:
        env["DISTRIBUTION_QUEUE_DEPTH"] = str(args.queue_depth)
    from django.conf import settings

    depth = env.get("DISTRIBUTION_QUEUE_DEPTH", str(settings.DISTRIBUTION_QUEUE_DEPTH))
    web = subprocess.Popen(
        web_command(port=port, workers=args.web_workers, threads=args.web_threads),
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
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        time.sleep(2)
        print(f"machine: {machine_description()}")
        print(
            f"server: granian {args.web_workers} workers x {args.web_threads} threads; "
            f"1 Celery worker; DISTRIBUTION_QUEUE_DEPTH={depth}; items per project: {args.items}"
        )
        print(f"load average at start (1, 5, 15 min): {os.getloadavg()}")
        print(
            f"{'loop':>8} {'overlap':>7} {'K':>3} {'annotations':>11} {'ann/s':>7} {'req/s':>6} "
            f"{'next p50 ms':>11} {'next p99':>9} {'submit p50':>10} {'submit p99':>10} "
            f"{'dupes':>6} {'load':>11} {'py ms':>6}  CPU ms/annotation: web db worker clients"
        )
        meter = CpuMeter(web.pid, worker.pid)
        runs: dict[tuple[str, int, int], list[tuple[float, float]]] = defaultdict(list)
        for loop, overlap, k in (
            (loop, overlap, k)
            for loop in loops
            for overlap in overlaps
            for k in ks
            for _ in range(args.repeat)
        ):
            total = args.annotations if k > 1 else min(args.annotations, 1000)
            waited = wait_until_idle(worker.pid)
            if waited > 5:
                print(f"(waited {waited:.0f} s for the worker to finish the last row's work)")
            speed = python_speed_ms()
            r = run_one(
                slug,
                annotators,
                port,
                args.items,
                overlap,
                k,
                total,
                loop == "combined",
                meter,
            )
            load = f"{r['load'][0]:.2f}>{r['load'][1]:.2f}"
            cpu = " ".join(
                f"{r['cpu_ms'].get(g, 0):.1f}" for g in ("web", "db", "worker", "clients")
            )
            print(
                f"{r['loop']:>8} {r['overlap']:>7} {r['k']:>3} {r['annotations']:>11} "
                f"{r['rate']:>7.0f} {r['requests'] / r['seconds']:>6.0f} "
                f"{_ms(r['next_p50']):>11} {_ms(r['next_p99']):>9} "
                f"{r['submit_p50']:>10.1f} {r['submit_p99']:>10.1f} "
                f"{r['dupes_clients'] + r['dupes_db']:>6} "
                f"{load:>11} {speed:>6.0f}  {cpu}"
                + (f"  errors: {r['errors']}" if r["errors"] else ""),
                flush=True,
            )
            runs[(loop, overlap, k)].append((r["rate"], speed))
        if args.repeat > 1:
            print_repeats(runs)
    finally:
        for proc in (web, worker):
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
