"""Privileges of the application role, and the start-up check that it cannot bypass RLS."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from psycopg import sql

from tenants.rls import APPEND_ONLY_TABLES


def app_role_name() -> str:
    return str(settings.DATABASES["default"]["USER"])


def grant_app_privileges(using: str) -> None:
    """Give the application role what it needs and nothing more. Run as the owner after every
    migrate (``post_migrate``), so a new table can never be left ungranted or over-granted."""
    role = app_role_name()
    connection = connections[using]
    if connection.settings_dict["USER"] == role:
        return  # migrating as the app role is refused elsewhere; nothing to grant to oneself
    ident = sql.Identifier(role)
    statements = [
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(ident),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(
            ident
        ),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(ident),
        sql.SQL(
            "REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA public FROM {}"
        ).format(ident),
    ]
    for table in APPEND_ONLY_TABLES:
        statements.append(
            sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(
                sql.Identifier(table), ident
            )
        )
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement.as_string(cursor.connection))


ROLE_CHECK_SQL = """
SELECT r.rolsuper, r.rolbypassrls,
       (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
           AND pg_has_role(current_user, c.relowner, 'USAGE')) AS owned
  FROM pg_roles r WHERE r.rolname = current_user
"""


def check_runtime_role(connection: Any) -> None:
    """Refuse to run as a role for which row-level security would be silently skipped."""
    with connection.cursor() as cursor:
        cursor.execute(ROLE_CHECK_SQL)
        row = cursor.fetchone()
    user = connection.settings_dict.get("USER")
    if row is None:
        raise ImproperlyConfigured(f"DATABASE_URL: role {user!r} not found in pg_roles")
    superuser, bypassrls, owned = row
    problems = []
    if superuser:
        problems.append("is a SUPERUSER")
    if bypassrls:
        problems.append("has BYPASSRLS")
    if owned:
        problems.append(f"owns (or is a member of the owner of) {owned} table(s)")
    if problems:
        raise ImproperlyConfigured(
            f"DATABASE_URL connects as role {user!r}, which {' and '.join(problems)}: row-level "
            "security would not apply. Connect the application as a role that owns nothing "
            "(see README, 'Database roles'); only DATABASE_OWNER_URL may own the schema."
        )


def on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.alias not in ("default", "progress") or not settings.DB_ROLE_CHECK:
        return
    check_runtime_role(connection)
