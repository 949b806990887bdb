"""Writes on tenants, memberships and API tokens (used by the API and the operator commands)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tenants.models import TOKEN_PREFIX, ApiToken, Membership, Role, Tenant, token_hash
from tenants.scoping import tenant_context


@transaction.atomic
def tenant_create(*, slug: str, name: str) -> Tenant:
    if Tenant.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": [f"a tenant with slug {slug!r} already exists"]})
    tenant = Tenant(slug=slug, name=name)
    tenant.full_clean()
    tenant.save()
    return tenant


def user_get_or_create(
    *, username: str, email: str = "", password: str | None = None
) -> tuple[AbstractBaseUser, bool]:
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is not None:
        return user, False
    user = User(username=username, email=email)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    return user, True


@transaction.atomic
def membership_add(*, tenant: Tenant, user: AbstractBaseUser, role: str) -> Membership:
    """Add (or re-activate) a member. A user has at most one membership per tenant."""
    if role not in Role.values:
        raise ValidationError({"role": [f"unknown role {role!r}; one of {', '.join(Role.values)}"]})
    with tenant_context(tenant.id):
        membership = Membership.objects.filter(user=user).first()
        if membership is None:
            return Membership.objects.create(tenant=tenant, user=user, role=role)
        membership.role = role
        membership.is_active = True
        membership.ended_at = None
        membership.save(update_fields=["role", "is_active", "ended_at"])
        return membership


def _is_last_owner(membership: Membership) -> bool:
    """Whether ``membership`` is its tenant's only active owner, as committed now.

    Locks the tenant's active owner memberships until the transaction ends: of two changes at
    once (two owners demoting or removing each other), the second waits for the first and then
    sees its result, so a tenant never ends up without an owner."""
    owners = list(
        Membership.objects.select_for_update()
        .filter(tenant_id=membership.tenant_id, role=Role.OWNER, is_active=True)
        .order_by("id")
        .values_list("id", flat=True)
    )
    return owners == [membership.id]


@transaction.atomic
def membership_update(*, membership: Membership, role: str | None = None) -> Membership:
    if role is not None and role != membership.role:
        if role not in Role.values:
            raise ValidationError({"role": [f"unknown role {role!r}"]})
        if _is_last_owner(membership):
            raise ValidationError({"role": ["the last active owner cannot change role"]})
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_end(*, membership: Membership, ended_by: AbstractBaseUser | None) -> Membership:
    """End a membership: it stays on record (the access log refers to it), its tokens are
    revoked, and the person can no longer act in the tenant."""
    if not membership.is_active:
        return membership
    if _is_last_owner(membership):
        raise ValidationError({"membership": ["the last active owner cannot be removed"]})
    now = timezone.now()
    membership.is_active = False
    membership.ended_at = now
    membership.save(update_fields=["is_active", "ended_at"])
    ApiToken.objects.filter(membership=membership, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=ended_by
    )
    return membership


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    raw: str  # shown once, never stored


@transaction.atomic
def token_create(
    *,
    membership: Membership,
    name: str,
    created_by: AbstractBaseUser | None,
    expires_at: datetime | None = None,
) -> IssuedToken:
    if not membership.is_active:
        raise ValidationError({"membership": ["the membership is not active"]})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": ["must be in the future"]})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        tenant_id=membership.tenant_id,
        membership=membership,
        name=name,
        key_hash=token_hash(raw),
        display_prefix=raw[:10],
        created_by=created_by,
        expires_at=expires_at,
    )
    return IssuedToken(token=token, raw=raw)


@transaction.atomic
def token_revoke(*, token: ApiToken, revoked_by: AbstractBaseUser | None) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.revoked_by = revoked_by
        token.save(update_fields=["revoked_at", "revoked_by"])
    return token
