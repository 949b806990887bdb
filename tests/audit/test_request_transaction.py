"""The request's transaction sends its COMMIT ahead (``tenants.request_transaction``): the
database flushes it while the request renders, and the answer leaves only once the commit is
known. These tests use real commits, seen from another connection, because the point is what
the server has and has not committed, and when."""

from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from tenants import sent_ahead
from tenants.audit import Actor, audit_record
from tenants.request_transaction import commit_sent, request_transaction
from tenants.scoping import defer_to_context_end, tenant_context
from tests.audit.conftest import FORGED_EVENT
from tests.conftest import app_conninfo, build_world
from tests.factories import SCHEMA

ACTOR = Actor.for_command("test")


def _seen_elsewhere(tenant_id: uuid.UUID) -> list[str]:
    """The actions of the tenant's events that another connection sees (committed ones)."""
    with psycopg.connect(app_conninfo()) as other:
        other.execute("SELECT set_config('app.tenant_id', %s, false)", [str(tenant_id)])
        rows = other.execute("SELECT action FROM tenants_accessevent ORDER BY id").fetchall()
    return [action for (action,) in rows]


def _record(tenant_id: uuid.UUID, action: str, *, last: bool = False) -> None:
    audit_record(tenant_id=tenant_id, actor=ACTOR, action=action, resource_type="t", last=last)


def _idle() -> None:
    """Nothing is left of the request on the connection."""
    assert connection.get_autocommit()
    assert not connection.in_atomic_block
    assert not getattr(connection, "sent_ahead_in_flight", False)
    assert getattr(connection, "request_commit", None) is None
    assert connection.execute_wrappers == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def test_the_commit_is_on_the_server_while_the_overlap_work_runs(committed: None) -> None:
    world = build_world()
    seen_during: list[list[str]] = []
    after_commit: list[list[str]] = []

    def overlap() -> None:
        assert getattr(connection, "sent_ahead_in_flight", False)  # COMMIT sent, not read
        for _ in range(200):  # the server needs a moment; Python waits for nothing
            seen_during.append(_seen_elsewhere(world.a.id))
            if seen_during[-1]:
                break
            time.sleep(0.01)

    with request_transaction() as txn, tenant_context(world.a.id, savepoint=False):
        _record(world.a.id, "request.read")
        transaction.on_commit(lambda: after_commit.append(_seen_elsewhere(world.a.id)))
        txn.overlap = overlap
    assert seen_during[-1] == ["request.read"]  # committed before its answer was read
    assert after_commit == [["request.read"]]  # on_commit callbacks ran, after the commit
    _idle()


def test_an_error_in_the_block_rolls_back_and_runs_no_callbacks(committed: None) -> None:
    world = build_world()
    ran: list[str] = []
    with (
        pytest.raises(ZeroDivisionError),
        request_transaction(),
        tenant_context(world.a.id, savepoint=False),
    ):
        _record(world.a.id, "doomed.read")
        transaction.on_commit(lambda: ran.append("callback"))
        1 / 0  # noqa: B018
    assert _seen_elsewhere(world.a.id) == []
    assert ran == []
    _idle()


def test_set_rollback_rolls_back_and_the_answer_is_still_rendered(committed: None) -> None:
    world = build_world()
    rendered: list[bool] = []
    with request_transaction() as txn:
        with tenant_context(world.a.id, savepoint=False):
            _record(world.a.id, "refused.read")
        transaction.set_rollback(True)  # as the API view does for a 4xx answer
        txn.overlap = lambda: rendered.append(True)
    assert rendered == [True]
    assert _seen_elsewhere(world.a.id) == []
    _idle()


def test_a_failing_commit_fails_the_request_and_runs_no_callbacks(committed: None) -> None:
    """A deferred constraint fails at COMMIT: the error is raised when its answer is read, the
    overlap work having run, and nothing is written."""
    world = build_world()
    ran: list[str] = []
    with pytest.raises(IntegrityError), request_transaction() as txn:
        with tenant_context(world.a.id, savepoint=False), connection.cursor() as cursor:
            _record(world.a.id, "lost.read")
            cursor.execute(
                "CREATE TEMP TABLE deferred_check (id int PRIMARY KEY, "
                "ref int REFERENCES deferred_check (id) DEFERRABLE INITIALLY DEFERRED)"
            )
            cursor.execute("INSERT INTO deferred_check VALUES (1, 2)")  # fails at COMMIT
        transaction.on_commit(lambda: ran.append("callback"))
        txn.overlap = lambda: ran.append("overlap")
    assert ran == ["overlap"]
    assert _seen_elsewhere(world.a.id) == []
    _idle()


def test_overlap_work_may_not_use_the_database_and_the_commit_stands(committed: None) -> None:
    world = build_world()

    def queries() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    with (
        pytest.raises(sent_ahead.StatementAfterLast, match="COMMIT is in flight"),
        request_transaction() as txn,
    ):
        with tenant_context(world.a.id, savepoint=False):
            _record(world.a.id, "kept.read")
        txn.overlap = queries
    # The COMMIT had gone out before the work failed: what the transaction wrote stands.
    assert _seen_elsewhere(world.a.id) == ["kept.read"]
    _idle()


def test_the_last_event_carries_the_commit_and_nothing_may_follow(committed: None) -> None:
    world = build_world()
    with (
        pytest.raises(sent_ahead.StatementAfterLast, match="sent with its access event"),
        request_transaction(),
        tenant_context(world.a.id, savepoint=False),
    ):
        _record(world.a.id, "last.read", last=True)
        assert commit_sent()
        assert getattr(connection, "sent_ahead_in_flight", False)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    assert _seen_elsewhere(world.a.id) == ["last.read"]
    _idle()


def test_a_failing_last_event_fails_the_request_and_nothing_is_committed(committed: None) -> None:
    """The event and the COMMIT go in one message: if the event is refused (here by row-level
    security's WITH CHECK, for a forged tenant), the COMMIT does not run."""
    world = build_world()
    with (
        pytest.raises(DatabaseError, match="row-level security"),
        request_transaction(),
        tenant_context(world.a.id, savepoint=False),
    ):
        _record(world.a.id, "first.read")
        assert defer_to_context_end(FORGED_EVENT, {"tenant": world.b.id}, last=True)
    assert _seen_elsewhere(world.a.id) == []
    assert _seen_elsewhere(world.b.id) == []
    _idle()


def test_inside_a_longer_transaction_it_is_a_plain_atomic_block(db: None) -> None:
    """In a test case's (or a caller's) transaction it cannot commit: the overlap work runs
    after the block, and a statement after the last event is refused all the same."""
    world = build_world()
    order: list[str] = []
    with request_transaction() as txn, tenant_context(world.a.id, savepoint=False):
        _record(world.a.id, "nested.read")
        txn.overlap = lambda: order.append("overlap")
        order.append("block")
    assert order == ["block", "overlap"]
    assert connection.in_atomic_block  # the test case's transaction goes on
    with (
        pytest.raises(sent_ahead.StatementAfterLast, match="last access event"),
        request_transaction(),
        tenant_context(world.a.id, savepoint=False),
    ):
        _record(world.a.id, "nested.last", last=True)
        assert not commit_sent()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")


def test_a_read_through_the_api_commits_with_its_event(committed: None, token_client: Any) -> None:
    """GET projects sends its event with the COMMIT (``last=True``); the answer is complete,
    the event committed, and a write (POST) afterwards on the same connection works."""
    world = build_world()
    manager = world.m("a", "manager")
    client = token_client(manager)
    listed = client.get(f"/api/v1/t/{world.a.slug}/projects")
    assert listed.status_code == 200
    assert [p["name"] for p in listed.json()["results"]] == ["A secret project"]
    created = client.post(
        f"/api/v1/t/{world.a.slug}/projects", {"name": "p2", "label_schema": SCHEMA}, format="json"
    )
    assert created.status_code == 201, created.content
    assert _seen_elsewhere(world.a.id)[-2:] == ["project.list", "project.create"]
    _idle()


def test_the_begin_goes_ahead_and_its_transaction_holds_the_statements(committed: None) -> None:
    """The ``BEGIN`` is sent at once and read with the first statement (psycopg then sends no
    ``BEGIN`` of its own): the statements after it are one transaction, with the connection's
    isolation level."""
    world = build_world()
    raw = connection.connection
    raw.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    try:
        with pytest.raises(RuntimeError), request_transaction():
            assert raw.info.transaction_status == psycopg.pq.TransactionStatus.ACTIVE
            with tenant_context(world.a.id, savepoint=False), connection.cursor() as cursor:
                cursor.execute("SELECT current_setting('transaction_isolation')")
                assert cursor.fetchone() == ("repeatable read",)
                _record(world.a.id, "undone.read")
                with connection.cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM tenants_accessevent")  # reads its answer
                    assert cursor.fetchone() == (1,)
            raise RuntimeError("after the writes")
    finally:
        raw.isolation_level = None
    assert _seen_elsewhere(world.a.id) == []
    _idle()


def test_a_request_that_never_queries_leaves_the_connection_idle(committed: None) -> None:
    """Its ``BEGIN`` is read and rolled back whichever way it ends."""
    with pytest.raises(RuntimeError), request_transaction():
        raise RuntimeError("refused before any statement")
    _idle()
    with request_transaction():
        transaction.set_rollback(True)
    _idle()


def test_the_tenant_setting_ends_with_the_request_and_nothing_may_follow_it(
    committed: None,
) -> None:
    """The request's tenant context does not clear ``app.tenant_id`` (a round trip): the
    transaction ends right after it, and a statement in between is refused rather than run
    with the tenant still set."""
    world = build_world()
    with (
        pytest.raises(sent_ahead.StatementAfterLast, match="tenant context has ended"),
        request_transaction(),
    ):
        with tenant_context(world.a.id, savepoint=False):
            _record(world.a.id, "undone.read")
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('app.tenant_id', true)")
    assert _seen_elsewhere(world.a.id) == []
    _idle()
    with request_transaction(), tenant_context(world.a.id, savepoint=False):
        # One wrapper, the transaction's: every statement passes it once, not once per layer.
        assert connection.execute_wrappers == [sent_ahead.collect_first]
        _record(world.a.id, "kept.read")
    assert _seen_elsewhere(world.a.id) == ["kept.read"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('app.tenant_id', true)")
        assert cursor.fetchone()[0] in (None, "")
    _idle()


def test_a_begin_that_cannot_be_sent_leaves_nothing_behind(
    committed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the ``BEGIN`` cannot go out, the request fails before its block runs, and the
    connection is left as it was: in autocommit, no wrapper, no request state."""

    def refuse(connection: Any, text: str) -> None:
        raise DatabaseError(f"could not send {text!r}")

    monkeypatch.setattr(sent_ahead, "send_text", refuse)
    with pytest.raises(DatabaseError, match="BEGIN"), request_transaction():
        pytest.fail("the block ran without its BEGIN")
    monkeypatch.undo()
    _idle()
