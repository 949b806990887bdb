"""The annotator's queue position (overlap > 1): the claim starts after it, so the items an
annotator already had are not walked past again on every ``next``; and what the position
skips is never lost (a slot given back, an import, a re-key rewind it; what is left behind
it is found once nothing is left after it)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from annotate.models import Item, Lease, Project, QueueEpoch, QueuePosition
from annotate.services.distribution import (
    _claim_params,
    _claim_sql,
    lease_next,
    lease_release,
    lease_submit,
    leases_expire,
)
from annotate.services.projects import project_update
from annotate.services.queue import queue_keys_recompute
from tenants.models import Membership
from tenants.scoping import tenant_context
from tests.conftest import World
from tests.distribution.conftest import add_items, annotator, check_invariants, configure

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(world: World, settings) -> Project:
    settings.DISTRIBUTION_QUEUE_DEPTH = 0
    configure(world.project_a, overlap=3)
    return _fresh(world.project_a)


def _fresh(project: Project) -> Project:
    with tenant_context(project.tenant_id):
        return Project.objects.get(id=project.id)


def _next(project: Project, who: Membership) -> Lease | None:
    with tenant_context(project.tenant_id):
        return lease_next(project=_fresh(project), membership=who).lease


def _label(project: Project, who: Membership, n: int) -> list[str]:
    """``n`` rounds of next + submit; the external ids handed out, in order."""
    got = []
    for _ in range(n):
        lease = _next(project, who)
        assert lease is not None
        with tenant_context(project.tenant_id):
            lease_submit(
                project=_fresh(project),
                membership=who,
                lease_id=lease.id,
                result={"label": "a"},
                idempotency_key="",
            )
            got.append(Item.objects.get(id=lease.item_id).external_id)
    return got


def _probes(project: Project, who: Membership) -> int:
    """How many items the claim statement that ``next`` runs asked "had this annotator this
    item?" about (the look-ups of the (tenant, item, annotator) key), from EXPLAIN ANALYZE.
    Index scans only, as on a real queue: on a test's few rows the planner may prefer to read
    the whole table."""
    params = _claim_params(_fresh(project), who, 1, "active", timezone.now())
    with tenant_context(project.tenant_id), connection.cursor() as cursor:
        cursor.execute("SAVEPOINT walk")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + _claim_sql(False, True), params)
        (plan,) = cursor.fetchone()
        cursor.execute("ROLLBACK TO SAVEPOINT walk")
    plan = json.loads(plan) if isinstance(plan, str) else plan

    def probes(node: dict[str, Any]) -> int:
        own = 0
        if node.get("Index Name") == "lease_once_per_annotator":
            own = node["Actual Loops"]
        return own + sum(probes(child) for child in node.get("Plans", []))

    return probes(plan[0]["Plan"])


def test_the_claim_does_not_walk_past_the_items_the_annotator_already_had(
    project: Project,
) -> None:
    add_items(project, 60)
    ann = annotator(project, "ahead")
    assert _label(project, ann, 40) == [f"x{i}" for i in range(40)]
    # With overlap 3 all 40 stay in the queue (one slot of three each). From the position,
    # the claim asks about the next item only; from the head, about all 40 first.
    assert _probes(project, ann) == 1
    with tenant_context(project.tenant_id):
        QueuePosition.objects.all().delete()
    assert _probes(project, ann) == 41
    check_invariants(project)


def test_the_scan_starts_at_the_position_in_the_queue_index(project: Project) -> None:
    ann = annotator(project, "planned")
    params = _claim_params(project, ann, 1, "active", timezone.now())
    params["active_limit"] = 1
    for guarded in (False, True):
        with tenant_context(project.tenant_id), connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + _claim_sql(guarded, True), params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        # Where each scan starts is an index condition, not a filter over the queue's head
        # (under row-level security only leak-proof conditions can be).
        conditions = [line for line in plan.splitlines() if "Index Cond" in line]
        assert any("(priority = " in c and "(queue_key > " in c for c in conditions), plan
        assert any("(priority < " in c for c in conditions), plan


def test_a_slot_given_back_before_the_position_comes_next(project: Project) -> None:
    configure(project, overlap=2)
    add_items(project, 6)
    first, second, late = (annotator(project, n) for n in ("first", "second", "late"))
    assert _label(project, first, 1) == ["x0"]
    held = _next(project, second)  # x0 is full now (two slots of two)
    assert held is not None
    assert _label(project, late, 2) == ["x1", "x2"]  # passed x0 while it was full
    with tenant_context(project.tenant_id):
        lease_release(project=_fresh(project), membership=second, lease_id=held.id)
    # The release rewound the queue: x0 before x3.
    assert _label(project, late, 2) == ["x0", "x3"]
    check_invariants(project)


def test_an_expired_lease_before_the_position_comes_next(project: Project) -> None:
    configure(project, overlap=2)
    add_items(project, 5)
    first, second, late = (annotator(project, n) for n in ("first", "second", "late"))
    _label(project, first, 1)
    held = _next(project, second)
    assert held is not None
    assert _label(project, late, 1) == ["x1"]
    with tenant_context(project.tenant_id):
        Lease.objects.filter(id=held.id).update(expires_at=timezone.now())
        assert leases_expire(tenant_id=project.tenant_id) == 1
    assert _label(project, late, 2) == ["x0", "x2"]
    check_invariants(project)


def test_items_left_behind_the_position_are_found_when_nothing_is_after_it(
    project: Project,
) -> None:
    """An item another transaction held while the claim passed it (SKIP LOCKED) is behind
    the position without a rewind: it comes once nothing is left after the position, and
    the position does not move back."""
    add_items(project, 4)
    ann = annotator(project, "skipper")
    assert _label(project, ann, 1) == ["x0"]
    with tenant_context(project.tenant_id):
        last = Item.objects.get(external_id="x3")
        # As if the claim that took x0 had passed x1..x3 while others held them.
        QueuePosition.objects.update(priority=last.priority, queue_key=last.queue_key)
    assert _label(project, ann, 3) == ["x1", "x2", "x3"]
    with tenant_context(project.tenant_id):
        assert QueuePosition.objects.get().queue_key == last.queue_key
    assert _next(project, ann) is None
    check_invariants(project)


def test_an_item_that_sorts_before_the_position_comes_next_after_a_rewind(
    project: Project,
) -> None:
    """What an import of higher-priority items does (its rewind is tested with a real import
    in tests/imports/test_import_rewinds_queue.py)."""
    add_items(project, 5)
    ann = annotator(project, "prio")
    assert _label(project, ann, 2) == ["x0", "x1"]
    with tenant_context(project.tenant_id):
        # An item that sorts before the position (priority 5), then the rewind.
        Item.objects.filter(external_id="x4").update(priority=5)
        from annotate.services.distribution import queue_rewound

        queue_rewound(tenant_id=project.tenant_id, project_id=project.id)
    assert _label(project, ann, 2) == ["x4", "x2"]


def test_every_path_that_refills_the_queue_rewinds_it(project: Project, tmp_path) -> None:
    add_items(project, 3)
    ann = annotator(project, "epochs")

    def epoch() -> int:
        with tenant_context(project.tenant_id):
            row = QueueEpoch.objects.filter(project_id=project.id).first()
            return 0 if row is None else row.epoch

    _label(project, ann, 1)
    start = epoch()
    with tenant_context(project.tenant_id):
        queue_keys_recompute(project=_fresh(project))
    assert epoch() == start + 1
    with tenant_context(project.tenant_id):
        project_update(project=_fresh(project), changes={"overlap": 2})
    assert epoch() == start + 2
    lease = _next(project, ann)
    assert lease is not None
    with tenant_context(project.tenant_id):
        lease_release(project=_fresh(project), membership=ann, lease_id=lease.id)
    assert epoch() == start + 3


def test_projects_with_overlap_one_keep_no_position(world: World, settings) -> None:
    settings.DISTRIBUTION_QUEUE_DEPTH = 0
    configure(world.project_a)
    add_items(world.project_a, 3)
    ann = annotator(world.project_a, "single")
    lease = _next(world.project_a, ann)
    assert lease is not None
    with tenant_context(world.project_a.tenant_id):
        lease_release(project=_fresh(world.project_a), membership=ann, lease_id=lease.id)
        assert not QueuePosition.objects.exists()
        assert not QueueEpoch.objects.exists()
