"""Handing out work: next, submit, skip, release, expiry, queue refill.

Every function runs in the caller's transaction and tenant context (a request, or a task).

How the invariants hold (see annotate.models.work and docs/distribution.md):

* a slot is taken only by ``_claim``, which locks candidate item rows ``FOR UPDATE SKIP
  LOCKED`` and re-checks ``slots_taken < overlap`` on the locked, latest row version, then
  increments it in the same statement; every path that frees a slot (release, returned skip,
  expiry, rejected review) decrements it in the transaction that closes the lease;
* "never the same item twice" is the unique (item, annotator) key on leases; ``_claim`` also
  skips items the annotator has a lease row for, so the key is a backstop, not the mechanism;
* ``next`` pops a lease the refill worker reserved (``queued``) when there is one, else claims
  in the request: one short indexed transaction either way.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.http import Http404
from django.utils import timezone

from annotate.label_schema.results import result_errors
from annotate.models import (
    Annotation,
    Competitor,
    Item,
    Lease,
    Project,
    ProjectUserObjectPermission,
)
from annotate.permissions import ROLE_DEFAULTS
from annotate.webhooks.models import Webhook
from tenants.ids import uuid7
from tenants.models import Membership
from tenants.scoping import (
    TENANT_SETTING,
    USER_SETTING,
    CrossTenantWrite,
    current_tenant_id,
    db_set,
)
from tenants.sqlscript import (
    execute_prepared,
    from_row,
    insert_parts,
    prepared,
    reused_cursor,
    run_script,
    select_list,
    set_local,
)

logger = logging.getLogger(__name__)


class DistributionError(Exception):
    """A refused operation on a lease; ``code`` is machine-readable, the message is for people."""

    code = "refused"
    status = 409

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        if code:
            self.code = code
        if status:
            self.status = status


class Excluded(DistributionError):
    code = "competitor_excluded"
    status = 403


class ResultInvalid(Exception):
    def __init__(self, errors: list[tuple[str, str]]):
        super().__init__("; ".join(f"{f}: {m}" for f, m in errors))
        self.errors = errors


@dataclass(frozen=True)
class NextOutcome:
    lease: Lease | None
    # "new" (a fresh lease), "held" (the annotator already holds LEASE_MAX_ACTIVE: the oldest
    # is returned again), or, without a lease, why: "exhausted" or "limit_reached" ("retry"
    # with wait=False: what is left is held by other transactions this instant).
    status: str


# -- the project, as an annotator sees it ------------------------------------------------------

# Long texts the work endpoints never read: left out of the hot query (loaded on access).
_PROJECT_DEFERRED = ("description", "instructions")


@functools.cache
def _project_query() -> tuple[list[Any], str]:
    fields, columns = select_list(Project, "p", exclude=_PROJECT_DEFERRED)
    grants = ProjectUserObjectPermission._meta.db_table
    sql = f"""
SELECT {columns},
       ARRAY(SELECT a.codename FROM {grants} g
               JOIN {Permission._meta.db_table} a ON a.id = g.permission_id
              WHERE g.tenant_id = p.tenant_id AND g.content_object_id = p.id
                AND g.user_id = %(user)s)
  FROM annotate_project p
 WHERE p.tenant_id = %(tenant)s AND p.id = %(project)s"""
    return fields, sql


def project_for_worker(
    *, membership: Membership, project_id: uuid.UUID, permission: str = "annotate"
) -> Project:
    """The project, if the member holds ``permission`` on it, in one statement (the project row
    and the member's grants on it): the hot-path twin of
    ``annotate.selectors.projects.project_get_requiring``, with the same answers. Raises
    Http404 when the project is missing, another tenant's, or invisible to the member, and
    PermissionDenied naming the permission when they see it without holding it."""
    fields, sql = _project_query()
    with reused_cursor(connection) as cursor:
        rows = execute_prepared(cursor, sql, _project_params(membership, project_id))
    return _project_from_row(rows[0] if rows else None, fields, membership, permission)


@dataclass(frozen=True)
class LeaseLookup:
    """A lease looked up and locked ahead of its use: the lease, or why it is refused."""

    lease: Lease | None
    refusal: DistributionError | None

    def locked(self) -> Lease:
        if self.refusal is not None:
            raise self.refusal
        assert self.lease is not None
        return self.lease


def project_and_lease_for_worker(
    *, membership: Membership, project_id: uuid.UUID, lease_id: uuid.UUID
) -> tuple[Project, LeaseLookup]:
    """``project_for_worker`` (same answers, raised at once) and the lease with its item
    locked, as ``lease_submit`` locks them, in one round trip instead of two: the submit's
    hot path. The lease's refusal (none such in the project, another annotator's) is kept
    in the lookup, raised by ``locked()`` where the caller would have looked it up.

    Locking before the project's checks pass is harmless: a refused request's transaction
    rolls back at once, and row-level security confines the lock to the caller's tenant."""
    fields, project_sql = _project_query()
    lease_fields, item_fields, lease_sql = _lease_for_update_sql()
    with reused_cursor(connection) as cursor:
        project_rows, lease_rows = run_script(
            cursor,
            [
                prepared(cursor, project_sql, _project_params(membership, project_id)),
                prepared(
                    cursor,
                    lease_sql,
                    {"tenant": membership.tenant_id, "project": project_id, "lease": lease_id},
                ),
            ],
        )
    project = _project_from_row(
        project_rows[0] if project_rows else None, fields, membership, "annotate"
    )
    try:
        lease = _lease_from_row(
            lease_rows[0] if lease_rows else None, lease_fields, item_fields, membership.user_id
        )
    except DistributionError as refusal:
        return project, LeaseLookup(None, refusal)
    return project, LeaseLookup(lease, None)


def _project_params(membership: Membership, project_id: uuid.UUID) -> dict[str, Any]:
    return {"user": membership.user_id, "tenant": membership.tenant_id, "project": project_id}


def _project_from_row(
    row: tuple[Any, ...] | None, fields: list[Any], membership: Membership, permission: str
) -> Project:
    if row is None:
        raise Http404
    project = from_row(Project, fields, row[:-1], connection)
    assert project.tenant_id == membership.tenant_id, "project and membership cross tenants"
    perms = set(ROLE_DEFAULTS[membership.role])
    perms.update(code.removesuffix("_project") for code in row[-1])
    if perms:
        perms.add("view")
    if "view" not in perms:
        raise Http404
    if permission not in perms:
        raise PermissionDenied(f"requires one of: {permission}")
    return project


# -- exclusions --------------------------------------------------------------------------------


def competitor_memberships(*, tenant_id: uuid.UUID, user_id: int) -> list[Membership]:
    """The user's active memberships of tenants that ``tenant_id`` named as competitors.

    The user's own memberships are visible to a query that sets ``app.user_id`` to them (the
    membership RLS predicate); the competitor list is this tenant's own. The previous
    ``app.user_id`` is put back afterwards. (The request path checks the caller's exclusion
    in the round trip of ``_next_state`` instead.)
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting(%s, true), set_config(%s, %s, true)",
            [USER_SETTING, USER_SETTING, str(user_id)],
        )
        previous = cursor.fetchone()[0] or ""
    competitors = Competitor.objects.filter(tenant_id=tenant_id).values("competitor_id")
    found = list(
        Membership.dangerously_unscoped.filter(
            user_id=user_id, is_active=True, tenant_id__in=competitors
        )
    )
    if previous != str(user_id):
        db_set(USER_SETTING, previous)
    return found


EXCLUDED_MESSAGE = (
    "this person is a member of a tenant this tenant named as a competitor; its items are never "
    "leased to them"
)


# -- claiming ----------------------------------------------------------------------------------


@functools.cache
def _lease_columns() -> tuple[list[Any], str, list[Any]]:
    """Lease fields and their select list (alias ``l``), and the item fields a lease's answer
    shows (``LeaseItemSerializer``), selected by the statements that hand a lease out."""
    fields, columns = select_list(Lease, "l")
    item_fields = [Item._meta.get_field(name) for name in ("external_id", "data", "media")]
    item_fields += [Item._meta.get_field("priority")]
    return fields, columns, item_fields


@functools.cache
def _leased_item_fields() -> list[Any]:
    """The item fields ``_leases_from_rows`` fills: its key, then ``_lease_columns``' ones."""
    return [Item._meta.pk, Item._meta.get_field("tenant"), *_lease_columns()[2]]


def _leases_from_rows(rows: list[tuple[Any, ...]]) -> list[Lease]:
    """Leases from rows of (lease columns, item external_id, data, media, priority), each with
    its item attached (only those fields loaded; the rest load on access)."""
    fields = _lease_columns()[0]
    n = len(fields)
    leases = []
    for row in rows:
        lease = from_row(Lease, fields, row[:n], connection)
        item = from_row(
            Item, _leased_item_fields(), [lease.item_id, lease.tenant_id, *row[n:]], connection
        )
        lease.item = item
        leases.append(lease)
    return leases


# ``lease_next``'s decision to claim, in SQL, for the claim sent with the annotator's state
# (``_next_state``): not a member of a competitor, no live reservation to pop, fewer active
# leases than ``active_limit`` (``LEASE_MAX_ACTIVE``, or 1 when a held lease is preferred).
_CLAIM_GUARD = """
guard AS (
    SELECT 1 WHERE NOT EXISTS (
              SELECT 1 FROM tenants_membership m
               WHERE m.user_id = %(user)s AND m.is_active AND m.tenant_id IN (
                     SELECT c.competitor_id FROM annotate_competitor c
                      WHERE c.tenant_id = %(tenant)s))
       AND NOT EXISTS (
              SELECT 1 FROM annotate_lease q
               WHERE q.tenant_id = %(tenant)s AND q.project_id = %(project)s
                 AND q.annotator_id = %(user)s AND q.state = 'queued'
                 AND q.expires_at > %(now)s)
       AND (SELECT count(*) FROM annotate_lease a
             WHERE a.tenant_id = %(tenant)s AND a.project_id = %(project)s
               AND a.annotator_id = %(user)s AND a.state = 'active'
               AND a.expires_at > %(now)s) < %(active_limit)s
),"""


# TRICKY: every "has this annotator had this item" probe below ends in ``OFFSET 0``. Without
# it PostgreSQL may turn the NOT EXISTS into an anti-join that reads *all* the annotator's
# leases in the tenant once per claim (planned while statistics said they had few): 9.6 ms
# per claim at 6,200 leases, growing with every item they do. With it, the probe stays a
# per-candidate look-up in the unique (tenant, item, annotator) key: 0.7 ms
# (``tests/distribution/test_hot_path_sql.py``).
_CANDIDATES = """
    SELECT i.id, i.priority, i.queue_key
      FROM annotate_item i
     WHERE {condition}
           i.tenant_id = %(tenant)s AND i.project_id = %(project)s
       AND i.status IN ('new', 'in_progress') AND i.slots_taken < %(overlap)s
       AND NOT EXISTS (SELECT 1 FROM annotate_lease l
                        WHERE l.tenant_id = %(tenant)s AND l.item_id = i.id
                          AND l.annotator_id = %(user)s OFFSET 0)
     ORDER BY i.priority DESC, i.queue_key
     LIMIT %(limit)s
       FOR UPDATE OF i SKIP LOCKED"""

# With overlap > 1 the scan starts after the annotator's queue position (QueuePosition), when
# it was recorded under the project's current queue epoch: the items before it are ones they
# had (a look-up each to pass), ones that were full (a slot given back bumps the epoch) or
# ones another transaction held at that instant. Only when nothing is left after it does the
# scan look from the head (``behind``), so those last are not lost. A claim ``ahead`` moves
# the position to its last item, under this statement's epoch (a bump committed meanwhile
# makes it stale at once).
#
# TRICKY: "after (priority, queue_key)" is two scans, the rest of the position's priority
# (``same``), then the lower priorities (``lower``, only if ``same`` found nothing), not one
# row comparison: under row-level security PostgreSQL uses a user's condition as an index
# condition only if it is leak-proof, and neither a row comparison nor a COALESCE counts as
# one, so either would filter the queue from its head. Plain comparisons of the two columns
# with the position's values do; each scan starts where the position is in the queue index
# (checked by tests/distribution/test_queue_position.py). Without a position, ``lower``
# starts at the head: no priority is 2**31 or more.
_NO_POSITION = 2**31
_POSITIONED = f"""
epoch AS (
    SELECT COALESCE((SELECT e.epoch FROM annotate_queueepoch e
                      WHERE e.tenant_id = %(tenant)s AND e.project_id = %(project)s), 0)
           AS queue_epoch
), mark AS (
    -- One row, with the position or the head ("no priority is 2**31 or more").
    SELECT COALESCE(q.priority, {_NO_POSITION}::bigint) AS priority,
           COALESCE(q.queue_key, 0) AS queue_key, q.id IS NOT NULL AS found
      FROM (SELECT 1) one LEFT JOIN annotate_queueposition q
        ON q.tenant_id = %(tenant)s AND q.project_id = %(project)s
       AND q.annotator_id = %(user)s AND q.epoch = (SELECT queue_epoch FROM epoch)
), same AS ({
    _CANDIDATES.format(
        condition="{guard} i.priority = (SELECT priority FROM mark) "
        "AND i.queue_key > (SELECT queue_key FROM mark) AND"
    )
}
), lower AS ({
    _CANDIDATES.format(
        condition="{guard} NOT EXISTS (SELECT 1 FROM same) "
        "AND i.priority < (SELECT priority FROM mark) AND"
    )
}
), ahead AS (
    SELECT * FROM same UNION ALL SELECT * FROM lower
), behind AS ({
    _CANDIDATES.format(
        condition="{guard} NOT EXISTS (SELECT 1 FROM ahead) AND (SELECT found FROM mark) AND"
    )
}
), moved AS (
    INSERT INTO annotate_queueposition (tenant_id, id, project_id, annotator_id, epoch,
                                        priority, queue_key)
    SELECT %(tenant)s::uuid, %(position)s::uuid, %(project)s::uuid, %(user)s::integer,
           (SELECT queue_epoch FROM epoch), last.priority, last.queue_key
      FROM (SELECT priority, queue_key FROM ahead
             ORDER BY priority DESC, queue_key DESC LIMIT 1) last
    ON CONFLICT (tenant_id, project_id, annotator_id) DO UPDATE
       SET epoch = EXCLUDED.epoch, priority = EXCLUDED.priority,
           queue_key = EXCLUDED.queue_key
), picked AS (
    SELECT * FROM ahead UNION ALL SELECT * FROM behind
),"""


def _claim_sql(guarded: bool = False, positioned: bool = False, limit: int = 1) -> str:
    """The claim statement: ``guarded`` behind ``_CLAIM_GUARD`` (sent with the annotator's
    state), ``positioned`` from the annotator's queue position (projects with overlap > 1),
    for up to ``limit`` leases.

    TRICKY: a prepared statement keeps one generic plan per connection (no parameter values:
    ``plan_cache_mode``, annotate/settings/database.py). With the LIMIT a parameter, the plan
    cannot know how few items a claim takes: on fresh statistics it updated the claimed items
    through a hash join over a sequential scan of the tenant's items (40 ms a claim at 100,000
    items, against 0.3 ms). Written into the statement (one prepared statement per count:
    ``next`` claims one, a refill up to the queue depth), it keeps the plan to look-ups by
    key; ``tests/distribution/test_hot_path_sql.py`` checks the plans on empty statistics."""
    if not 1 <= limit <= _CLAIM_LIMIT_MAX:
        raise ValueError(f"a claim takes 1 to {_CLAIM_LIMIT_MAX} leases, not {limit!r}")
    _, columns, _ = _lease_columns()
    returned = columns.replace("l.", "leased.")
    guard = "EXISTS (SELECT 1 FROM guard) AND" if guarded else ""
    if positioned:
        candidates = _POSITIONED.format(guard=guard)
    else:
        candidates = f"picked AS ({_CANDIDATES.format(condition=guard)}\n),"
    statement = f"""
WITH {_CLAIM_GUARD if guarded else ""} {candidates} numbered AS (
    -- Lease ids ascend in queue order, so the queued ones are popped in that order.
    SELECT id, row_number() OVER (ORDER BY priority DESC, queue_key) AS n FROM picked
), leased AS (
    -- The (item, annotator) key is the backstop of "never the same item twice": a row it
    -- refuses is skipped, and then takes no slot below.
    INSERT INTO annotate_lease (tenant_id, id, project_id, item_id, annotator_id, membership_id,
                                state, slot_kept, gold, created_at, leased_at, expires_at)
    SELECT %(tenant)s::uuid, (%(ids)s::uuid[])[numbered.n], %(project)s::uuid, numbered.id,
           %(user)s::integer, %(membership)s::uuid, %(state)s::varchar, false, false,
           %(now)s::timestamptz, %(leased_at)s::timestamptz, %(expires)s::timestamptz
      FROM numbered
    ON CONFLICT DO NOTHING
    RETURNING *
), taken AS (
    UPDATE annotate_item i
       SET slots_taken = i.slots_taken + 1, status = 'in_progress'
      FROM leased
     WHERE i.tenant_id = %(tenant)s AND i.id = leased.item_id
    RETURNING i.id, i.external_id, i.data, i.media, i.priority
)
SELECT {returned}, taken.external_id, taken.data, taken.media, taken.priority
  FROM leased JOIN taken ON taken.id = leased.item_id
 ORDER BY leased.id
"""
    return statement.replace("LIMIT %(limit)s", f"LIMIT {int(limit)}")


_CLAIM_LIMIT_MAX = 1000


_claim_statement = functools.cache(_claim_sql)


def _claim(
    *, project: Project, membership: Membership, count: int, state: str, now: datetime
) -> list[Lease]:
    """Take up to ``count`` slots for the annotator and create their leases, in one statement.
    Returns the new leases, in queue order, each with its item's shown fields attached.

    The caller holds the annotator's lock (``_next_state``), so another claim of the same
    annotator cannot race this one; if one did (a path without the lock), the unique key
    makes its lease row, and so its slot, not happen, and the caller's retry takes another."""
    if count <= 0:
        return []
    params = _claim_params(project, membership, count, state, now)
    with reused_cursor(connection) as cursor:
        statement = _claim_statement(False, project.overlap > 1, count)
        return _leases_from_rows(execute_prepared(cursor, statement, params))


def _claim_params(
    project: Project, membership: Membership, count: int, state: str, now: datetime
) -> dict[str, Any]:
    return {
        "tenant": project.tenant_id,
        "project": project.id,
        "overlap": project.overlap,
        "user": membership.user_id,
        "membership": membership.id,
        "state": state,
        "now": now,
        "leased_at": now if state == Lease.State.ACTIVE else None,
        "expires": now + timedelta(seconds=project.lease_seconds),
        "ids": sorted(uuid7() for _ in range(count)),
        # The queue position's id, if this claim records the first one (overlap > 1 only).
        "position": uuid7() if project.overlap > 1 else None,
    }


@functools.cache
def _live_leases_sql() -> str:
    """The annotator's live leases in the project, oldest first (``lease_live_annotator_idx``:
    ``tests/distribution/test_hot_path_sql.py`` checks the plan)."""
    _, columns, _ = _lease_columns()
    return (
        f"SELECT {columns} FROM annotate_lease l WHERE l.tenant_id = %(tenant)s "
        "AND l.project_id = %(project)s AND l.annotator_id = %(user)s "
        "AND l.state IN ('queued', 'active') ORDER BY l.created_at"
    )


def _next_state(
    project: Project,
    membership: Membership,
    *,
    claim_at: datetime | None = None,
    active_limit: int = 0,
) -> tuple[bool, list[Lease], Lease | None]:
    """In one round trip: whether the annotator is excluded as a member of a competitor (their
    own memberships are visible with ``app.user_id`` set to them; the competitor list is this
    tenant's), then the annotator's lock (serialising their ``next`` calls and the worker's
    refills for them, so a refill never reserves on the strength of a state a concurrent
    ``next`` is changing), then their live leases in the project, oldest first.

    With ``claim_at`` (``lease_next`` when neither a per-annotator limit nor a gold item is in
    play), the claim goes in the same round trip, behind a guard that takes ``lease_next``'s
    decision in SQL, under the lock, after the leases were read (see ``_CLAIM_GUARD``): the
    third value is the new active lease, or None when the guard or the items said no."""
    fields = _lease_columns()[0]
    user_id = membership.user_id
    with reused_cursor(connection) as cursor:
        claim: list[Any] = []
        if claim_at is not None:
            params = _claim_params(project, membership, 1, Lease.State.ACTIVE, claim_at)
            params["active_limit"] = active_limit
            claim = [prepared(cursor, _claim_statement(True, project.overlap > 1, 1), params)]
        _, excluded, _, live, *claimed = run_script(
            cursor,
            [
                set_local(cursor, USER_SETTING, str(user_id)),
                prepared(
                    cursor,
                    "SELECT EXISTS (SELECT 1 FROM tenants_membership m WHERE m.user_id = %(user)s "
                    "AND m.is_active AND m.tenant_id IN (SELECT c.competitor_id FROM "
                    "annotate_competitor c WHERE c.tenant_id = %(tenant)s))",
                    {"user": user_id, "tenant": project.tenant_id},
                ),
                prepared(
                    cursor,
                    "SELECT pg_advisory_xact_lock(hashtextextended(%(key)s, 0))",
                    {"key": f"lease:{project.id}:{user_id}"},
                ),
                prepared(
                    cursor,
                    _live_leases_sql(),
                    {"tenant": project.tenant_id, "project": project.id, "user": user_id},
                ),
                *claim,
            ],
        )
    new = _leases_from_rows(claimed[0]) if claimed else []
    leases = [from_row(Lease, fields, row, connection) for row in live]
    return bool(excluded[0][0]), leases, new[0] if new else None


def lease_next(
    *, project: Project, membership: Membership, prefer_held: bool = False, wait: bool = True
) -> NextOutcome:
    """The next item for the annotator, as a lease (a new one has its item attached). See
    module docstring. ``prefer_held``: the oldest active lease the annotator holds, if any,
    before a new one (a retried submit-and-next gets what the first attempt handed out).

    ``wait=False`` (``submit?next=1``): when the only items left for the annotator are held
    by other transactions at this instant, answer ``retry`` at once instead of waiting for
    them. That transaction holds its submitted item's row lock: two of them waiting for each
    other's item would both give up, and a blocking wait would deadlock. ``POST next``, which
    holds no item lock, then waits as usual."""
    now = timezone.now()
    mix_gold = project.gold_ratio > 0 and random.random() < project.gold_ratio  # noqa: S311
    # The common case claims in the same round trip as the state (a guard in SQL repeats the
    # decisions below); a per-annotator limit or a gold item takes the steps one by one.
    merged = project.max_items_per_annotator is None and not mix_gold
    excluded, live, claimed = _next_state(
        project,
        membership,
        claim_at=now if merged else None,
        active_limit=1 if prefer_held else settings.LEASE_MAX_ACTIVE,
    )
    if claimed is not None:
        # The guard decided on what the checks below read (under the lock, one statement
        # earlier); a change in between (a lease of the annotator closed by another request,
        # a membership gone) only makes the guard's view the fresher one.
        if settings.DISTRIBUTION_QUEUE_DEPTH:
            request_refill(project=project, membership=membership)
        return NextOutcome(claimed, "new")
    if excluded:
        raise Excluded(EXCLUDED_MESSAGE)
    live = [lease for lease in live if lease.expires_at > now]
    active = [lease for lease in live if lease.state == Lease.State.ACTIVE]
    if len(active) >= settings.LEASE_MAX_ACTIVE or (prefer_held and active):
        return NextOutcome(active[0], "held")
    queued_before = sum(1 for lease in live if lease.state == Lease.State.QUEUED)
    if project.max_items_per_annotator is not None:
        taken = (
            Lease.objects.filter(project=project, annotator_id=membership.user_id)
            .exclude(state__in=[Lease.State.RELEASED, Lease.State.EXPIRED])
            .count()
        )
        # Queued leases are the worker's reservations, counted already; popping one adds none.
        if taken - queued_before >= project.max_items_per_annotator:
            return NextOutcome(None, "limit_reached")
    lease = _pop_queued(project, membership, now) if queued_before else None
    queued_left = queued_before - (lease is not None)
    if lease is None and mix_gold:
        gold_id = _claim_gold(project, membership, now)
        if gold_id is not None:
            lease = Lease.objects.select_related("item").get(id=gold_id)
    attempts, nothing_left = (CLAIM_ATTEMPTS if wait else 1), False
    for attempt in range(attempts):
        if lease is not None:
            break
        got = _claim(
            project=project, membership=membership, count=1, state=Lease.State.ACTIVE, now=now
        )
        lease = got[0] if got else None
        # SKIP LOCKED passes over rows other transactions hold for an instant (a claim, a
        # submit): "nothing claimable" is only believed when nothing is, locked or not.
        if lease is None and not _claimable_exists(project, membership):
            nothing_left = True
            break
        if lease is None and attempt + 1 < attempts:
            time.sleep(0.002 * (attempt + 1))
    if lease is None:
        return NextOutcome(None, "exhausted" if nothing_left or wait else "retry")
    if settings.DISTRIBUTION_QUEUE_DEPTH and queued_left < settings.DISTRIBUTION_QUEUE_DEPTH:
        request_refill(project=project, membership=membership)
    return NextOutcome(lease, "new")


CLAIM_ATTEMPTS = 5


def _claim_gold(project: Project, membership: Membership, now: datetime) -> uuid.UUID | None:
    """A gold item the annotator has not had yet, as an active lease outside the overlap (no
    slot: gold items score annotators, they are not work to complete)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO annotate_lease (tenant_id, id, project_id, item_id, annotator_id,
                                        membership_id, state, slot_kept, gold, created_at,
                                        leased_at, expires_at)
            SELECT %(tenant)s, %(id)s, %(project)s, i.id, %(user)s, %(membership)s, 'active',
                   false, true, %(now)s, %(now)s, %(expires)s
              FROM annotate_item i
             WHERE i.tenant_id = %(tenant)s AND i.project_id = %(project)s
               AND i.status = 'gold'
               AND NOT EXISTS (SELECT 1 FROM annotate_lease l
                                WHERE l.tenant_id = %(tenant)s AND l.item_id = i.id
                                  AND l.annotator_id = %(user)s OFFSET 0)
             ORDER BY i.queue_key
             LIMIT 1
            ON CONFLICT DO NOTHING
            RETURNING id
            """,
            {
                "tenant": project.tenant_id,
                "id": uuid7(),
                "project": project.id,
                "user": membership.user_id,
                "membership": membership.id,
                "now": now,
                "expires": now + timedelta(seconds=project.lease_seconds),
            },
        )
        row = cursor.fetchone()
    return None if row is None else row[0]


def _claimable_exists(project: Project, membership: Membership) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT EXISTS (
                SELECT 1 FROM annotate_item i
                 WHERE i.tenant_id = %(tenant)s AND i.project_id = %(project)s
                   AND i.status IN ('new', 'in_progress') AND i.slots_taken < %(overlap)s
                   AND NOT EXISTS (SELECT 1 FROM annotate_lease l
                                    WHERE l.tenant_id = %(tenant)s AND l.item_id = i.id
                                      AND l.annotator_id = %(user)s OFFSET 0))
            """,
            {
                "tenant": project.tenant_id,
                "project": project.id,
                "overlap": project.overlap,
                "user": membership.user_id,
            },
        )
        return bool(cursor.fetchone()[0])


def _pop_queued(project: Project, membership: Membership, now: datetime) -> Lease | None:
    """Activate the annotator's oldest reservation; returns it with its item attached."""
    expires = now + timedelta(seconds=project.lease_seconds)
    _, columns, _ = _lease_columns()
    with reused_cursor(connection) as cursor:
        rows = execute_prepared(
            cursor,
            f"""
            UPDATE annotate_lease l SET state = 'active', leased_at = %(now)s,
                   expires_at = %(expires)s
              FROM annotate_item i
             WHERE l.tenant_id = %(tenant)s AND l.id = (
                   SELECT id FROM annotate_lease
                    WHERE tenant_id = %(tenant)s AND project_id = %(project)s
                      AND annotator_id = %(user)s AND state = 'queued' AND expires_at > %(now)s
                    ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
               AND i.tenant_id = l.tenant_id AND i.id = l.item_id
            RETURNING {columns}, i.external_id, i.data, i.media, i.priority
            """,
            {
                "now": now,
                "expires": expires,
                "tenant": project.tenant_id,
                "project": project.id,
                "user": membership.user_id,
            },
        )
    leases = _leases_from_rows(rows)
    return leases[0] if leases else None


# -- refill (worker side) ------------------------------------------------------------------------

_refill_requested: dict[tuple[uuid.UUID, int], float] = {}
REFILL_DEBOUNCE_SECONDS = 2.0


def request_refill(*, project: Project, membership: Membership) -> None:
    """Ask a worker to top up the annotator's queue, after this transaction commits. Debounced
    per process: one request per annotator and project every couple of seconds is plenty."""
    key = (project.id, membership.user_id)
    clock = time.monotonic()
    if clock - _refill_requested.get(key, 0.0) < REFILL_DEBOUNCE_SECONDS:
        return
    _refill_requested[key] = clock
    from workers.tasks.distribution import refill_queue

    tenant_id, project_id, membership_id = project.tenant_id, project.id, membership.id
    # robust: a broker hiccup after the commit is logged, not turned into a 500 for a lease
    # that was handed out (the refill is an optimisation; `next` claims in the request anyway).
    transaction.on_commit(
        lambda: refill_queue.delay(str(tenant_id), str(project_id), str(membership_id)),
        robust=True,
    )


def queue_refill(*, project: Project, membership: Membership) -> int:
    """Reserve leases ahead of need so that ``DISTRIBUTION_QUEUE_DEPTH`` are queued for the
    annotator. Returns how many were reserved."""
    if not membership.is_active:
        return 0
    excluded, live, _ = _next_state(project, membership)
    if excluded:
        return 0
    now = timezone.now()
    live = [lease for lease in live if lease.expires_at > now]
    if not any(lease.state == Lease.State.ACTIVE for lease in live):
        # Only annotators at work (holding an active lease) get reservations: one who was just
        # told "nothing left" must not have items parked for them.
        return 0
    queued = sum(1 for lease in live if lease.state == Lease.State.QUEUED)
    wanted = settings.DISTRIBUTION_QUEUE_DEPTH - queued
    if project.max_items_per_annotator is not None:
        taken = (
            Lease.objects.filter(project=project, annotator_id=membership.user_id)
            .exclude(state__in=[Lease.State.RELEASED, Lease.State.EXPIRED])
            .count()
        )
        wanted = min(wanted, project.max_items_per_annotator - taken)
    return len(
        _claim(
            project=project, membership=membership, count=wanted, state=Lease.State.QUEUED, now=now
        )
    )


# -- closing leases -------------------------------------------------------------------------------


@functools.cache
def _lease_for_update_sql() -> tuple[list[Any], list[Any], str]:
    lease_fields, lease_columns = select_list(Lease, "l")
    item_fields, item_columns = select_list(Item, "i")
    sql = f"""
SELECT {lease_columns}, {item_columns}
  FROM annotate_lease l
  JOIN annotate_item i ON i.tenant_id = l.tenant_id AND i.id = l.item_id
 WHERE l.tenant_id = %(tenant)s AND l.project_id = %(project)s AND l.id = %(lease)s
   FOR UPDATE"""
    return lease_fields, item_fields, sql


def _lease_for_update(*, project: Project, lease_id: uuid.UUID, user_id: int) -> Lease:
    """The lease and its item, both locked, in one statement."""
    lease_fields, item_fields, sql = _lease_for_update_sql()
    with reused_cursor(connection) as cursor:
        rows = execute_prepared(
            cursor, sql, {"tenant": project.tenant_id, "project": project.id, "lease": lease_id}
        )
    return _lease_from_row(rows[0] if rows else None, lease_fields, item_fields, user_id)


def _lease_from_row(
    row: tuple[Any, ...] | None, lease_fields: list[Any], item_fields: list[Any], user_id: int
) -> Lease:
    if row is None:
        raise DistributionError("no such lease in this project", code="not_found", status=404)
    n = len(lease_fields)
    lease = from_row(Lease, lease_fields, row[:n], connection)
    lease.item = from_row(Item, item_fields, row[n:], connection)
    if lease.annotator_id != user_id:
        raise DistributionError(
            "this lease belongs to another annotator", code="lease_not_yours", status=403
        )
    return lease


def _require_open(lease: Lease, now: datetime) -> None:
    if lease.state == Lease.State.ACTIVE and lease.expires_at <= now:
        raise DistributionError(
            f"the lease expired at {lease.expires_at.isoformat()}; ask for the next item",
            code="lease_expired",
        )
    if lease.state != Lease.State.ACTIVE:
        when = lease.closed_at.isoformat() if lease.closed_at else "earlier"
        raise DistributionError(
            f"the lease is {lease.state} (since {when}); ask for the next item",
            code=f"lease_{lease.state}",
        )


def _free_slot(tenant_id: uuid.UUID, item_id: uuid.UUID) -> None:
    """Give one slot of the item back to the pool (and rewind the project's queue: annotators
    may have passed the item while it was full)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH freed AS (
                UPDATE annotate_item
                   SET slots_taken = slots_taken - 1,
                       status = CASE WHEN slots_taken - 1 = 0 AND done_count = 0 THEN 'new'
                                     ELSE status END
                 WHERE tenant_id = %(tenant)s AND id = %(item)s
                RETURNING project_id
            ), {_REWOUND.format(projects="SELECT project_id FROM freed")}
            SELECT 1
            """,
            {"tenant": tenant_id, "item": item_id},
        )


# Bump the queue epoch (QueueEpoch) of ``projects`` (a sub-query of project ids of the
# tenant ``%(tenant)s``), as a CTE, after the items the statement changed: see QueueEpoch.
# Only projects with overlap > 1 use queue positions (an overlap change bumps too).
_REWOUND = """rewound AS (
    INSERT INTO annotate_queueepoch (tenant_id, id, project_id, epoch)
    SELECT %(tenant)s::uuid, gen_random_uuid(), p.id, 1
      FROM annotate_project p
     WHERE p.tenant_id = %(tenant)s AND p.overlap > 1 AND p.id IN ({projects})
    ON CONFLICT (tenant_id, project_id) DO UPDATE
       SET epoch = annotate_queueepoch.epoch + 1
)"""


def queue_rewound(*, tenant_id: uuid.UUID, project_id: uuid.UUID) -> None:
    """Bump the project's queue epoch in this transaction (overlap > 1): call it after the
    statements that put items in the queue (see QueueEpoch)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH {_REWOUND.format(projects='SELECT %(project)s::uuid')} SELECT 1",
            {"tenant": tenant_id, "project": project_id},
        )


def _count_result(project: Project, item: Item) -> bool:
    """One more final result (accepted annotation or kept skip) for the item; returns whether
    the item just completed."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE annotate_item
               SET done_count = done_count + 1,
                   status = CASE WHEN done_count + 1 >= %s THEN 'completed' ELSE status END
             WHERE tenant_id = %s AND id = %s
            RETURNING status
            """,
            [project.overlap, project.tenant_id, item.id],
        )
        (status,) = cursor.fetchone()
    return status == Item.Status.COMPLETED


@dataclass(frozen=True)
class SubmitOutcome:
    annotation: Annotation
    replayed: bool
    item_completed: bool
    # Whether the tenant has an active webhook (read by the submit's statement): without one,
    # a completion has no deliveries to create and ``webhook_emit`` need not look.
    webhooks_active: bool = True


def lease_submit(
    *,
    project: Project,
    membership: Membership,
    lease_id: uuid.UUID,
    result: Any,
    idempotency_key: str = "",
    locked: Lease | None = None,
) -> SubmitOutcome:
    """``locked``: the lease ``lease_id``, already locked by this transaction
    (``project_and_lease_for_worker``); otherwise it is looked up and locked here."""
    now = timezone.now()
    if locked is None:
        lease = _lease_for_update(project=project, lease_id=lease_id, user_id=membership.user_id)
    else:
        assert locked.id == lease_id and locked.annotator_id == membership.user_id
        lease = locked
    if lease.state == Lease.State.SUBMITTED:
        annotation = Annotation.objects.get(lease=lease)
        if idempotency_key and annotation.idempotency_key == idempotency_key:
            return SubmitOutcome(annotation, replayed=True, item_completed=False)
        raise DistributionError(
            f"the lease was submitted already (annotation {annotation.id}); a retry must send "
            "the same Idempotency-Key",
            code="lease_submitted",
        )
    _require_open(lease, now)
    errors = result_errors(project.label_schema, result, lease.item.data)
    if errors:
        raise ResultInvalid(errors)
    review = not lease.gold and _routed_to_review(project, lease.id)
    gold = lease.item.gold_result
    annotation = Annotation(
        tenant_id=project.tenant_id,
        project=project,
        item=lease.item,
        lease=lease,
        author_id=membership.user_id,
        result=result,
        status=Annotation.Status.PENDING_REVIEW if review else Annotation.Status.ACCEPTED,
        idempotency_key=idempotency_key,
        lead_time_ms=int((now - (lease.leased_at or lease.created_at)).total_seconds() * 1000),
        gold_score=None if gold is None else gold_score(project.label_schema, result, gold),
        created_at=now,
    )
    count = not review and not lease.gold
    columns, values, params = insert_parts(annotation, connection)
    # One statement: the annotation, the lease closed, and (a final result) the item counted.
    with reused_cursor(connection) as cursor:
        ((inserted, closed, status, webhooks_active),) = execute_prepared(
            cursor,
            f"""
            WITH annotation AS (
                INSERT INTO annotate_annotation ({columns}) VALUES ({values}) RETURNING id
            ), closed AS (
                UPDATE annotate_lease SET state = 'submitted', closed_at = %(now)s
                 WHERE tenant_id = %(tenant)s AND id = %(lease)s
                RETURNING id
            ), counted AS (
                UPDATE annotate_item
                   SET done_count = done_count + 1,
                       status = CASE WHEN done_count + 1 >= %(overlap)s THEN 'completed'
                                     ELSE status END
                 WHERE %(count)s AND tenant_id = %(tenant)s AND id = %(item)s
                RETURNING status
            )
            SELECT (SELECT count(*) FROM annotation), (SELECT count(*) FROM closed),
                   (SELECT status FROM counted),
                   EXISTS (SELECT 1 FROM {Webhook._meta.db_table} w
                            WHERE w.tenant_id = %(tenant)s AND w.active)
            """,
            {
                **params,
                "now": now,
                "tenant": project.tenant_id,
                "lease": lease.id,
                "overlap": project.overlap,
                "count": count,
                "item": lease.item_id,
            },
        )
    assert inserted == 1 and closed == 1, "the locked lease was not closed"
    lease.state, lease.closed_at = Lease.State.SUBMITTED, now
    completed = status == Item.Status.COMPLETED
    return SubmitOutcome(
        annotation, replayed=False, item_completed=completed, webhooks_active=webhooks_active
    )


def _routed_to_review(project: Project, lease_id: uuid.UUID) -> bool:
    """Deterministic sampling: the same lease always gets the same answer (retries agree)."""
    if project.review_ratio <= 0:
        return False
    if project.review_ratio >= 1:
        return True
    digest = hashlib.sha256(lease_id.bytes).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < project.review_ratio


def lease_skip(
    *, project: Project, membership: Membership, lease_id: uuid.UUID
) -> tuple[Lease, bool]:
    """Skip: the item goes back to the pool for others (``skipped_items_return``), or the skip
    uses up its slot. Either way this annotator never gets it again. Returns the lease and
    whether the item just completed."""
    now = timezone.now()
    lease = _lease_for_update(project=project, lease_id=lease_id, user_id=membership.user_id)
    _require_open(lease, now)
    keep = not project.skipped_items_return and not lease.gold
    Lease.objects.filter(id=lease.id).update(
        state=Lease.State.SKIPPED, closed_at=now, slot_kept=keep
    )
    completed = _count_result(project, lease.item) if keep else False
    if not keep and not lease.gold:
        _free_slot(project.tenant_id, lease.item_id)
    lease.refresh_from_db()
    return lease, completed


def lease_release(*, project: Project, membership: Membership, lease_id: uuid.UUID) -> Lease:
    """Hand the item back unlabelled (the annotator will not get it again)."""
    now = timezone.now()
    lease = _lease_for_update(project=project, lease_id=lease_id, user_id=membership.user_id)
    _require_open(lease, now)
    Lease.objects.filter(id=lease.id).update(state=Lease.State.RELEASED, closed_at=now)
    if not lease.gold:
        _free_slot(project.tenant_id, lease.item_id)
    lease.refresh_from_db()
    return lease


_EXPIRE = f"""
WITH gone AS (
    UPDATE annotate_lease SET state = 'expired', closed_at = %(now)s
     WHERE tenant_id = %(tenant)s AND state IN ('queued', 'active') AND expires_at <= %(now)s
    RETURNING item_id, gold
), freed AS (
    SELECT item_id, count(*) AS n FROM gone WHERE NOT gold GROUP BY item_id
), back AS (
    UPDATE annotate_item i
       SET slots_taken = i.slots_taken - freed.n,
           status = CASE WHEN i.slots_taken - freed.n = 0 AND i.done_count = 0 THEN 'new'
                         ELSE i.status END
      FROM freed
     WHERE i.tenant_id = %(tenant)s AND i.id = freed.item_id
    RETURNING i.id, i.project_id
), {_REWOUND.format(projects="SELECT project_id FROM back")}
SELECT id FROM back
"""


def leases_expire(*, tenant_id: uuid.UUID, now: datetime | None = None) -> int:
    """Expire the tenant's live leases past their time; their items return to the pool.
    Returns the number of items that got a slot back."""
    with connection.cursor() as cursor:
        cursor.execute(_EXPIRE, {"tenant": tenant_id, "now": now or timezone.now()})
        return cursor.rowcount


# -- gold ------------------------------------------------------------------------------------------


def gold_score(schema: dict[str, Any], result: Any, gold: Any) -> float:
    """Share of the schema's fields on which the result equals the gold answer (choices as
    sets, so order does not matter). Fields the gold answer leaves out are not scored."""
    if not isinstance(result, dict) or not isinstance(gold, dict):
        return 0.0
    scored = hits = 0
    for field in schema.get("fields", []):
        name = field.get("name")
        if name not in gold:
            continue
        scored += 1
        mine, right = result.get(name), gold[name]
        if isinstance(mine, list) and isinstance(right, list):
            hits += sorted(map(str, mine)) == sorted(map(str, right))
        else:
            hits += mine == right
    return hits / scored if scored else 0.0


# -- competitors and the workforce report ------------------------------------------------------


def competitor_add(*, tenant: Any, membership: Membership, slug: str, note: str = "") -> Competitor:
    """Name a tenant as a competitor. Idempotent. The slug must name another active tenant."""
    from django.core.exceptions import ValidationError

    from tenants.models import Tenant

    other = Tenant.objects.filter(slug=slug, status=Tenant.Status.ACTIVE).first()
    if other is None:
        raise ValidationError({"competitor": [f"no active tenant has the slug {slug!r}"]})
    if other.id == tenant.id:
        raise ValidationError({"competitor": ["a tenant cannot name itself"]})
    row, _ = Competitor.objects.get_or_create(
        tenant_id=tenant.id,
        competitor=other,
        defaults={"note": note, "created_by_id": membership.user_id},
    )
    return row


def workforce_report(*, project: Project) -> dict[str, Any]:
    """Everyone who ever held a lease on the project (or wrote an annotation on it), their
    counts, their membership role here, and whether any of them is now a member of a named
    competitor (``violations``: must be empty; leases are refused to such people)."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count, Max, Min

    leases = {
        row["annotator_id"]: row
        for row in Lease.objects.filter(project=project)
        .values("annotator_id")
        .annotate(n=Count("id"), first=Min("created_at"), last=Max("created_at"))
    }
    annotations = dict(
        Annotation.objects.filter(project=project)
        .values("author_id")
        .annotate(n=Count("id"))
        .values_list("author_id", "n")
    )
    user_ids = set(leases) | set(annotations)
    users = dict(get_user_model().objects.filter(id__in=user_ids).values_list("id", "username"))
    roles = dict(Membership.objects.filter(user_id__in=user_ids).values_list("user_id", "role"))
    competitors = list(
        Competitor.objects.filter(tenant_id=project.tenant_id).values_list(
            "competitor__slug", flat=True
        )
    )
    workers, violations = [], []
    for user_id in sorted(user_ids):
        flagged = bool(competitor_memberships(tenant_id=project.tenant_id, user_id=user_id))
        if flagged:
            violations.append(user_id)
        row = leases.get(user_id, {})
        workers.append(
            {
                "user_id": user_id,
                "username": users.get(user_id, ""),
                "role": roles.get(user_id),
                "leases": row.get("n", 0),
                "annotations": annotations.get(user_id, 0),
                "first_lease_at": row.get("first"),
                "last_lease_at": row.get("last"),
                "competitor_member": flagged,
            }
        )
    return {
        "workers": workers,
        "competitors": competitors,
        "wall_held": not violations,
        "violations": violations,
    }


def project_has_open_items(*, tenant_id: uuid.UUID, project_id: uuid.UUID) -> bool:
    """Whether any item of the project still wants work (one probe of the queue index).

    One round trip: the tenant setting, the probe, and the setting put back. Called outside a
    transaction (after a commit), the three statements are one transaction of their own."""
    active = current_tenant_id()
    if active is not None and active != tenant_id:
        raise CrossTenantWrite(f"open items of tenant {tenant_id} in the context of {active}")
    with connection.cursor() as cursor:
        _, (row,), _ = run_script(
            cursor,
            [
                set_local(cursor, TENANT_SETTING, str(tenant_id)),
                prepared(
                    cursor,
                    "SELECT EXISTS (SELECT 1 FROM annotate_item WHERE tenant_id = %(tenant)s "
                    "AND project_id = %(project)s AND status IN ('new', 'in_progress'))",
                    {"tenant": tenant_id, "project": project_id},
                ),
                set_local(cursor, TENANT_SETTING, str(active or "")),
            ],
        )
    return bool(row[0])


def projects_complete_sweep() -> list[Project]:
    """Mark completed, in the current tenant, the projects whose every item is done but which
    were never marked: the after-commit check on a project's last item can be lost (a crash
    between the commit and the check, or a broker outage). Returns the projects this call
    marked (``project_complete_once`` makes concurrent callers agree). A project with no
    completed item (an empty one, or one of gold items only) is not completed."""
    from django.db.models import Exists, OuterRef

    # Open items first: one probe of the partial queue index rules out every project with
    # work left, so a large project in progress costs nothing here. Only the rest (finished,
    # empty or gold-only) are asked for a completed item.
    open_items = Item.objects.filter(
        project=OuterRef("pk"), status__in=[Item.Status.NEW, Item.Status.IN_PROGRESS]
    )
    candidates = Project.objects.filter(completed_at__isnull=True).exclude(Exists(open_items))
    return [
        project
        for project in candidates
        if Item.objects.filter(project=project, status=Item.Status.COMPLETED).exists()
        and project_complete_once(project=project)
    ]


def project_complete_once(*, project: Project) -> bool:
    """Mark the project completed if no item is open, exactly once (the conditional UPDATE
    makes concurrent callers agree), and emit ``project.completed``. Returns whether this call
    did it."""
    if project_has_open_items(tenant_id=project.tenant_id, project_id=project.id):
        return False
    now = timezone.now()
    marked = Project.objects.filter(id=project.id, completed_at__isnull=True).update(
        completed_at=now
    )
    if not marked:
        return False
    from annotate.webhooks.services import webhook_emit

    webhook_emit(
        tenant_id=project.tenant_id,
        event="project.completed",
        project_id=project.id,
        payload={"project_id": str(project.id), "completed_at": now.isoformat()},
    )
    return True
