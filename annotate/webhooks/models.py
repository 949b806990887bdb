"""A webhook (an endpoint of the tenant, subscribed to events) and its delivery log."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from tenants.ids import uuid7
from tenants.scoping import TenantOwnedModel

# Events a webhook can subscribe to. ``webhook.ping`` is sent only on request (the ping API).
EVENTS = ("item.completed", "project.completed", "import.finished", "export.ready")
PING_EVENT = "webhook.ping"


class Webhook(TenantOwnedModel):
    """An endpoint of the tenant. ``project`` empty: the webhook hears the whole tenant.

    The signing secret is stored sealed under the tenant's data key (``secret_sealed``, with
    the id of that key); it is shown once, when created or rotated. Destroying the tenant's
    keys (crypto-shredding) makes it unusable too.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    project = models.ForeignKey(
        "annotate.Project",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="webhooks",
    )
    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    events = ArrayField(models.CharField(max_length=32), size=len(EVENTS))
    active = models.BooleanField(default=True)
    secret_key_id = models.UUIDField()
    secret_sealed = models.BinaryField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "id"], name="webhook_tenant_id_key"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "-id"], name="webhook_tenant_idx"),
            # webhook_emit runs on every item completion: one probe of this small index.
            models.Index(
                fields=["tenant", "project"],
                name="webhook_active_idx",
                condition=models.Q(active=True),
            ),
        ]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(TenantOwnedModel):
    """One event for one webhook, and what became of it. ``payload`` is the JSON body sent
    (the same bytes on every attempt: keys are sorted when it is serialised)."""

    class State(models.TextChoices):
        PENDING = "pending"  # waiting for its (next) attempt at next_attempt_at
        SENDING = "sending"  # an attempt is under way until sending_until
        DELIVERED = "delivered"  # the receiver answered 2xx
        FAILED = "failed"  # attempts exhausted, refused target, or a final 4xx
        CANCELLED = "cancelled"  # the webhook was deactivated before the delivery went out

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32)
    payload = models.JSONField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sending_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "id"], name="webhook_delivery_tenant_id_key"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "webhook", "-id"], name="webhook_delivery_log_idx"),
            # The sweeper's view: deliveries still owed an attempt.
            models.Index(
                fields=["tenant", "next_attempt_at"],
                name="webhook_delivery_due_idx",
                condition=models.Q(state__in=["pending", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} -> {self.webhook_id} ({self.state})"
