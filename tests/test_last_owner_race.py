"""A tenant keeps an owner when two owners demote or remove each other at the same moment:
two real connections, the second change started while the first is still open."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction

from tenants.models import Membership, Role
from tenants.scoping import tenant_context
from tenants.services.memberships import membership_end, membership_update
from tests.factories import TenantFactory, member


def _awaited_lock(backend_pid: int) -> str | None:
    """The kind of lock the backend waits for (``pg_locks.locktype``), if any."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT locktype FROM pg_locks WHERE pid = %s AND NOT granted", [backend_pid]
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _in_other_connection(work: Callable[[], None]) -> tuple[threading.Thread, dict]:
    """Run ``work`` on a thread (its own database connection); the outcome lands in the dict."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["pid"] = connection.cursor().connection.info.backend_pid
            outcome["ready"].set()
            work()
            outcome["result"] = "done"
        except ValidationError as exc:
            outcome["result"] = exc.message_dict
        finally:
            connections.close_all()

    outcome["ready"] = threading.Event()
    thread = threading.Thread(target=run)
    thread.start()
    assert outcome["ready"].wait(10)
    return thread, outcome


@pytest.mark.parametrize("second_change", ["demote", "end"])
def test_two_owners_removing_each_other_at_once_leave_one(
    committed: None, second_change: str
) -> None:
    tenant = TenantFactory()
    first, second = member(tenant, Role.OWNER), member(tenant, Role.OWNER)

    def second_removes_first() -> None:
        with tenant_context(tenant.id):
            target = Membership.objects.get(id=first.id)  # still an owner, as it reads it
            if second_change == "demote":
                membership_update(membership=target, role=Role.MANAGER)
            else:
                membership_end(membership=target, ended_by=None)

    with transaction.atomic(), tenant_context(tenant.id):
        membership_update(membership=Membership.objects.get(id=second.id), role=Role.MANAGER)
        thread, outcome = _in_other_connection(second_removes_first)
        # The second change waits for the first's row locks on the owners before it counts
        # them. (Without them it counted two owners, then waited only for the membership
        # log's advisory lock, taken by the database's trigger when the role changes.)
        for _ in range(100):
            if _awaited_lock(outcome["pid"]):
                break
            thread.join(0.05)
        assert _awaited_lock(outcome["pid"]) in ("transactionid", "tuple"), outcome
    thread.join(10)
    assert not thread.is_alive()

    assert outcome["result"] != "done", "both owners went: the tenant has none left"
    assert outcome["result"] == (
        {"role": ["the last active owner cannot change role"]}
        if second_change == "demote"
        else {"membership": ["the last active owner cannot be removed"]}
    )
    with tenant_context(tenant.id):
        owners = list(
            Membership.objects.filter(role=Role.OWNER, is_active=True).values_list("id", flat=True)
        )
    assert owners == [first.id]
