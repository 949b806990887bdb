"""Break-glass operator access: time-boxed, approved by a tenant owner, expiring by itself.

* ``grant_request``: an operator (a staff user) asks for access to one tenant, for a reason and
  a number of minutes (at most ``OPERATOR_GRANT_MAX_MINUTES``); nothing opens yet.
* ``grant_approve``: an owner of that tenant approves: a membership flagged with the grant is
  created (or re-opened), expiring at approval + minutes. Requests refuse it from that instant
  on (``Membership.is_live``), whether or not the expiry job has run.
* ``grant_deny`` / ``grant_revoke``: an owner refuses a request or closes an open grant early.
* ``grants_expire_all``: the beat job that records expired grants as ended (membership history
  and grant state), one tenant context at a time.

Every event the operator causes carries the grant id (``Actor.grant_id``), so the log, the
report and the verifier all show what was done under it.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tenants.audit import Actor, audit_record
from tenants.models import Membership, OperatorGrant, Role, Tenant
from tenants.scoping import tenant_context


def grant_request(
    *, tenant: Tenant, operator_username: str, minutes: int, reason: str, role: str, actor: Actor
) -> OperatorGrant:
    User = get_user_model()
    operator = User.objects.filter(username=operator_username, is_staff=True).first()
    if operator is None:
        raise ValidationError({"operator": [f"no staff user {operator_username!r}"]})
    if not 1 <= minutes <= settings.OPERATOR_GRANT_MAX_MINUTES:
        limit = settings.OPERATOR_GRANT_MAX_MINUTES
        raise ValidationError({"minutes": [f"between 1 and {limit} (OPERATOR_GRANT_MAX_MINUTES)"]})
    if role not in (Role.AUDITOR, Role.MANAGER, Role.REVIEWER):
        raise ValidationError({"role": ["auditor, reviewer or manager (never owner)"]})
    if not reason.strip():
        raise ValidationError({"reason": ["say why access is needed"]})
    with tenant_context(tenant.id):
        grant = OperatorGrant.objects.create(
            tenant=tenant, operator=operator, minutes=minutes, reason=reason[:500], role=role
        )
        audit_record(
            tenant_id=tenant.id,
            actor=actor,
            action="operator_grant.request",
            resource_type="operator_grant",
            resource_id=grant.id,
            detail={"operator": operator.username, "minutes": minutes, "role": role},
        )
    return grant


class GrantStateError(ValidationError):
    pass


@transaction.atomic
def grant_approve(*, grant: OperatorGrant, approver: Membership) -> OperatorGrant:
    """Open the grant: a membership flagged with it, expiring ``minutes`` from now."""
    assert approver.tenant_id == grant.tenant_id and approver.role == Role.OWNER
    if grant.state != OperatorGrant.State.REQUESTED:
        raise GrantStateError({"state": [f"the grant is {grant.state}, not requested"]})
    now = timezone.now()
    expires = now + timedelta(minutes=grant.minutes)
    membership = Membership.objects.filter(user_id=grant.operator_id).first()
    if membership is not None and membership.grant_id is None:
        raise GrantStateError({"operator": ["the operator is a regular member of this tenant"]})
    if membership is None:
        membership = Membership.objects.create(
            tenant_id=grant.tenant_id,
            user_id=grant.operator_id,
            role=grant.role,
            expires_at=expires,
            grant_id=grant.id,
        )
    else:
        membership.role, membership.is_active, membership.ended_at = grant.role, True, None
        membership.expires_at, membership.grant_id = expires, grant.id
        membership.save(update_fields=["role", "is_active", "ended_at", "expires_at", "grant_id"])
    grant.state, grant.decided_by_id, grant.decided_at = (
        OperatorGrant.State.APPROVED,
        approver.user_id,
        now,
    )
    grant.expires_at, grant.membership_id = expires, membership.id
    grant.save(update_fields=["state", "decided_by", "decided_at", "expires_at", "membership_id"])
    return grant


@transaction.atomic
def grant_deny(*, grant: OperatorGrant, approver: Membership) -> OperatorGrant:
    if grant.state != OperatorGrant.State.REQUESTED:
        raise GrantStateError({"state": [f"the grant is {grant.state}, not requested"]})
    grant.state, grant.decided_by_id, grant.decided_at = (
        OperatorGrant.State.DENIED,
        approver.user_id,
        timezone.now(),
    )
    grant.save(update_fields=["state", "decided_by", "decided_at"])
    return grant


def _close(grant: OperatorGrant, state: str, at: object) -> None:
    membership = Membership.objects.filter(id=grant.membership_id).first()
    if membership is not None and membership.is_active and membership.grant_id == grant.id:
        membership.is_active, membership.ended_at = False, at
        membership.save(update_fields=["is_active", "ended_at"])
    grant.state = state
    grant.save(update_fields=["state"])


@transaction.atomic
def grant_revoke(*, grant: OperatorGrant, approver: Membership) -> OperatorGrant:
    if grant.state != OperatorGrant.State.APPROVED:
        raise GrantStateError({"state": [f"the grant is {grant.state}, not open"]})
    _close(grant, OperatorGrant.State.REVOKED, timezone.now())
    return grant


def grants_expire_all(*, actor_task: str) -> int:
    """Record every open grant past its expiry as expired (one tenant context each)."""
    actor = Actor.for_task(actor_task, uuid.uuid4().hex)
    closed = 0
    for tenant_id in Tenant.objects.values_list("id", flat=True):
        with tenant_context(tenant_id):
            now = timezone.now()
            for grant in OperatorGrant.objects.filter(
                state=OperatorGrant.State.APPROVED, expires_at__lte=now
            ):
                _close(grant, OperatorGrant.State.EXPIRED, grant.expires_at)
                audit_record(
                    tenant_id=tenant_id,
                    actor=actor,
                    action="operator_grant.expire",
                    resource_type="operator_grant",
                    resource_id=grant.id,
                )
                closed += 1
    return closed
