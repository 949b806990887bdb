"""The RLS coverage check, shared by the test and usable against any database."""

from __future__ import annotations

from typing import Any

from tenants.rls import POLICY_NAME
from tenants.services.isolation import tenant_owned_tables

DENY_ALL_TABLES = ("guardian_userobjectpermission", "guardian_groupobjectpermission")


def rls_problems(conn: Any) -> list[str]:
    """Every problem with row-level security on tenant tables, as readable lines."""
    problems: list[str] = []
    for table in tenant_owned_tables():
        row = conn.execute(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE relname = %s AND relkind = 'r'",
            [table],
        ).fetchone()
        if row is None:
            problems.append(f"{table}: table missing")
            continue
        enabled, forced = row
        if not enabled:
            problems.append(f"{table}: ROW LEVEL SECURITY not enabled")
        if not forced:
            problems.append(f"{table}: ROW LEVEL SECURITY not forced")
        policy = conn.execute(
            "SELECT permissive, cmd, qual, with_check FROM pg_policies "
            "WHERE tablename = %s AND policyname = %s",
            [table, POLICY_NAME],
        ).fetchone()
        if policy is None:
            problems.append(f"{table}: policy {POLICY_NAME} missing")
            continue
        permissive, cmd, qual, with_check = policy
        if permissive != "RESTRICTIVE":
            problems.append(f"{table}: policy {POLICY_NAME} is {permissive}, not RESTRICTIVE")
        if cmd != "ALL":
            problems.append(f"{table}: policy {POLICY_NAME} covers {cmd}, not ALL")
        for label, expr in (("USING", qual), ("WITH CHECK", with_check)):
            if not expr or "app.tenant_id" not in expr or "tenant_id" not in expr:
                problems.append(f"{table}: policy {POLICY_NAME} {label} lacks the tenant predicate")
    for table in DENY_ALL_TABLES:
        row = conn.execute(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = %s", [table]
        ).fetchone()
        if row != (True, True):
            problems.append(f"{table}: must have RLS enabled and forced (deny all)")
        policies = conn.execute(
            "SELECT count(*) FROM pg_policies WHERE tablename = %s", [table]
        ).fetchone()
        if policies[0]:
            problems.append(f"{table}: must have no policy (deny all)")
    return problems
