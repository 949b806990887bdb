"""A request's access event is sent ahead (at once, its answer read before the connection's next
statement or at the end of the request's tenant context: no round trip of its own) and keeps the
fate of the request's transaction: written when the request commits, gone when it rolls back,
never written by a rolled-back savepoint, and a failing write fails the request."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction

from tenants.audit import Actor, audit_record
from tenants.models import AccessEvent
from tenants.scoping import defer_to_context_end, tenant_context
from tests.audit.conftest import FORGED_EVENT
from tests.conftest import World, app_conninfo, build_world

ACTOR = Actor.for_command("test")


def _record(tenant_id: uuid.UUID, action: str) -> int | None:
    return audit_record(tenant_id=tenant_id, actor=ACTOR, action=action, resource_type="t")


def _actions(tenant_id: uuid.UUID) -> list[str]:
    with tenant_context(tenant_id):
        return list(AccessEvent.objects.order_by("id").values_list("action", flat=True))


class _Statements:
    """Every statement the connection sends, as one string per ``execute``."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        self.sent.append(sql)
        return execute(sql, *args)


def test_in_a_request_context_the_event_is_sent_ahead_and_read_before_the_next_statement(
    world: World,
) -> None:
    statements = _Statements()
    with connection.execute_wrapper(statements), transaction.atomic():
        with tenant_context(world.a.id, savepoint=False):
            assert _record(world.a.id, "deferred.read") is None  # sent, no id read
            assert getattr(connection, "sent_ahead_in_flight", False)
            # Not through a Django cursor: no execute carried it.
            assert not any("tenants_accessevent" in sql for sql in statements.sent)
            # The next statement reads its answer first, and sees the row.
            assert _actions(world.a.id) == ["deferred.read"]
            assert not getattr(connection, "sent_ahead_in_flight", False)
        assert _actions(world.a.id) == ["deferred.read"]


def test_a_write_sent_ahead_runs_while_the_request_goes_on(world: World) -> None:
    """Sent at once: the server has run it before the connection sends anything else (seen
    from another connection: the advisory lock it takes is held)."""
    key = 48_151_623
    with psycopg.connect(app_conninfo()) as other:

        def held() -> bool:
            row = other.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s "
                "AND granted",
                [key],
            ).fetchone()
            return bool(row and row[0])

        with transaction.atomic(), tenant_context(world.a.id, savepoint=False):
            assert defer_to_context_end("SELECT pg_advisory_xact_lock(%(key)s)", {"key": key})
            for _ in range(200):  # the server needs a moment; the connection waits for nothing
                if held():
                    break
                time.sleep(0.01)
            assert held()
            assert getattr(connection, "sent_ahead_in_flight", False)


def test_outside_a_request_context_the_event_is_written_at_once(world: World) -> None:
    with tenant_context(world.a.id):  # a task's or command's context (with a savepoint)
        event_id = _record(world.a.id, "task.read")
        assert isinstance(event_id, int)
        assert AccessEvent.objects.filter(id=event_id).exists()


def test_an_event_inside_a_nested_savepoint_is_written_at_once_and_rolled_back_with_it(
    world: World,
) -> None:
    with transaction.atomic(), tenant_context(world.a.id, savepoint=False):
        with pytest.raises(ZeroDivisionError), transaction.atomic():
            assert isinstance(_record(world.a.id, "inner.read"), int)
            1 / 0  # noqa: B018 - rolls the savepoint back
        _record(world.a.id, "outer.read")
    assert _actions(world.a.id) == ["outer.read"]


def test_an_error_in_the_context_drops_the_queued_event_with_the_transaction(
    world: World,
) -> None:
    with (
        pytest.raises(ZeroDivisionError),
        transaction.atomic(),
        tenant_context(world.a.id, savepoint=False),
    ):
        _record(world.a.id, "doomed.read")
        1 / 0  # noqa: B018
    assert "doomed.read" not in _actions(world.a.id)
    # Nothing is left in flight or installed on the connection for the next context.
    assert getattr(connection, "tenant_deferred", None) is None
    assert not getattr(connection, "sent_ahead_in_flight", False)
    assert connection.execute_wrappers == []
    with transaction.atomic(), tenant_context(world.a.id, savepoint=False):
        _record(world.a.id, "next.read")
    assert _actions(world.a.id) == ["next.read"]


def test_a_failing_queued_write_fails_the_context_and_nothing_of_it_stays(world: World) -> None:
    with (
        pytest.raises(DatabaseError),
        transaction.atomic(),
        tenant_context(world.a.id, savepoint=False),
    ):
        _record(world.a.id, "first.read")
        assert defer_to_context_end("SELECT 1 / %(zero)s::int", {"zero": 0})
    assert "first.read" not in _actions(world.a.id)


def test_the_queued_event_is_checked_against_the_context_tenant(world: World) -> None:
    """The queued INSERT runs while the request's tenant is still set, so row-level
    security's WITH CHECK still stands between it and another tenant's log."""
    with (
        pytest.raises(DatabaseError, match="row-level security"),
        transaction.atomic(),
        tenant_context(world.a.id, savepoint=False),
    ):
        assert defer_to_context_end(FORGED_EVENT, {"tenant": world.b.id})
    assert "forged" not in _actions(world.b.id)


def test_a_committed_request_writes_its_event_and_a_refused_one_does_not(
    committed: None, token_client: Any
) -> None:
    """Through the API with real commits, seen from another connection: a read commits its
    (deferred) event; a request that answers 404 rolls its transaction back and logs only the
    denial."""
    world = build_world()
    manager = world.m("a", "manager")
    client = token_client(manager)
    base = f"/api/v1/t/{world.a.slug}/projects"
    assert client.get(base).status_code == 200
    assert client.get(f"{base}/{uuid.uuid4()}").status_code == 404
    with psycopg.connect(app_conninfo()) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", [str(world.a.id)])
        rows = conn.execute(
            "SELECT action, outcome, status_code FROM tenants_accessevent "
            "WHERE actor_user_id = %s ORDER BY id",
            [manager.user_id],
        ).fetchall()
    assert rows == [("project.list", "allowed", None), ("project.read", "denied", 404)]
