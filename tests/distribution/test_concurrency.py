"""The invariants under real concurrency: threads on their own PostgreSQL connections, and a
real Celery worker refilling queues that is killed with SIGKILL mid-run."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from datetime import timedelta

import psutil
import pytest
from django.db import connection
from django.db.models import F, Q
from django.utils import timezone

from annotate.models import Annotation, Lease
from annotate.services.distribution import leases_expire
from tenants.models import Membership
from tenants.scoping import tenant_context
from tests.conftest import World, build_world
from tests.distribution.conftest import (
    add_items,
    annotator,
    check_invariants,
    client_for,
    configure,
)
from tests.workers.conftest import start_celery_worker, stop_celery_worker
from workers.celery import app


@pytest.fixture
def cworld(committed: None) -> World:
    app.control.purge()
    return build_world()


def work_until_done(
    w: World, membership: Membership, log: list[tuple[int, str]], errors: list[str]
) -> None:
    """One annotator's loop: next, submit, until there is nothing left. Own DB connection."""
    client = client_for(membership)
    url = f"/api/v1/t/tenant-a/projects/{w.project_a.id}"
    try:
        for _ in range(1000):
            response = client.post(f"{url}/next")
            if response.status_code == 204:
                return
            if response.status_code not in (200, 201):
                errors.append(f"next {response.status_code} {response.content[:200]!r}")
                return
            lease = response.json()
            done = client.post(
                f"{url}/leases/{lease['id']}/submit",
                {"result": {"label": "a"}},
                format="json",
                HTTP_IDEMPOTENCY_KEY=lease["id"],
            )
            if done.status_code == 409 and done.json()["error"]["code"] == "lease_expired":
                continue
            if done.status_code not in (200, 201):
                errors.append(f"submit {done.status_code} {done.content[:200]!r}")
                return
            log.append((membership.user_id, lease["item"]["id"]))
    finally:
        connection.close()


def work_combined_until_done(
    w: World, membership: Membership, log: list[tuple[int, str]], errors: list[str]
) -> None:
    """One annotator's loop with ``submit?next=1``: one ``next``, then each submit hands out the
    next lease, until there is none. Own DB connection."""
    client = client_for(membership)
    url = f"/api/v1/t/tenant-a/projects/{w.project_a.id}"
    try:
        response = client.post(f"{url}/next")
        if response.status_code == 204:
            return
        lease = response.json()
        for _ in range(1000):
            done = client.post(
                f"{url}/leases/{lease['id']}/submit?next=1",
                {"result": {"label": "a"}},
                format="json",
                HTTP_IDEMPOTENCY_KEY=lease["id"],
            )
            if done.status_code not in (200, 201):
                errors.append(f"submit?next=1 {done.status_code} {done.content[:200]!r}")
                return
            log.append((membership.user_id, lease["item"]["id"]))
            lease = done.json()["next"]
            if lease is None and done.json()["next_reason"] == "retry":
                # What is left was held by other requests that instant: ask `next`, which waits.
                response = client.post(f"{url}/next")
                if response.status_code == 204:
                    return
                lease = response.json()
            if lease is None:
                if done.json()["next_reason"] != "exhausted":
                    errors.append(f"no next lease: {done.json()['next_reason']}")
                return
    finally:
        connection.close()


def run_annotators(
    w: World, members: list[Membership], loop=work_until_done
) -> list[tuple[int, str]]:
    log: list[tuple[int, str]] = []
    errors: list[str] = []
    threads = [threading.Thread(target=loop, args=(w, m, log, errors)) for m in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors[:5]
    return log


def test_eight_annotators_overlap_1_no_item_twice(cworld: World) -> None:
    w = cworld
    configure(w.project_a)
    items = add_items(w.project_a, 120)
    members = [annotator(w.project_a, f"ann-{i}") for i in range(8)]
    log = run_annotators(w, members)
    per_item = Counter(item for _, item in log)
    assert len(per_item) == len(items) and set(per_item.values()) == {1}
    assert len({user for user, _ in log}) > 1  # the work really was shared
    totals = check_invariants(w.project_a)
    assert totals["annotations"] == len(items)


def test_overlap_3_gives_three_distinct_annotators_per_item(cworld: World) -> None:
    w = cworld
    configure(w.project_a, overlap=3)
    w.project_a.overlap = 3
    items = add_items(w.project_a, 30)
    members = [annotator(w.project_a, f"ann-{i}") for i in range(6)]
    log = run_annotators(w, members)
    by_item: dict[str, list[int]] = {}
    for user, item in log:
        by_item.setdefault(item, []).append(user)
    assert len(by_item) == len(items)
    for item, users in by_item.items():
        assert len(users) == 3 and len(set(users)) == 3, (item, users)
    check_invariants(w.project_a)


def test_eight_annotators_with_submit_next_overlap_1_no_item_twice(cworld: World) -> None:
    w = cworld
    configure(w.project_a)
    items = add_items(w.project_a, 120)
    members = [annotator(w.project_a, f"ann-{i}") for i in range(8)]
    log = run_annotators(w, members, work_combined_until_done)
    per_item = Counter(item for _, item in log)
    assert len(per_item) == len(items) and set(per_item.values()) == {1}
    assert len({user for user, _ in log}) > 1
    totals = check_invariants(w.project_a)
    assert totals["annotations"] == len(items)
    with tenant_context(w.a.id):
        assert not Lease.objects.filter(state__in=Lease.LIVE).exists()


def test_overlap_3_with_submit_next_gives_three_distinct_annotators(cworld: World) -> None:
    w = cworld
    configure(w.project_a, overlap=3)
    w.project_a.overlap = 3
    items = add_items(w.project_a, 30)
    members = [annotator(w.project_a, f"ann-{i}") for i in range(6)]
    log = run_annotators(w, members, work_combined_until_done)
    by_item: dict[str, list[int]] = {}
    for user, item in log:
        by_item.setdefault(item, []).append(user)
    assert len(by_item) == len(items)
    for item, users in by_item.items():
        assert len(users) == 3 and len(set(users)) == 3, (item, users)
    check_invariants(w.project_a)


def test_one_annotator_in_six_tabs_never_gets_an_item_twice(cworld: World) -> None:
    w = cworld
    configure(w.project_a, overlap=2)
    w.project_a.overlap = 2
    add_items(w.project_a, 40)
    one = annotator(w.project_a, "ann-tabs")
    run_annotators(w, [one] * 6)
    # Tabs may be handed the same held lease (and its retried submit replays); never a second
    # lease or a second annotation on one item.
    with tenant_context(w.a.id):
        leases = Counter(Lease.objects.filter(annotator_id=one.user_id).values_list("item_id"))
        annotations = Counter(
            Annotation.objects.filter(author_id=one.user_id).values_list("item_id")
        )
    assert len(leases) == 40 and set(leases.values()) == {1}
    assert len(annotations) == 40 and set(annotations.values()) == {1}
    check_invariants(w.project_a)


@pytest.mark.worker
def test_refill_worker_killed_mid_run_keeps_invariants(cworld: World) -> None:
    w = cworld
    configure(w.project_a, lease_seconds=300)
    items = add_items(w.project_a, 150)
    members = [annotator(w.project_a, f"ann-{i}") for i in range(6)]
    worker = start_celery_worker("refill", "--pool", "prefork", "--concurrency", "1")
    try:
        log: list[tuple[int, str]] = []
        errors: list[str] = []
        threads = [
            threading.Thread(target=work_until_done, args=(w, m, log, errors)) for m in members
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while not _queued_exists(w) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _queued_exists(w), "the worker never reserved a lease ahead of need"
        for child in psutil.Process(worker.pid).children(recursive=True):
            child.send_signal(signal.SIGKILL)  # mid-run: whatever it was claiming rolls back
        for thread in threads:
            thread.join(120)
        assert not errors, errors[:5]
    finally:
        stop_celery_worker(worker)
    check_invariants(w.project_a)
    # Reservations left behind (for annotators who had stopped asking) expire and return.
    with tenant_context(w.a.id):
        leases_expire(tenant_id=w.a.id, now=timezone.now() + timedelta(days=1))
        assert not Lease.objects.filter(state__in=Lease.LIVE).exists()
    check_invariants(w.project_a)
    run_annotators(w, [annotator(w.project_a, "sweeper")])
    with tenant_context(w.a.id):
        counts = Counter(
            Annotation.objects.filter(project=w.project_a).values_list("item_id", flat=True)
        )
    assert len(counts) == len(items) and set(counts.values()) == {1}
    check_invariants(w.project_a)


def _queued_exists(w: World) -> bool:
    """The worker reserved a lease ahead of need: one is queued now, or was and has been
    popped since (a lease claimed in the request has ``leased_at == created_at``; a popped
    reservation was created earlier). The annotators may pop reservations faster than this
    is polled."""
    with tenant_context(w.a.id):
        found = Lease.objects.filter(
            Q(state=Lease.State.QUEUED) | Q(leased_at__gt=F("created_at"))
        ).exists()
    connection.close()
    return found


@pytest.mark.worker
def test_real_worker_computes_agreement_and_completes_the_project(cworld: World) -> None:
    from annotate.models import ItemAgreement, Project

    w = cworld
    configure(w.project_a, overlap=2)
    w.project_a.overlap = 2
    add_items(w.project_a, 5)
    worker = start_celery_worker("agreement", "--pool", "solo")
    try:
        run_annotators(w, [annotator(w.project_a, f"ann-{i}") for i in range(2)])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with tenant_context(w.a.id):
                done = ItemAgreement.objects.filter(project=w.project_a).count()
                completed = Project.objects.get(id=w.project_a.id).completed_at
            connection.close()
            if done == 5 and completed:
                break
            time.sleep(0.2)
    finally:
        stop_celery_worker(worker)
    assert (done, completed is not None) == (5, True)


@pytest.mark.worker
@pytest.mark.parametrize("combined", [False, True], ids=["two", "submit-next"])
def test_overlap_1_project_completes_through_the_after_commit_check(
    cworld: World, combined: bool
) -> None:
    """With ``submit?next=1`` the check is skipped while a lease is handed out in the same
    transaction (an item is then still open); the last submits, with none, still run it."""
    from annotate.models import Project

    w = cworld
    configure(w.project_a)
    add_items(w.project_a, 6)
    worker = start_celery_worker("complete", "--pool", "solo")
    loop = work_combined_until_done if combined else work_until_done
    try:
        run_annotators(w, [annotator(w.project_a, f"ann-{i}") for i in range(3)], loop)
        deadline = time.monotonic() + 60
        completed = None
        while time.monotonic() < deadline and completed is None:
            with tenant_context(w.a.id):
                completed = Project.objects.get(id=w.project_a.id).completed_at
            connection.close()
            time.sleep(0.2)
    finally:
        stop_celery_worker(worker)
    assert completed is not None


def test_items_held_by_others_that_instant_answer_retry_then_next_gets_them(
    cworld: World,
) -> None:
    import psycopg

    from tests.conftest import app_conninfo

    w = cworld
    configure(w.project_a)
    first, second = add_items(w.project_a, 2)
    client = client_for(annotator(w.project_a, "ann-1"))
    url = f"/api/v1/t/tenant-a/projects/{w.project_a.id}"
    lease = client.post(f"{url}/next").json()
    assert lease["item"]["id"] == str(first.id)
    # Another transaction holds the only other item's row (as a claim or a submit would).
    with psycopg.connect(app_conninfo()) as other:
        other.execute("SELECT set_config('app.tenant_id', %s, true)", [str(w.a.id)])
        locked = other.execute(
            "SELECT id FROM annotate_item WHERE id = %s FOR UPDATE", [second.id]
        ).fetchall()
        assert len(locked) == 1
        done = client.post(
            f"{url}/leases/{lease['id']}/submit?next=1", {"result": {"label": "a"}}, format="json"
        )
        assert done.status_code == 201, done.content
        assert done.json()["next"] is None and done.json()["next_reason"] == "retry"
        other.rollback()
    following = client.post(f"{url}/next")
    assert following.status_code == 201 and following.json()["item"]["id"] == str(second.id)
    check_invariants(w.project_a)
