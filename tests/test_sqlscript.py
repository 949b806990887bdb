"""``tenants.sqlscript``'s prepared statements, bound by name in one pipeline: the values
arrive as they were given, the statements run in order in one transaction, an error stops the
rest and leaves the connection usable, a lost connection is replaced, and logged queries see
one entry a script."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from tenants import sent_ahead
from tenants.sqlscript import (
    Prepared,
    execute_prepared,
    prepared,
    reused_cursor,
    run_script,
    set_local,
)
from tests.conftest import app_conninfo


@pytest.mark.django_db
def test_values_arrive_as_given_and_rows_load_as_a_cursors_do() -> None:
    values = {
        "id": uuid.uuid4(),
        "n": 2**40,
        "text": "it's a \\ back'slash\n and ünïcode",
        "at": datetime(2026, 11, 23, 8, 30, 1, 123456, tzinfo=UTC),
        "ids": [uuid.uuid4(), uuid.uuid4()],
        "none": None,
        "flag": True,
        "amount": Decimal("12.50"),
        "doc": '{"a": [1, "x"]}',
    }
    sql = (
        "SELECT %(id)s::uuid, %(n)s::bigint, %(text)s::text, %(at)s::timestamptz, "
        "%(ids)s::uuid[], %(none)s::text, %(flag)s::boolean, %(amount)s::numeric, "
        "(%(doc)s::jsonb)->'a'->>1"
    )
    with reused_cursor(connection) as cursor:
        rows = execute_prepared(cursor, sql, values)
        cursor.execute(sql, values)  # the same statement through Django's cursor
        expected = cursor.fetchall()
    assert rows == expected
    assert rows == [
        (
            values["id"],
            2**40,
            values["text"],
            values["at"],
            values["ids"],
            None,
            True,
            Decimal("12.50"),
            "x",
        )
    ]


def test_a_script_runs_in_order_in_one_transaction_outside_a_transaction_block(
    committed: None,
) -> None:
    """In autocommit, the statements until the pipeline's end are one implicit transaction:
    a transaction-local setting made by the first is seen by the next, and gone after."""
    assert connection.get_autocommit()
    with reused_cursor(connection) as cursor:
        _, (seen,) = run_script(
            cursor,
            [
                set_local(cursor, "app.probe", "set"),
                prepared(cursor, "SELECT current_setting(%(name)s, true)", {"name": "app.probe"}),
            ],
        )
        (after,) = execute_prepared(
            cursor, "SELECT current_setting(%(name)s, true)", {"name": "app.probe"}
        )
    assert seen == ("set",)
    assert after in (("",), (None,))


def test_an_error_stops_the_script_and_the_connection_goes_on(committed: None) -> None:
    with reused_cursor(connection) as cursor:
        with pytest.raises(DatabaseError, match="division by zero"), transaction.atomic():
            run_script(
                cursor,
                [
                    set_local(cursor, "app.probe", "before"),
                    prepared(cursor, "SELECT 1 / %(zero)s::int", {"zero": 0}),
                    set_local(cursor, "app.probe", "after the error"),
                ],
            )
        # Rolled back by atomic(); the session is usable, its prepared statements still there.
        (row,) = execute_prepared(
            cursor, "SELECT current_setting(%(name)s, true)", {"name": "app.probe"}
        )
    assert row in (("",), (None,))
    assert connection.connection.pgconn.pipeline_status == psycopg.pq.PipelineStatus.OFF


def test_a_lost_connection_raises_and_is_replaced(committed: None) -> None:
    with reused_cursor(connection) as cursor:
        execute_prepared(cursor, "SELECT %(n)s::int", {"n": 1})
        pid = connection.connection.info.backend_pid
    with psycopg.connect(app_conninfo(), autocommit=True) as admin:  # its own role's backend
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    with pytest.raises(DatabaseError), reused_cursor(connection) as cursor:
        execute_prepared(cursor, "SELECT %(n)s::int", {"n": 2})
    connection.close_if_unusable_or_obsolete()  # as Django does at the request's end
    with reused_cursor(connection) as cursor:
        assert execute_prepared(cursor, "SELECT %(n)s::int", {"n": 3}) == [(3,)]
    assert connection.connection.info.backend_pid != pid


@pytest.mark.django_db
def test_logged_queries_see_one_entry_a_script_with_its_values() -> None:
    with CaptureQueriesContext(connection) as logged, reused_cursor(connection) as cursor:
        statement = prepared(cursor, "SELECT %(a)s::int + %(b)s::int", {"a": 2, "b": 3})
        assert type(statement) is Prepared
        assert run_script(cursor, [statement, statement]) == [[(5,)], [(5,)]]
    scripts = [q["sql"] for q in logged.captured_queries if not q["sql"].startswith("PREPARE")]
    assert len(scripts) == 1
    assert scripts[0].count("EXECUTE ") == 2 and "(2, 3)" in scripts[0]


@pytest.mark.django_db
def test_a_statement_not_prepared_is_refused_before_anything_is_sent() -> None:
    with (
        CaptureQueriesContext(connection) as logged,
        reused_cursor(connection) as cursor,
        pytest.raises(TypeError, match=r"prepared\(\).*'SELECT set_config"),
    ):
        run_script(
            cursor,
            [
                set_local(cursor, "app.probe", "x"),
                ("SELECT set_config(%s, %s, true)", ["app.probe", "y"]),
            ],
        )
    assert not [q for q in logged.captured_queries if not q["sql"].startswith("PREPARE")]


def test_a_server_side_binding_cursor_is_refused_with_the_reason() -> None:
    # The settings refuse server_side_binding (tests/test_settings_database.py); a cursor
    # of that kind reaching this module anyway is named, not half-served.
    with psycopg.connect(app_conninfo()) as raw:
        wrapper = type("DjangoCursor", (), {"cursor": raw.cursor()})()
        with pytest.raises(TypeError, match=r"not Cursor: .* refuses server_side_binding"):
            prepared(wrapper, "SELECT %(one)s::int", {"one": 1})


@pytest.mark.django_db
def test_statements_go_through_the_connections_execute_wrappers() -> None:
    seen: list[str] = []

    def wrapper(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with reused_cursor(connection) as cursor:
        statement = prepared(cursor, "SELECT %(a)s::int", {"a": 7})
        with connection.execute_wrapper(wrapper):
            assert run_script(cursor, [statement]) == [[(7,)]]
    assert seen == [statement[0]]


@pytest.mark.django_db
def test_an_access_event_sent_ahead_fails_at_the_next_statement() -> None:
    """A write sent ahead as a prepared statement: its error is read, and raised, by the next
    statement of the connection, which then does not run."""
    with transaction.atomic():
        sent_ahead.send(connection, "SELECT 1 / %(zero)s::int", {"zero": 0})
        with (
            pytest.raises(DatabaseError, match="division by zero"),
            connection.execute_wrapper(sent_ahead.collect_first),
            connection.cursor() as cursor,
        ):
            cursor.execute("SELECT 1")
        transaction.set_rollback(True)
    assert connection.connection.pgconn.pipeline_status == psycopg.pq.PipelineStatus.OFF


@pytest.mark.django_db
def test_timestamps_load_in_c_and_equal_djangos_own() -> None:
    """The session's loader for ``timestamptz`` is psycopg's C one when the session's time
    zone is Django's (UTC), and the values it gives are Django's, ``tzinfo`` included; a
    session in another time zone keeps Django's loader."""
    from psycopg import postgres, pq

    from tenants.sqlscript import _LoadingContext

    oid = postgres.types["timestamptz"].oid
    sql = "SELECT %(at)s::timestamptz, now(), '2026-03-29 01:30:00.5+02'::timestamptz"
    at = datetime(2026, 11, 23, 8, 30, 1, 123456, tzinfo=UTC)
    with reused_cursor(connection) as cursor:
        rows = execute_prepared(cursor, sql, {"at": at})
        cursor.execute(sql, {"at": at})
        expected = cursor.fetchall()
    assert rows == expected
    assert [value.tzinfo for value in rows[0]] == [value.tzinfo for value in expected[0]]
    assert rows[0][0] == at and rows[0][0].tzinfo is UTC
    raw = connection.connection
    assert _LoadingContext(raw).adapters.get_loader(oid, pq.Format.TEXT) is (
        psycopg.adapters.get_loader(oid, pq.Format.TEXT)
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL TIME ZONE 'Europe/Paris'")
    djangos = raw.adapters.get_loader(oid, pq.Format.TEXT)
    assert _LoadingContext(raw).adapters.get_loader(oid, pq.Format.TEXT) is djangos
