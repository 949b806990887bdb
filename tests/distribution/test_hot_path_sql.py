"""The annotator's loop in few statements: pinned counts, prepared statements that survive a
new connection and a rolled-back transaction, and a revocation seen by the very next call."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotate.models import Lease
from tenants.scoping import tenant_context
from tests.conftest import World, build_world
from tests.distribution.conftest import add_items, annotator, check_invariants, configure
from tests.factories import token_for


def base(w: World) -> str:
    return f"/api/v1/t/tenant-a/projects/{w.project_a.id}"


@pytest.fixture
def setup(world: World, settings) -> World:
    settings.DISTRIBUTION_QUEUE_DEPTH = 0
    configure(world.project_a)
    add_items(world.project_a, 10)
    return world


@pytest.fixture
def committed_setup(committed: None, settings) -> World:
    """Real commits and connections (this one closes its connection midway)."""
    settings.DISTRIBUTION_QUEUE_DEPTH = 0
    world = build_world()
    configure(world.project_a)
    add_items(world.project_a, 10)
    return world


def _client(membership):
    from rest_framework.test import APIClient

    issued = token_for(membership)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw}")
    return client, issued.token


def _submit_next(client, w: World, lease: dict, *, times: int) -> dict:
    """``times`` rounds of ``submit?next=1`` from ``lease``; the last lease handed out."""
    for _ in range(times):
        done = client.post(
            f"{base(w)}/leases/{lease['id']}/submit?next=1",
            {"result": {"label": "a"}},
            format="json",
        )
        assert done.status_code == 201, done.content
        lease = done.json()["next"]
    return lease


def _statements(ctx: CaptureQueriesContext) -> int:
    """Statements the database ran (a script of several counts each)."""
    return sum(len(q["sql"].split(";\n")) for q in ctx.captured_queries)


@pytest.mark.django_db
def test_statement_counts_are_pinned(setup: World) -> None:
    w = setup
    client, _ = _client(annotator(w.project_a, "ann-1"))
    lease = client.post(f"{base(w)}/next").json()  # prepares the statements of this connection
    done = client.post(
        f"{base(w)}/leases/{lease['id']}/submit?next=1", {"result": {"label": "a"}}, format="json"
    )
    lease = done.json()["next"]
    with CaptureQueriesContext(connection) as submit_next:
        done = client.post(
            f"{base(w)}/leases/{lease['id']}/submit?next=1",
            {"result": {"label": "a"}},
            format="json",
        )
    assert done.status_code == 201, done.content
    with CaptureQueriesContext(connection) as nxt:
        assert client.post(f"{base(w)}/next").status_code == 201  # a claim
    # Round trips (executes) and statements: authentication is one round trip; submit and the
    # next lease add the project with the lease lock, the write, and the
    # exclusion/lock/leases/claim script.
    # (In a test the request runs in the test's transaction: savepoints, no BEGIN/COMMIT.)
    # Token authentication leaves the tenant setting on the URL's tenant (no separate set).
    assert len(submit_next.captured_queries) <= 7, [q["sql"][:80] for q in submit_next]
    assert len(nxt.captured_queries) <= 6, [q["sql"][:80] for q in nxt]
    assert not [q for q in submit_next.captured_queries if q["sql"].startswith("PREPARE")]
    assert _statements(submit_next) <= 19


def test_prepared_statements_survive_a_new_connection_and_a_rollback(
    committed_setup: World,
) -> None:
    w = committed_setup
    client, _ = _client(annotator(w.project_a, "ann-1"))
    lease = client.post(f"{base(w)}/next").json()
    # A refused submit rolls its transaction back: the prepared statements stay usable.
    bad = client.post(
        f"{base(w)}/leases/{lease['id']}/submit?next=1", {"result": {"label": "z"}}, format="json"
    )
    assert bad.status_code == 400
    connection.close()  # a new database session: everything is prepared again
    _submit_next(client, w, lease, times=3)
    check_invariants(w.project_a)


@pytest.mark.django_db
def test_a_revoked_token_is_refused_by_the_next_call(setup: World) -> None:
    from tenants.services.memberships import token_revoke

    w = setup
    ann = annotator(w.project_a, "ann-1")
    client, token = _client(ann)
    lease = client.post(f"{base(w)}/next").json()
    with tenant_context(w.a.id):
        token_revoke(token=token, revoked_by=None)
    refused = client.post(
        f"{base(w)}/leases/{lease['id']}/submit?next=1", {"result": {"label": "a"}}, format="json"
    )
    assert refused.status_code == 401
    assert "revoked" in refused.json()["error"]["message"]
    with tenant_context(w.a.id):
        assert Lease.objects.get(id=lease["id"]).state == "active"
        assert Lease.objects.count() == 1


def _tenant_setting() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('app.tenant_id', true)")
        return cursor.fetchone()[0] or ""


@pytest.mark.django_db
def test_token_authentication_leaves_the_tenant_setting_only_for_the_urls_tenant(
    setup: World,
) -> None:
    """The setting token authentication leaves is the URL's tenant, or none: a token used on
    another tenant's URL (existing or not) is refused like a non-member, and the request,
    nested in the test's transaction, leaves no tenant behind either way."""
    w = setup
    client, _ = _client(annotator(w.project_a, "ann-1"))
    assert client.post(f"{base(w)}/next").status_code == 201
    assert _tenant_setting() == ""
    for slug in ("tenant-b", "no-such-tenant"):
        refused = client.post(f"/api/v1/t/{slug}/projects/{w.project_a.id}/next")
        assert refused.status_code == 404
        assert _tenant_setting() == ""
    with tenant_context(w.a.id):
        assert Lease.objects.count() == 1


def test_token_authentication_sets_the_tenant_for_the_whole_request(
    committed_setup: World,
) -> None:
    """Outside a test transaction (BEGIN ... COMMIT per request, as in production): the
    request sees its tenant's rows after the token script left the setting, and the next
    request on the same connection starts with none."""
    w = committed_setup
    client, _ = _client(annotator(w.project_a, "ann-1"))
    lease = client.post(f"{base(w)}/next")
    assert lease.status_code == 201, lease.content
    assert _tenant_setting() == ""
    done = client.post(
        f"{base(w)}/leases/{lease.json()['id']}/submit?next=1",
        {"result": {"label": "a"}},
        format="json",
    )
    assert done.status_code == 201, done.content
    assert done.json()["next"] is not None
    other = _client(annotator(w.project_b, "ann-b"))[0]
    refused = other.post(f"/api/v1/t/tenant-a/projects/{w.project_a.id}/next")
    assert refused.status_code == 404
    assert _tenant_setting() == ""
    check_invariants(w.project_a)


@pytest.mark.django_db
def test_the_claim_sent_with_the_state_keeps_lease_nexts_decisions(setup: World, settings) -> None:
    """The claim that travels with the annotator's state claims only when ``lease_next``
    would: at ``LEASE_MAX_ACTIVE`` the held lease comes back, and a reservation is popped
    before anything new is claimed."""
    from annotate.services.distribution import queue_refill

    settings.LEASE_MAX_ACTIVE = 2
    w = setup
    ann = annotator(w.project_a, "ann-1")
    client, _ = _client(ann)
    first = client.post(f"{base(w)}/next")
    second = client.post(f"{base(w)}/next")
    assert (first.status_code, second.status_code) == (201, 201)
    held = client.post(f"{base(w)}/next")
    assert held.status_code == 200 and held.json()["id"] == first.json()["id"]
    with tenant_context(w.a.id):
        assert Lease.objects.filter(state="active").count() == 2
    done = client.post(
        f"{base(w)}/leases/{first.json()['id']}/submit", {"result": {"label": "a"}}, format="json"
    )
    assert done.status_code == 201
    settings.DISTRIBUTION_QUEUE_DEPTH = 1
    with tenant_context(w.a.id):
        from annotate.models import Project

        assert queue_refill(project=Project.objects.get(id=w.project_a.id), membership=ann) == 1
        queued = Lease.objects.get(state="queued")
    settings.DISTRIBUTION_QUEUE_DEPTH = 0
    popped = client.post(f"{base(w)}/next")
    assert popped.status_code == 201 and popped.json()["id"] == str(queued.id)
    with tenant_context(w.a.id):
        assert Lease.objects.filter(state="active").count() == 2
        assert not Lease.objects.filter(state="queued").exists()
    check_invariants(w.project_a)


@pytest.mark.django_db
@pytest.mark.parametrize("guarded", [False, True])
def test_the_claim_probes_the_annotators_leases_per_candidate(setup: World, guarded: bool) -> None:
    """ "Has this annotator had this item" stays a per-candidate look-up in the unique
    (tenant, item, annotator) key (a SubPlan), never an anti-join that reads all the
    annotator's leases on every claim (whatever the statistics say)."""
    from django.utils import timezone

    from annotate.services.distribution import _claim_params, _claim_sql

    w = setup
    ann = annotator(w.project_a, "ann-1")
    params = _claim_params(w.project_a, ann, 1, "active", timezone.now())
    params["active_limit"] = 1
    with tenant_context(w.a.id), connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + _claim_sql(guarded), params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Anti Join" not in plan, plan
    assert "SubPlan" in plan and "lease_once_per_annotator" in plan, plan


@pytest.mark.django_db
def test_prepared_statements_are_planned_once_per_connection(setup: World) -> None:
    """Every prepared statement of the hot path runs its generic plan from the first call: left
    to PostgreSQL's heuristic, the guarded claim was planned afresh on every call (its generic
    plan looked dearer than a custom one), a sixth of the database's CPU per annotation."""
    w = setup
    client, _ = _client(annotator(w.project_a, "ann-1"))
    lease = client.post(f"{base(w)}/next").json()
    # PostgreSQL's heuristic plans the first five calls for their values anyway.
    _submit_next(client, w, lease, times=7)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, generic_plans, custom_plans, statement FROM pg_prepared_statements"
        )
        plans = cursor.fetchall()
    assert len(plans) >= 6, plans
    assert all(custom == 0 and generic >= 1 for _, generic, custom, _ in plans), plans
    # What runs on every request, down to the settings and the access event sent ahead, is
    # parsed and planned once per session.
    statements = [statement for *_, statement in plans]
    for wanted in (
        "INSERT INTO tenants_accessevent",
        "SELECT set_config($1, $2, true)",
        "SELECT set_config($1, coalesce((SELECT t.tenant_id::text",
        "pg_advisory_xact_lock",
    ):
        assert any(wanted in statement for statement in statements), (wanted, statements)


@pytest.mark.django_db
@pytest.mark.parametrize(("guarded", "positioned"), [(False, False), (True, False), (False, True)])
def test_the_claims_generic_plan_walks_the_queue_index(
    setup: World, guarded: bool, positioned: bool
) -> None:
    """The plan each connection keeps for the claim (generic: no parameter values) reads the
    queue index in order and probes "had this item" per candidate."""
    from django.utils import timezone

    from annotate.services.distribution import _claim_params, _claim_sql
    from tenants.sqlscript import prepared

    w = setup
    ann = annotator(w.project_a, "ann-1")
    params = _claim_params(w.project_a, ann, 1, "active", timezone.now())
    params["active_limit"] = 1
    params["position"] = params["position"] or params["ids"][0]
    with tenant_context(w.a.id), connection.cursor() as cursor:
        statement, arguments = prepared(cursor, _claim_sql(guarded, positioned, 1), params)
        cursor.execute("EXPLAIN " + statement, arguments)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "item_queue_idx" in plan and "Anti Join" not in plan, plan
    assert "SubPlan" in plan and "lease_once_per_annotator" in plan, plan
    assert "Sort Key: i." not in plan, plan  # the index gives the order; no sort of the queue
    # The claimed items are updated by key, not found by scanning the tenant's items (the
    # generic plan of a LIMIT left as a parameter did that on fresh statistics: 40 ms).
    assert "Seq Scan on annotate_item" not in plan, plan
    assert "Index Scan using item_tenant_id_key on annotate_item" in plan, plan


@pytest.mark.django_db
def test_from_row_builds_what_the_orm_loads(setup: World) -> None:
    """An instance built from raw columns is the one the ORM would load: the same values,
    converted (JSON from text), not ``adding``, bound to the database, the columns left out
    deferred, relations and ``save`` working."""
    from annotate.models import Item
    from tenants.sqlscript import from_row, select_list

    w = setup
    fields, columns = select_list(Item, "i", exclude=["created_at"])
    fields = fields[::-1]  # any order
    with tenant_context(w.a.id), connection.cursor() as cursor:
        item = Item.objects.filter(project=w.project_a).order_by("seq").first()
        cursor.execute(
            f"SELECT {', '.join(reversed(columns.split(', ')))} FROM annotate_item i "
            "WHERE i.tenant_id = %s AND i.id = %s",
            [w.a.id, item.id],
        )
        built = from_row(Item, fields, cursor.fetchone(), connection)
        assert built.pk == item.pk and built == item
        for field in fields:
            assert getattr(built, field.attname) == getattr(item, field.attname), field.name
        assert isinstance(built.data, dict)
        assert not built._state.adding and built._state.db == "default"
        assert built.get_deferred_fields() == {"created_at"}
        assert built.created_at == item.created_at  # loaded on access
        assert built.project == w.project_a
        built.priority = 7
        built.save(update_fields=["priority"])
        assert Item.objects.get(id=item.id).priority == 7


def test_the_hot_path_shares_one_cursor_per_database_session(committed_setup: World) -> None:
    """Requests reuse one cursor of the connection; a new session (the connection closed and
    opened again) gets a new one; logged queries (``CaptureQueriesContext``) get their own."""
    from tenants.sqlscript import reused_cursor

    w = committed_setup
    client, _ = _client(annotator(w.project_a, "ann-1"))
    assert client.post(f"{base(w)}/next").status_code == 201
    with reused_cursor(connection) as first:
        pass
    assert client.post(f"{base(w)}/next").status_code in (200, 201)
    with reused_cursor(connection) as again:
        assert again is first and not again.closed
    connection.close()
    assert client.post(f"{base(w)}/next").status_code in (200, 201)
    with reused_cursor(connection) as renewed:
        assert renewed is not first and renewed.cursor.connection is connection.connection
    with CaptureQueriesContext(connection) as logged, reused_cursor(connection) as own:
        assert own is not renewed
        own.execute("SELECT 1")
    assert len(logged.captured_queries) == 1
    check_invariants(w.project_a)


@pytest.mark.parametrize(("guarded", "positioned"), [(False, False), (True, False), (False, True)])
def test_the_claims_generic_plan_holds_on_fresh_statistics(
    committed_setup: World, guarded: bool, positioned: bool
) -> None:
    """Statistics taken right after a bulk import (many items, no lease yet), as on a new
    deployment's first project: the claim's one plan per connection still updates the
    claimed items by key. With its LIMIT a parameter, that plan was a hash join over a
    sequential scan of the tenant's items (40 ms a claim at 100,000 items)."""
    from django.utils import timezone

    from annotate.models import Dataset
    from annotate.services.distribution import _claim_params, _claim_sql
    from tenants.sqlscript import prepared
    from tests.conftest import owner_conninfo
    from tests.exports.conftest import BULK_ITEMS

    w = committed_setup
    ann = annotator(w.project_a, "ann-1")
    with tenant_context(w.a.id), connection.cursor() as cursor:
        dataset = Dataset.objects.create(project=w.project_a, name="bulk")
        cursor.execute(
            BULK_ITEMS.replace("'completed'", "'new'").replace("1, 1, now()", "0, 0, now()"),
            {"t": w.a.id, "p": w.project_a.id, "d": dataset.id, "n": 20_000},
        )
    with psycopg.connect(owner_conninfo(), autocommit=True) as owner:
        owner.execute("ANALYZE annotate_item, annotate_lease, annotate_queueposition")
    params = _claim_params(w.project_a, ann, 1, "active", timezone.now())
    params["active_limit"] = 1
    params["position"] = params["position"] or params["ids"][0]
    connection.close()  # a new session: nothing prepared or planned before the ANALYZE
    with tenant_context(w.a.id), connection.cursor() as cursor:
        statement, arguments = prepared(cursor, _claim_sql(guarded, positioned, 1), params)
        cursor.execute("EXPLAIN " + statement, arguments)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Seq Scan on annotate_item" not in plan, plan
    assert "Index Scan using item_tenant_id_key on annotate_item" in plan, plan
    assert "item_queue_idx" in plan, plan


# The annotator's closed leases, in bulk: what a tenant's lease table holds after a day's work.
BULK_CLOSED_LEASES = """
    INSERT INTO annotate_lease (tenant_id, id, project_id, item_id, annotator_id, membership_id,
        state, slot_kept, gold, created_at, leased_at, expires_at, closed_at)
    SELECT %(t)s, gen_random_uuid(), %(p)s, id, %(u)s, %(m)s, 'submitted', false, false,
           now(), now(), now() + interval '15 minutes', now()
      FROM annotate_item WHERE tenant_id = %(t)s AND dataset_id = %(d)s
"""


@pytest.mark.parametrize("annotators", [1, 2])
def test_the_live_leases_read_keeps_to_the_annotators_index(
    committed_setup: World, annotators: int
) -> None:
    """An annotator's live leases (read on every ``next`` and submit) come from their own
    entries of ``lease_live_annotator_idx``, on statistics of a lease table that has done
    much work (most leases closed). The expiry index, which the plan took before that index
    existed, holds the whole tenant's live leases in order of expiry; its entries for leases
    closed within the lease length (not yet vacuumed) were read on every call, which made
    the database's CPU per annotation grow over a run."""
    from annotate.models import Dataset
    from annotate.services.distribution import _live_leases_sql
    from tenants.sqlscript import prepared
    from tests.conftest import owner_conninfo
    from tests.exports.conftest import BULK_ITEMS

    w = committed_setup
    members = [annotator(w.project_a, f"ann-{i}") for i in range(annotators)]
    with tenant_context(w.a.id), connection.cursor() as cursor:
        dataset = Dataset.objects.create(project=w.project_a, name="bulk")
        cursor.execute(BULK_ITEMS, {"t": w.a.id, "p": w.project_a.id, "d": dataset.id, "n": 5000})
        for member in members:
            cursor.execute(
                BULK_CLOSED_LEASES,
                {
                    "t": w.a.id,
                    "p": w.project_a.id,
                    "d": dataset.id,
                    "u": member.user_id,
                    "m": member.id,
                },
            )
    with psycopg.connect(owner_conninfo(), autocommit=True) as owner:
        owner.execute("ANALYZE annotate_item, annotate_lease")
    connection.close()  # a new session: nothing prepared or planned before the ANALYZE
    params = {"tenant": w.a.id, "project": w.project_a.id, "user": members[0].user_id}
    with tenant_context(w.a.id), connection.cursor() as cursor:
        statement, arguments = prepared(cursor, _live_leases_sql(), params)
        cursor.execute("EXPLAIN " + statement, arguments)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "lease_live_annotator_idx" in plan, plan
    assert "lease_live_expiry_idx" not in plan and "Seq Scan" not in plan, plan


@pytest.mark.django_db
def test_autovacuum_takes_the_hot_tables_first_statistics_past_5000_changes() -> None:
    """Statistics of a tiny table (autovacuum's default first ANALYZE, at 50 changes) gave the
    prepared look-ups sequential scans, kept while the table grew (migration 0014)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s)",
            [["annotate_item", "annotate_lease", "annotate_annotation", "annotate_queueposition"]],
        )
        options = dict(cursor.fetchall())
    assert len(options) == 4, options
    for table, reloptions in options.items():
        for option in (
            "autovacuum_analyze_threshold=5000",
            "autovacuum_vacuum_threshold=5000",
            "autovacuum_vacuum_insert_threshold=5000",
        ):
            assert option in (reloptions or []), (table, reloptions)


def test_the_commit_goes_with_the_last_access_event(
    committed_setup: World, monkeypatch, settings
) -> None:
    """In a real request transaction, ``next``, ``submit`` and ``submit?next=1`` send their
    ``COMMIT`` in the same pipeline as their last access event: no wait for the event's answer
    before the commit is sent. A completed item with an active webhook still writes its
    delivery after the event (no COMMIT with it), and commits it."""
    from annotate.webhooks.models import WebhookDelivery
    from annotate.webhooks.services import webhook_create
    from tenants import sent_ahead

    settings.WEBHOOK_ALLOWED_NETWORKS = []
    w = committed_setup
    client, _ = _client(annotator(w.project_a, "ann-1"))
    sends: list[str] = []
    real_send = sent_ahead.send

    def spy(connection, sql, params, *, then=""):
        sends.append(then or sql.split()[0])
        return real_send(connection, sql, params, then=then)

    monkeypatch.setattr(sent_ahead, "send", spy)

    def sent_by(call) -> list[str]:
        sends.clear()
        response = call()
        assert response.status_code in (200, 201), response.content
        return list(sends)

    lease = client.post(f"{base(w)}/next").json()  # prepares this connection's statements
    lease = _submit_next(client, w, lease, times=1)
    assert sent_by(lambda: client.post(f"{base(w)}/next")) == ["COMMIT"]
    assert sent_by(
        lambda: client.post(
            f"{base(w)}/leases/{lease['id']}/submit?next=1",
            {"result": {"label": "a"}},
            format="json",
        )
    ) == ["INSERT", "COMMIT"]
    lease = client.post(f"{base(w)}/next").json()
    assert sent_by(
        lambda: client.post(
            f"{base(w)}/leases/{lease['id']}/submit", {"result": {"label": "a"}}, format="json"
        )
    ) == ["COMMIT"]

    with tenant_context(w.a.id):
        webhook_create(
            membership=w.m("a", "manager"),
            url="https://93.184.216.34/hook",
            events=["item.completed"],
            project=None,
        )
    lease = client.post(f"{base(w)}/next").json()
    sent = sent_by(
        lambda: client.post(
            f"{base(w)}/leases/{lease['id']}/submit?next=1",
            {"result": {"label": "a"}},
            format="json",
        )
    )
    assert "COMMIT" not in sent
    with tenant_context(w.a.id):
        assert WebhookDelivery.objects.filter(event="item.completed").count() == 1
    check_invariants(w.project_a)
