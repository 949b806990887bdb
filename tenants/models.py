"""Who owns what (Tenant), who may act where (Membership, ApiToken), who did what (AccessEvent)."""

from __future__ import annotations

import hashlib
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenants.ids import uuid7
from tenants.scoping import TenantOwnedModel, tenant_key


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
    # Break-glass memberships (an operator's time-boxed, owner-approved access) expire by
    # themselves at ``expires_at`` and name their grant; ordinary memberships have neither.
    expires_at = models.DateTimeField(null=True, blank=True)
    grant_id = models.UUIDField(null=True, blank=True, editable=False)

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

    def is_live(self, now: object | None = None) -> bool:
        """Active, and not past its expiry (break-glass memberships expire by themselves)."""
        now = now or timezone.now()
        return self.is_active and (self.expires_at is None or self.expires_at > now)  # type: ignore[operator]


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
        if not self.membership.is_live(now):
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

    # TRICKY: every request writes one event, so the row costs what it must and no more:
    # - no single-column tenant index beside the composite ones below, which are led by the
    #   tenant and serve every (RLS-scoped) query;
    # - no foreign-key constraint: its check locks the tenant's row (FOR KEY SHARE) in every
    #   request, a WAL record each time and a multixact once two requests of the tenant
    #   overlap. The tenant is certain without it: RLS's WITH CHECK accepts only the tenant of
    #   the context, which the request resolved from an active tenant row, and tenant rows are
    #   never deleted (PROTECT; deleting a tenant shreds its key, not its row).
    tenant = tenant_key(constraint=False, index=False)
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
    # Set when the actor acted through a break-glass membership: the operator grant it opened.
    grant_id = models.UUIDField(null=True, blank=True)

    class Meta:
        constraints: ClassVar = [
            # Unique (not just indexed, at the same cost) so that seals can reference
            # (tenant_id, event_id): a composite key cannot point at another tenant's event.
            models.UniqueConstraint(fields=["tenant", "id"], name="event_tenant_id_key"),
        ]
        indexes: ClassVar = [
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


# -- the proof: seals, checkpoints, membership history, operator grants, exports ---------------
# See tenants/proof.py and docs/audit.md. Every table below except AuditExport and
# OperatorGrant is insert-only for the application role (privileges and a trigger).


class AccessSeal(TenantOwnedModel):
    """An event's place in its tenant's log: gapless ``seq``, content hash and chain hash.

    Written only by the sealer (``tenants.proof.audit_seal_tenant``), never in the request path,
    so requests of one tenant never wait on each other for a sequence number.
    """

    # The (tenant, seq) and (tenant, event) indexes serve lookups by tenant.
    tenant = tenant_key(index=False)
    id = models.BigAutoField(primary_key=True)
    seq = models.BigIntegerField()
    event = models.OneToOneField(AccessEvent, on_delete=models.PROTECT, related_name="seal")
    content_hash = models.BinaryField()  # SHA-256 of the canonical event (with seq)
    chain_hash = models.BinaryField()  # SHA-256(previous chain hash || content hash)
    sealed_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "seq"], name="seal_tenant_seq_key"),
        ]
        # The sealer's anti-join ("events of the tenant above a cursor with no seal") reads
        # seals by tenant and event id in order: a merge join on this index.
        indexes: ClassVar = [models.Index(fields=["tenant", "event"], name="seal_tenant_event_idx")]


class AuditCheckpoint(TenantOwnedModel):
    """A signed statement of a tenant's log: its size, Merkle root (RFC 6962) and chain head at
    a time, and of its membership history (size and head). ``payload`` is exactly what was
    signed (canonical JSON); ``frontier`` lets the next checkpoint extend the tree without
    re-reading every leaf."""

    id = models.BigAutoField(primary_key=True)
    size = models.BigIntegerField()
    root_hash = models.CharField(max_length=64)
    chain_head = models.CharField(max_length=64)
    members_size = models.BigIntegerField(default=0)
    members_head = models.CharField(max_length=64)
    signed_at = models.DateTimeField()
    key_id = models.CharField(max_length=64)
    payload = models.TextField()
    signature = models.CharField(max_length=128)  # base64 Ed25519
    frontier = models.JSONField(default=list)
    # The largest event id visible when this checkpoint was made: later runs look for late
    # commits only above the value of a checkpoint older than AUDIT_SEAL_LOOKBACK_SECONDS.
    max_event_id = models.BigIntegerField(default=0)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "size"], name="checkpoint_tenant_size_key"),
        ]


class PlatformCheckpoint(models.Model):
    """A signed Merkle root over every tenant's latest checkpoint (hashes only: no tenant's
    size or volume is readable from it). Not tenant-owned; each tenant's bundle carries it with
    an inclusion proof for that tenant's checkpoint."""

    id = models.BigAutoField(primary_key=True)
    tenant_count = models.IntegerField()
    root_hash = models.CharField(max_length=64)
    leaves = models.JSONField(default=list)  # [[tenant_id, checkpoint hash], ...] sorted
    signed_at = models.DateTimeField()
    key_id = models.CharField(max_length=64)
    payload = models.TextField()
    signature = models.CharField(max_length=128)

    def __str__(self) -> str:
        return f"platform checkpoint {self.id} over {self.tenant_count} tenant(s)"


class SigningKey(models.Model):
    """Public half of every key that ever signed a checkpoint, kept so that old checkpoints
    stay verifiable after rotation. The private half never touches the database."""

    key_id = models.CharField(max_length=64, primary_key=True)
    public_key = models.CharField(max_length=64)  # base64 of the raw 32-byte Ed25519 key
    first_used_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.key_id


class MembershipLog(TenantOwnedModel):
    """Every state a membership has been in, written by a database trigger on each insert or
    update of ``tenants_membership`` (so no code path can change a membership unrecorded).
    ``seq`` is gapless per tenant (membership changes are rare; the trigger serialises them per
    tenant). The verifier checks each allowed event against the state valid at its time."""

    id = models.BigAutoField(primary_key=True)
    seq = models.BigIntegerField()
    membership_id = models.UUIDField()
    user_id = models.BigIntegerField()
    role = models.CharField(max_length=16)
    is_active = models.BooleanField()
    expires_at = models.DateTimeField(null=True)
    grant_id = models.UUIDField(null=True)
    recorded_at = models.DateTimeField()

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "seq"], name="memberlog_tenant_seq_key"),
        ]


class OperatorGrant(TenantOwnedModel):
    """Break-glass: a platform operator's request for time-boxed access to one tenant.

    Opens only when an owner of the tenant approves it (a membership flagged with this grant
    is created, expiring at ``expires_at``), expires by itself, and every event under it
    carries the grant id."""

    class State(models.TextChoices):
        REQUESTED = "requested"
        APPROVED = "approved"
        DENIED = "denied"
        REVOKED = "revoked"
        EXPIRED = "expired"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AUDITOR)
    reason = models.CharField(max_length=500)
    minutes = models.PositiveIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.REQUESTED)
    requested_at = models.DateTimeField(default=timezone.now, editable=False)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True)
    expires_at = models.DateTimeField(null=True)
    membership_id = models.UUIDField(null=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "id"], name="opgrant_tenant_id_key"),
        ]


class AuditExport(TenantOwnedModel):
    """A bundle export of a tenant's access log for a period, built by a worker."""

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    period_from = models.DateTimeField()
    period_to = models.DateTimeField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True)
    events_total = models.BigIntegerField(null=True)
    events_processed = models.BigIntegerField(default=0)
    blob_key = models.CharField(max_length=600, blank=True)
    size = models.BigIntegerField(null=True)
    sha256 = models.CharField(max_length=64, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "id"], name="auditexport_tenant_id_key"),
        ]
