"""Two tenants and every role in each; API clients by token and by session.

The suite runs on real PostgreSQL as the *application* role (DATABASE_URL), so every
row-level-security policy applies to the tests exactly as in production. The schema is
built once per run by the owner role (DATABASE_OWNER_URL), as a deployment does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from rest_framework.test import APIClient

from annotate.models import Project
from tenants.models import Membership, Role, Tenant
from tenants.rls import APPEND_ONLY_TABLES
from tests.factories import TenantFactory, member, project_in, token_for

KEEP_TABLES = {"django_migrations", "django_content_type", "auth_permission"}


def owner_conninfo() -> str:
    url = os.environ.get("DATABASE_OWNER_URL")
    if not url:
        pytest.exit("DATABASE_OWNER_URL is not set: run the suite with `make test`", returncode=3)
    return _libpq(settings.DATABASES["owner"])


def app_conninfo() -> str:
    return _libpq(settings.DATABASES["default"])


def _libpq(cfg: dict[str, object]) -> str:
    parts = {
        "dbname": cfg["NAME"],
        "user": cfg["USER"],
        "password": cfg.get("PASSWORD") or "",
        "host": cfg.get("HOST") or "",
        "port": cfg.get("PORT") or "",
    }
    return " ".join(f"{k}='{v}'" for k, v in parts.items() if v != "")


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker: object) -> None:
    """Rebuild the schema from scratch as the owner, then run the tests as the app role."""
    with psycopg.connect(owner_conninfo(), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        call_command("migrate", database="owner", verbosity=0, interactive=False)
    # The hot path's tables take statistics only when a test takes them (ANALYZE): the plan
    # tests (tests/distribution/test_hot_path_sql.py, test_queue_position.py) are about given
    # statistics, and autovacuum analysing a table in the middle of a run, just after a test
    # had emptied it, changed the claim's plan under them (statistics saying "empty").
    # TRUNCATE (``truncate_all``) puts a table back to "never analysed".
    with psycopg.connect(owner_conninfo(), autocommit=True) as conn:
        for table in ("annotate_item", "annotate_lease", "annotate_queueposition"):
            conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")


def truncate_all() -> None:
    """Empty every table with data the tests made (as the owner; the append-only triggers of
    the access log and its proof are suspended for this statement only)."""
    with psycopg.connect(owner_conninfo()) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
            if r[0] not in KEEP_TABLES
        ]
        for table in APPEND_ONLY_TABLES:
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")
        for table in APPEND_ONLY_TABLES:
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


@pytest.fixture
def committed(django_db_setup: None, django_db_blocker: object) -> Iterator[None]:
    """Real commits (for other processes and connections to see), emptied afterwards."""
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        yield
        from django.db import connections

        for conn in connections.all():
            conn.close()
    truncate_all()


@dataclass
class World:
    """Tenant A and tenant B, one member of each role in each, a project in each."""

    a: Tenant
    b: Tenant
    members: dict[tuple[str, str], Membership]
    project_a: Project
    project_b: Project

    def m(self, tenant: str, role: str) -> Membership:
        return self.members[(tenant, role)]


def build_world() -> World:
    a, b = TenantFactory(slug="tenant-a"), TenantFactory(slug="tenant-b")
    members = {}
    for key, tenant in (("a", a), ("b", b)):
        for role in Role.values:
            members[(key, role)] = member(tenant, role, username=f"{key}-{role}")
    project_a = project_in(a, members[("a", "manager")], name="A secret project")
    project_b = project_in(b, members[("b", "manager")], name="B secret project")
    return World(a, b, members, project_a, project_b)


@pytest.fixture
def world(db: None) -> World:
    return build_world()


@pytest.fixture
def token_client() -> Callable[[Membership], APIClient]:
    def make(membership: Membership) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(membership).raw}")
        return client

    return make


@pytest.fixture
def session_client() -> Callable[[Membership], APIClient]:
    def make(membership: Membership) -> APIClient:
        client = APIClient()
        client.force_login(membership.user)
        return client

    return make
