"""Wall 3: every tenant-owned table has RLS enabled, forced, and the tenant policy."""

from __future__ import annotations

import psycopg
import pytest

from tenants.services.isolation import tenant_owned_tables
from tests.conftest import app_conninfo, owner_conninfo
from tests.isolation.rls_check import rls_problems

pytestmark = pytest.mark.django_db


def test_every_tenant_owned_table_has_rls_force_and_policy() -> None:
    tables = tenant_owned_tables()
    # The guardian direct-FK tables are tenant-owned too.
    assert "annotate_projectuserobjectpermission" in tables
    assert "tenants_accessevent" in tables
    with psycopg.connect(owner_conninfo()) as conn:
        assert rls_problems(conn) == []


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("DROP POLICY tenant_isolation ON annotate_project", "policy tenant_isolation missing"),
        ("ALTER TABLE annotate_project NO FORCE ROW LEVEL SECURITY", "not forced"),
        ("ALTER TABLE tenants_membership DISABLE ROW LEVEL SECURITY", "not enabled"),
        (
            "ALTER POLICY tenant_isolation ON annotate_projectuserobjectpermission USING (true)",
            "USING lacks the tenant predicate",
        ),
    ],
)
def test_the_check_fails_when_the_wall_is_weakened(statement: str, expected: str) -> None:
    with psycopg.connect(owner_conninfo()) as conn:
        conn.execute(statement)
        problems = rls_problems(conn)
        conn.rollback()
    assert any(expected in p for p in problems), problems


def test_app_role_owns_nothing_and_cannot_bypass_rls() -> None:
    with psycopg.connect(app_conninfo()) as conn:
        superuser, bypass = conn.execute(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        owned = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND pg_has_role(current_user, c.relowner, 'USAGE')"
        ).fetchone()[0]
    assert (superuser, bypass, owned) == (False, False, 0)


def test_app_role_may_only_insert_and_select_access_events() -> None:
    with psycopg.connect(app_conninfo()) as conn:
        privileges = {
            p: conn.execute(
                "SELECT has_table_privilege(current_user, 'tenants_accessevent', %s)", [p]
            ).fetchone()[0]
            for p in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
        }
    assert privileges == {
        "SELECT": True,
        "INSERT": True,
        "UPDATE": False,
        "DELETE": False,
        "TRUNCATE": False,
    }
