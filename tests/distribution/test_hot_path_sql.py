"""The annotator's loop in few statements: pinned counts, prepared statements that survive a
new connection and a rolled-back transaction, and a revocation seen by the very next call."""

from __future__ import annotations

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
    # next lease add the lease lock, the write, the exclusion/lock/leases script and the claim.
    # (In a test the request runs in the test's transaction: savepoints, no BEGIN/COMMIT.)
    assert len(submit_next.captured_queries) <= 10, [q["sql"][:80] for q in submit_next]
    assert len(nxt.captured_queries) <= 9, [q["sql"][:80] for q in nxt]
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
    for _ in range(3):
        done = client.post(
            f"{base(w)}/leases/{lease['id']}/submit?next=1",
            {"result": {"label": "a"}},
            format="json",
        )
        assert done.status_code == 201, done.content
        lease = done.json()["next"]
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
