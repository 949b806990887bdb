"""Who owns what (Tenant), who may act where (Membership, ApiToken), who did what (AccessEvent)."""

from __future__ import annotations

import hashlib
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenants.ids import uuid7
from tenants.scoping import TenantOwnedModel


class Tenant(models.Model):
    """A client company. The root of isolation: not itself tenant-owned."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return self.slug


class Role(models.TextChoices):
    OWNER = "owner"
    MANAGER = "manager"
    ANNOTATOR = "annotator"
    REVIEWER = "reviewer"
    AUDITOR = "auditor"


class Membership(TenantOwnedModel):
    """A person's membership of one tenant, with one role.

    Memberships are never deleted: ending one sets ``is_active`` off and ``ended_at``, so the
    access log can always be checked against the memberships valid at the time of each event.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_one_per_user"),
            models.UniqueConstraint(fields=["tenant", "id"], name="membership_tenant_id_key"),
        ]
        indexes: ClassVar = [models.Index(fields=["user", "tenant"], name="membership_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.tenant_id}:{self.role}"

    @property
    def can_manage_tenant(self) -> bool:
        return self.is_active and self.role in (Role.OWNER, Role.MANAGER)


TOKEN_PREFIX = "ant_"  # noqa: S105 - a public prefix, not a secret


def token_hash(raw: str) -> str:
    """SHA-256 of the whole token. Tokens carry 256 bits of randomness, so a fast hash is
    enough (no password-style stretching needed) and lookup stays a single index probe."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(TenantOwnedModel):
    """An API token, bound to exactly one membership. Only its hash is stored."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    membership = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    display_prefix = models.CharField(max_length=12, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    class Meta:
        indexes: ClassVar = [models.Index(fields=["tenant", "membership"], name="token_member_idx")]

    def __str__(self) -> str:
        return f"{self.display_prefix}… ({self.name})"

    def refusal_reason(self, now: object | None = None) -> str | None:
        """Why this token may not be used now, or None if it may."""
        now = now or timezone.now()
        if self.revoked_at is not None:
            return "token revoked"
        if self.expires_at is not None and self.expires_at <= now:  # type: ignore[operator]
            return "token expired"
        if not self.membership.is_active:
            return "membership inactive"
        return None


class AccessEvent(TenantOwnedModel):
    """One access to tenant data, allowed or denied. Append-only at the database level.

    Written in the same transaction as the access it records (denials in their own, since the
    denied request's transaction is rolled back). Sealing into a hash chain and signed
    checkpoints builds on this table (docs/audit.md).
    """

    class Outcome(models.TextChoices):
        ALLOWED = "allowed"
        DENIED = "denied"
        FAILED = "failed"

    id = models.BigAutoField(primary_key=True)
    occurred_at = models.DateTimeField(default=timezone.now, editable=False)
    actor_user_id = models.BigIntegerField(null=True)
    actor_username = models.CharField(max_length=150, blank=True)
    actor_membership_id = models.UUIDField(null=True)
    # The tenant the actor was acting in: the tenant of their membership. Recorded only when it
    # is this event's tenant (a cross-tenant attempt records null, never the other tenant).
    actor_tenant_id = models.UUIDField(null=True)
    actor_role = models.CharField(max_length=16, blank=True)
    auth_method = models.CharField(max_length=16, blank=True)  # token, session, task, command
    credential_id = models.CharField(max_length=64, blank=True)  # token id or session digest
    action = models.CharField(max_length=64)
    resource_type = models.CharField(max_length=64)
    resource_id = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    reason = models.CharField(max_length=200, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True)
    request_id = models.CharField(max_length=64, blank=True)
    client_ip = models.GenericIPAddressField(null=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["tenant", "id"], name="event_tenant_idx"),
            models.Index(fields=["tenant", "occurred_at"], name="event_tenant_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.resource_type}:{self.resource_id} {self.outcome}"


class TenantKey(TenantOwnedModel):
    """A tenant's data key (DEK) for blob storage, stored only wrapped by a master key.

    At most one live key per tenant (``destroyed_at`` null). Not append-only on purpose: master
    key rotation re-wraps ``wrapped_key`` in place, and crypto-shredding
    (``tenants.services.keys.tenant_destroy_keys``) overwrites it with empty bytes. A database
    check keeps a destroyed key from holding key material.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    wrapped_key = models.BinaryField()
    master_key_id = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["tenant"],
                condition=models.Q(destroyed_at__isnull=True),
                name="tenantkey_one_live_per_tenant",
            ),
            models.CheckConstraint(
                condition=models.Q(destroyed_at__isnull=True) | models.Q(wrapped_key=b""),
                name="tenantkey_destroyed_is_empty",
            ),
        ]

    def __str__(self) -> str:
        state = "destroyed" if self.destroyed_at else f"wrapped by {self.master_key_id}"
        return f"key {self.id} of {self.tenant_id} ({state})"
