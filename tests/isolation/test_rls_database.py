"""Wall 3 at the database level: raw SQL as the application role, on committed rows."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import errors

from tests.conftest import World, app_conninfo, build_world, owner_conninfo


@pytest.fixture
def committed_world(committed: None) -> World:
    return build_world()


def _as_tenant(conn: psycopg.Connection, tenant_id: object) -> None:
    conn.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant_id)])


def test_wrong_tenant_sees_no_rows_and_cannot_write(committed_world: World) -> None:
    w = committed_world
    with psycopg.connect(app_conninfo()) as conn:
        _as_tenant(conn, w.a.id)
        assert conn.execute("SELECT count(*) FROM annotate_project").fetchone()[0] == 1
        conn.rollback()

        _as_tenant(conn, w.b.id)
        rows = conn.execute(
            "SELECT id FROM annotate_project WHERE id = %s", [w.project_a.id]
        ).fetchall()
        assert rows == []
        for table in (
            "tenants_membership",
            "tenants_apitoken",
            "tenants_accessevent",
            "annotate_projectuserobjectpermission",
        ):
            count = conn.execute(
                f"SELECT count(*) FROM {table} WHERE tenant_id = %s", [w.a.id]
            ).fetchone()[0]
            assert count == 0, table
        updated = conn.execute(
            "UPDATE annotate_project SET name = 'pwned' WHERE id = %s", [w.project_a.id]
        ).rowcount
        assert updated == 0
        deleted = conn.execute(
            "DELETE FROM annotate_project WHERE id = %s", [w.project_a.id]
        ).rowcount
        assert deleted == 0
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(
                "INSERT INTO annotate_project (id, tenant_id, name, description, instructions, "
                "label_schema, overlap, created_by_id, created_at, updated_at) VALUES "
                "(%s, %s, 'x', '', '', '{}', 1, %s, now(), now())",
                [uuid.uuid4(), w.a.id, w.m("b", "manager").user_id],
            )
        conn.rollback()

        # Moving a row of one's own tenant into another tenant is refused too (WITH CHECK).
        _as_tenant(conn, w.b.id)
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(
                "UPDATE annotate_project SET tenant_id = %s WHERE id = %s",
                [w.a.id, w.project_b.id],
            )
        conn.rollback()

    with psycopg.connect(owner_conninfo()) as conn:
        _as_tenant(conn, w.a.id)
        assert conn.execute(
            "SELECT name FROM annotate_project WHERE id = %s", [w.project_a.id]
        ).fetchone() == ("A secret project",)


def test_no_tenant_set_sees_nothing(committed_world: World) -> None:
    with psycopg.connect(app_conninfo()) as conn:
        for table in (
            "annotate_project",
            "tenants_membership",
            "tenants_apitoken",
            "tenants_accessevent",
            "annotate_projectuserobjectpermission",
        ):
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
        # Even the owner is filtered: FORCE ROW LEVEL SECURITY.
    with psycopg.connect(owner_conninfo()) as conn:
        assert conn.execute("SELECT count(*) FROM annotate_project").fetchone()[0] == 0


def test_tenant_setting_does_not_survive_the_transaction(committed_world: World) -> None:
    """A reused (pooled, persistent) connection never carries a tenant into the next one."""
    w = committed_world
    with psycopg.connect(app_conninfo()) as conn:
        _as_tenant(conn, w.a.id)
        assert conn.execute("SELECT count(*) FROM annotate_project").fetchone()[0] == 1
        conn.commit()
        assert conn.execute(
            "SELECT coalesce(current_setting('app.tenant_id', true), '')"
        ).fetchone() == ("",)
        assert conn.execute("SELECT count(*) FROM annotate_project").fetchone()[0] == 0


def test_composite_foreign_key_refuses_a_cross_tenant_reference(committed_world: World) -> None:
    """Foreign keys are checked without RLS; the (tenant_id, id) key closes that hole."""
    w = committed_world
    with psycopg.connect(app_conninfo()) as conn:
        _as_tenant(conn, w.a.id)
        perm_id = conn.execute(
            "SELECT id FROM auth_permission WHERE codename = 'annotate_project'"
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO annotate_projectuserobjectpermission "
            "(tenant_id, user_id, permission_id, content_object_id) VALUES (%s, %s, %s, %s)",
            [w.a.id, w.m("a", "annotator").user_id, perm_id, w.project_b.id],
        )
        with pytest.raises(errors.ForeignKeyViolation):
            conn.commit()  # the composite key is deferred to commit


def test_access_log_is_append_only_even_for_the_owner(committed_world: World) -> None:
    w = committed_world
    with psycopg.connect(app_conninfo()) as conn:
        _as_tenant(conn, w.a.id)
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("UPDATE tenants_accessevent SET action = 'x'")
        conn.rollback()
        _as_tenant(conn, w.a.id)
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("DELETE FROM tenants_accessevent")
        conn.rollback()
    with psycopg.connect(owner_conninfo()) as conn:
        _as_tenant(conn, w.a.id)
        conn.execute(
            "INSERT INTO tenants_accessevent (tenant_id, occurred_at, action, resource_type, "
            "resource_id, outcome, reason, actor_username, actor_role, auth_method, credential_id, "
            "request_id, detail) VALUES "
            "(%s, now(), 'x', 'y', '', 'allowed', '', '', '', '', '', '', '{}')",
            [w.a.id],
        )
        conn.commit()
        _as_tenant(conn, w.a.id)
        for statement in (
            "UPDATE tenants_accessevent SET action = 'z'",
            "DELETE FROM tenants_accessevent",
            # CASCADE: the seals reference the events, and a plain TRUNCATE would stop at that
            # foreign key before reaching the trigger this test is about.
            "TRUNCATE tenants_accessevent CASCADE",
        ):
            with pytest.raises(errors.InsufficientPrivilege, match="append-only"):
                conn.execute(statement)
            conn.rollback()
            _as_tenant(conn, w.a.id)
