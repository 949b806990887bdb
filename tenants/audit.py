"""Record access events in the caller's transaction.

``audit_record`` is called by every view, task and command that touches tenant data, inside
the same transaction as the access: if the access commits, so does its event, and if it rolls
back, neither exists. Denials are recorded by ``audit_denied`` in a transaction of their own,
because the denied request's transaction is rolled back.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, replace
from typing import Any

from django.db import transaction
from django.utils import timezone

from tenants.models import AccessEvent
from tenants.scoping import (
    CrossTenantWrite,
    current_tenant_id,
    defer_to_context_end,
    tenant_context,
)

MAX_IDS_IN_DETAIL = 200


@dataclass(frozen=True)
class Actor:
    """Who is acting, how, and from where. Built once per request, task or command."""

    user_id: int | None = None
    username: str = ""
    membership_id: uuid.UUID | None = None
    membership_tenant_id: uuid.UUID | None = None
    role: str = ""
    auth_method: str = ""
    credential_id: str = ""
    request_id: str = ""
    client_ip: str | None = None
    # The break-glass grant the membership was opened by, if any: flags every event under it.
    grant_id: uuid.UUID | None = None

    @classmethod
    def for_task(cls, task_name: str, task_id: str) -> Actor:
        return cls(username=f"task:{task_name}", auth_method="task", credential_id=task_id[:64])

    @classmethod
    def for_command(cls, command: str) -> Actor:
        return cls(username=f"command:{command}", auth_method="command")

    def with_membership(self, membership: Any | None) -> Actor:
        if membership is None:
            return replace(
                self, membership_id=None, membership_tenant_id=None, role="", grant_id=None
            )
        return replace(
            self,
            membership_id=membership.id,
            membership_tenant_id=membership.tenant_id,
            role=membership.role,
            grant_id=getattr(membership, "grant_id", None),
        )


def session_digest(session_key: str | None) -> str:
    """Identify a session in the log without storing its key (which would let a log reader
    hijack it)."""
    if not session_key:
        return ""
    return "s:" + hashlib.sha256(session_key.encode()).hexdigest()[:24]


def audit_record(
    *,
    tenant_id: uuid.UUID,
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: str | uuid.UUID | None = None,
    outcome: str = AccessEvent.Outcome.ALLOWED,
    reason: str = "",
    status_code: int | None = None,
    detail: dict[str, Any] | None = None,
    last: bool = False,
) -> int | None:
    """Write one access event in the current transaction, in the current tenant context, and
    return its id (None when the write is sent ahead in a request's tenant context). ``last``:
    in a request, nothing more is read or written after it (``defer_to_context_end``).

    Guarantees: the event has the same fate as the surrounding transaction; its tenant is the
    tenant of the context (a mismatch raises); the actor's own tenant is recorded only when it
    is this tenant, so an event never names another tenant.
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record must run inside the transaction of the access")
    active = current_tenant_id()
    if active is not None and active != tenant_id:
        raise CrossTenantWrite(f"access event of tenant {tenant_id} in the context of {active}")
    acting_in = actor.membership_tenant_id if actor.membership_tenant_id == tenant_id else None
    # This runs on every request: one INSERT with its parameters built directly (no model
    # instance, no ORM save path). Its cost is what the audit bench measures.
    params = {
        "tenant_id": tenant_id,
        "occurred_at": timezone.now(),
        "actor_user_id": actor.user_id,
        "actor_username": actor.username[:150],
        "actor_membership_id": actor.membership_id if acting_in else None,
        "actor_tenant_id": acting_in,
        "actor_role": actor.role if acting_in else "",
        "auth_method": actor.auth_method,
        "credential_id": actor.credential_id[:64],
        "action": action,
        "resource_type": resource_type,
        "resource_id": "" if resource_id is None else str(resource_id)[:64],
        "outcome": outcome,
        "reason": reason[:200],
        "status_code": status_code,
        "request_id": actor.request_id[:64],
        "client_ip": actor.client_ip or None,
        "grant_id": actor.grant_id if acting_in else None,
        "detail": json.dumps(detail or {}, separators=(",", ":")),
    }
    # In a request, the INSERT is sent ahead, in the same transaction: the server writes it
    # while the request renders its answer, and the answer is read later, before the commit
    # (see ``defer_to_context_end`` for when it is written at once instead).
    if defer_to_context_end(_INSERT_EVENT_DEFERRED, params, last=last):
        return None
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_EVENT, params)
        return int(cursor.fetchone()[0])


_EVENT_COLUMNS = (
    "tenant_id",
    "occurred_at",
    "actor_user_id",
    "actor_username",
    "actor_membership_id",
    "actor_tenant_id",
    "actor_role",
    "auth_method",
    "credential_id",
    "action",
    "resource_type",
    "resource_id",
    "outcome",
    "reason",
    "status_code",
    "request_id",
    "client_ip",
    "grant_id",
    "detail",
)
_INSERT_EVENT_DEFERRED = (
    f"INSERT INTO tenants_accessevent ({', '.join(_EVENT_COLUMNS)}) "
    f"VALUES ({', '.join(f'%({c})s' for c in _EVENT_COLUMNS[:-1])}, %(detail)s::jsonb)"
)
_INSERT_EVENT = f"{_INSERT_EVENT_DEFERRED} RETURNING id"


def audit_denied(
    *,
    tenant_id: uuid.UUID,
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: str | None,
    reason: str,
    status_code: int,
    outcome: str = AccessEvent.Outcome.DENIED,
) -> int | None:
    """Record a refused or failed attempt, in its own transaction (see module docstring)."""
    with tenant_context(tenant_id):
        return audit_record(
            tenant_id=tenant_id,
            actor=actor,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            outcome=outcome,
            reason=reason,
            status_code=status_code,
        )


def ids_detail(ids: list[Any]) -> dict[str, Any]:
    """The ids a list read returned, for the event's detail (bounded: pages are bounded too)."""
    return {"count": len(ids), "ids": [str(i) for i in ids[:MAX_IDS_IN_DETAIL]]}
