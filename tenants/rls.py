"""PostgreSQL row-level security: the third wall.

Every tenant-owned table gets ``ENABLE`` + ``FORCE ROW LEVEL SECURITY`` (FORCE so that even the
table owner is filtered) and two policies:

* ``tenant_rows`` (permissive, true): RLS denies everything unless some permissive policy allows;
* ``tenant_isolation`` (RESTRICTIVE): the tenant predicate, for USING and WITH CHECK. Being
  restrictive, no later permissive policy can widen it. An unset tenant makes the predicate
  NULL, so a query that forgot its tenant sees nothing instead of everything.

Use ``enable_rls(table)`` in a migration. ``tests/isolation/test_rls_coverage.py`` fails if any
tenant-owned table lacks it.
"""

from __future__ import annotations

from django.db import migrations

TENANT_PREDICATE = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
# Memberships are visible to their own user across tenants (to list "my tenants" and to resolve
# a session's membership before the tenant is set).
MEMBERSHIP_PREDICATE = (
    f"({TENANT_PREDICATE}) OR user_id = NULLIF(current_setting('app.user_id', true), '')::bigint"
)
# A token row is visible to whoever already holds its hash (i.e. the token itself), so that
# authentication can find it before any tenant is known.
TOKEN_PREDICATE = (
    f"({TENANT_PREDICATE}) OR key_hash = NULLIF(current_setting('app.token_hash', true), '')"
)
POLICY_NAME = "tenant_isolation"


def enable_rls(table: str, predicate: str = TENANT_PREDICATE) -> migrations.RunSQL:
    forward = f"""
        ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
        ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_rows ON {table} AS PERMISSIVE FOR ALL USING (true) WITH CHECK (true);
        CREATE POLICY {POLICY_NAME} ON {table} AS RESTRICTIVE FOR ALL
            USING ({predicate}) WITH CHECK ({predicate});
    """
    backward = f"""
        DROP POLICY IF EXISTS {POLICY_NAME} ON {table};
        DROP POLICY IF EXISTS tenant_rows ON {table};
        ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY;
        ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;
    """
    return migrations.RunSQL(forward, backward)


def deny_all_rls(table: str) -> migrations.RunSQL:
    """For tables that must stay empty (guardian's generic permission tables, which carry no
    tenant): RLS on with no policy denies every row, so any code that reaches them fails loudly."""
    return migrations.RunSQL(
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY; "
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY;",
        f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY; "
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;",
    )


def tenant_foreign_key(
    table: str, column: str, target_table: str, *, on_delete: str = "NO ACTION"
) -> migrations.RunSQL:
    """A composite foreign key ``(tenant_id, column) -> target(tenant_id, id)``.

    Foreign keys are checked by PostgreSQL without row-level security, so a plain ``x_id`` key
    could point at another tenant's row. Including ``tenant_id`` makes that impossible (and is
    the shape a distributed, tenant-sharded schema needs later). ``target`` must have a unique
    ``(tenant_id, id)`` constraint.
    """
    name = f"{table}_{column}_tenant_fk"[:63]
    return migrations.RunSQL(
        f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY (tenant_id, {column}) "
        f"REFERENCES {target_table} (tenant_id, id) ON DELETE {on_delete} "
        "DEFERRABLE INITIALLY DEFERRED;",
        f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name};",
    )


def append_only(table: str) -> migrations.RunSQL:
    """Refuse UPDATE, DELETE and TRUNCATE on a table, whoever asks (owner included)."""
    return migrations.RunSQL(
        f"""
        CREATE OR REPLACE FUNCTION annotate_refuse_change() RETURNS trigger
            LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$;
        CREATE TRIGGER {table}_append_only_row BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION annotate_refuse_change();
        CREATE TRIGGER {table}_append_only_truncate BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION annotate_refuse_change();
        """,
        f"""
        DROP TRIGGER IF EXISTS {table}_append_only_row ON {table};
        DROP TRIGGER IF EXISTS {table}_append_only_truncate ON {table};
        """,
    )


# Tables on which the application role gets INSERT and SELECT only.
APPEND_ONLY_TABLES = (
    "tenants_accessevent",
    "tenants_accessseal",
    "tenants_auditcheckpoint",
    "tenants_membershiplog",
    "tenants_platformcheckpoint",
    "tenants_signingkey",
)
