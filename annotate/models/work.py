"""Handing out work: leases, annotations, reviews, and the tenant's competitor list.

Invariants (docs/distribution.md), held by the database under any concurrency:

* an item never has more live leases plus counted results than its project's overlap:
  ``Item.slots_taken`` counts them and is only changed in the same transaction as the lease or
  annotation that takes or frees a slot, on an item row locked ``FOR UPDATE``;
* an annotator never gets the same item twice: one ``Lease`` row per (item, annotator), unique,
  kept forever whatever its state;
* one annotation per lease (unique), so a retried submit cannot create a second one.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from annotate.models.dataset import Item
from annotate.models.project import Project
from tenants.ids import uuid7
from tenants.scoping import TenantOwnedModel, tenant_key


class Competitor(TenantOwnedModel):
    """A tenant this tenant competes with. Visible only to the tenant that named it (RLS): the
    named tenant never learns it was named. Members of a named competitor are never leased
    this tenant's items, whatever permissions they hold here."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    competitor = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta(TenantOwnedModel.Meta):
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "competitor"], name="competitor_unique"),
            models.CheckConstraint(
                condition=~models.Q(tenant=models.F("competitor")), name="competitor_not_self"
            ),
        ]


class Lease(TenantOwnedModel):
    """An item held by one annotator until ``expires_at``.

    ``queued``: reserved ahead of need by the refill worker (holds a slot, not yet shown);
    ``active``: handed out by ``next``; then ``submitted``, ``skipped``, ``released`` or
    ``expired``. Rows are never deleted: the (item, annotator) key is what makes "never the
    same item twice" hold.
    """

    class State(models.TextChoices):
        QUEUED = "queued"
        ACTIVE = "active"
        SUBMITTED = "submitted"
        SKIPPED = "skipped"
        RELEASED = "released"
        EXPIRED = "expired"

    LIVE = (State.QUEUED, State.ACTIVE)

    # Every annotation writes a lease: no constraint or index that another one already gives.
    # The composite key (tenant_id, project_id) -> project implies the tenant exists (the
    # project's own tenant key), and the indexes led by (tenant, project) and (tenant, item)
    # below serve every lookup (each query runs under RLS with the tenant in its predicate).
    tenant = tenant_key(constraint=False, index=False)
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    item = models.ForeignKey(
        Item, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    membership = models.ForeignKey(
        "tenants.Membership", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    state = models.CharField(max_length=16, choices=State.choices)
    # Whether the skip consumed the slot (the project does not return skipped items).
    slot_kept = models.BooleanField(default=False)
    # A lease on a gold item: outside the overlap, takes and frees no slot.
    gold = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    leased_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "id"], name="lease_tenant_id_key"),
            models.UniqueConstraint(
                fields=["tenant", "item", "annotator"], name="lease_once_per_annotator"
            ),
        ]
        indexes: ClassVar = [
            models.Index(
                fields=["tenant", "project", "annotator", "state", "created_at"],
                name="lease_annotator_idx",
            ),
            models.Index(
                fields=["tenant", "expires_at"],
                condition=models.Q(state__in=["queued", "active"]),
                name="lease_live_expiry_idx",
            ),
            # An annotator's live leases in a project: read on every next and submit. The
            # expiry index above would serve them too, and the planner took it while the table
            # was small, but it holds the whole tenant's leases in order of expiry, every one
            # closed within the lease length included until vacuum removes it, so each read
            # grew with the tenant's throughput (docs/distribution.md, "Performance").
            models.Index(
                fields=["tenant", "project", "annotator", "created_at"],
                condition=models.Q(state__in=["queued", "active"]),
                name="lease_live_annotator_idx",
            ),
            # (tenant, item) lookups use lease_once_per_annotator (tenant, item, annotator).
        ]

    def __str__(self) -> str:
        return f"lease {self.id} ({self.state})"


class QueuePosition(TenantOwnedModel):
    """How far one annotator has walked a project's queue, for projects with overlap > 1.

    There an item stays in the queue after the annotator had it, until others fill its
    slots, and a claim starting from the head would probe every such item for "had it
    already": one look-up per item the annotator is ahead of the others (about 4 ms of
    database time per annotation at 500 items ahead, growing with it). The claim starts after
    this position instead, and moves it. It counts only while ``epoch`` is the project's
    ``QueueEpoch``, which every path that may put an item back before it bumps; and a claim
    that finds nothing after it looks from the head, so an item passed over while another
    transaction held it is not lost (docs/distribution.md, "The queue position")."""

    # As for leases: the composite (tenant, project) key implies the tenant, and the unique
    # key led by the tenant serves every lookup.
    tenant = tenant_key(constraint=False, index=False)
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    epoch = models.BigIntegerField()
    # The last item claimed from this position on: its priority and queue_key.
    priority = models.IntegerField()
    queue_key = models.BigIntegerField()

    class Meta(TenantOwnedModel.Meta):
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["tenant", "project", "annotator"], name="queueposition_annotator_key"
            ),
        ]

    def __str__(self) -> str:
        return f"queue position ({self.priority}, {self.queue_key}) @ {self.epoch}"


class QueueEpoch(TenantOwnedModel):
    """A project's queue epoch: bumped (``queue_rewound``) by every path that may put an item
    in the queue before where annotators have got to: a slot given back (release, returned
    skip, expiry, rejected review), an import, a re-key, an overlap change. Queue positions
    recorded under an older epoch no longer count.

    A row of its own, not a project column: a bump locks the row until commit, after the
    items it frees, and a project change (which locks the project row, then its items) must
    not wait for it while it waits for them. No row: epoch 0."""

    tenant = tenant_key(constraint=False, index=False)
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    epoch = models.BigIntegerField(default=0)

    class Meta(TenantOwnedModel.Meta):
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "project"], name="queueepoch_project_key"),
        ]

    def __str__(self) -> str:
        return f"queue epoch {self.epoch}"


class Annotation(TenantOwnedModel):
    """A result for an item: from a lease (version 1), or a reviewer's correction (a new
    version whose ``parent`` is the one corrected; history is kept)."""

    class Status(models.TextChoices):
        PENDING_REVIEW = "pending_review"
        ACCEPTED = "accepted"
        REJECTED = "rejected"
        SUPERSEDED = "superseded"

    COUNTED = (Status.PENDING_REVIEW, Status.ACCEPTED)

    # As for leases: the tenant is implied by the composite project key, and the indexes led
    # by (tenant, item) and (tenant, project) below serve the lookups by item and by project.
    tenant = tenant_key(constraint=False, index=False)
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    item = models.ForeignKey(
        Item,
        on_delete=models.CASCADE,
        related_name="annotations",
        db_constraint=False,
        db_index=False,
    )
    lease = models.OneToOneField(
        Lease,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="annotation",
        db_constraint=False,
    )
    parent = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="corrections",
        db_constraint=False,
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    version = models.PositiveIntegerField(default=1)
    result = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices)
    # Client's Idempotency-Key of the submit: a retry with it replays this annotation.
    idempotency_key = models.CharField(max_length=200, blank=True)
    # Score against the item's gold answer (0..1), for gold items.
    gold_score = models.FloatField(null=True, blank=True)
    # A reviewer holding this annotation for review, until when.
    review_claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    review_claim_expires = models.DateTimeField(null=True, blank=True)
    # Milliseconds from the lease being handed out to the submit.
    lead_time_ms = models.IntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta(TenantOwnedModel.Meta):
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "id"], name="annotation_tenant_id_key"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "item", "version"], name="annotation_item_idx"),
            models.Index(fields=["tenant", "project", "-id"], name="annotation_project_idx"),
            models.Index(
                fields=["tenant", "project", "id"],
                condition=models.Q(status="pending_review"),
                name="annotation_review_queue_idx",
            ),
            models.Index(
                fields=["tenant", "project", "author", "created_at"],
                name="annotation_author_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"annotation {self.id} v{self.version} ({self.status})"


class Review(TenantOwnedModel):
    """A reviewer's decision on an annotation."""

    class Decision(models.TextChoices):
        ACCEPT = "accept"
        REJECT = "reject"
        CORRECT = "correct"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    annotation = models.ForeignKey(
        Annotation, on_delete=models.CASCADE, related_name="reviews", db_constraint=False
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decision = models.CharField(max_length=16, choices=Decision.choices)
    comment = models.TextField(blank=True, max_length=10_000)
    # For a correction: the new annotation version.
    correction = models.ForeignKey(
        Annotation,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta(TenantOwnedModel.Meta):
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "id"], name="review_tenant_id_key"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "annotation"], name="review_annotation_idx"),
        ]


class ItemAgreement(TenantOwnedModel):
    """Agreement among an item's final results, computed by a worker when the item completes.

    ``fields``: per label field, ``{"pairs": n, "agree": n, "coincidences": {"a\u001fb": w}}``
    (Krippendorff's coincidences of the item's units; summing them over items gives the
    project's alpha). Matching rules for spans and boxes: docs/distribution.md.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    results = models.PositiveSmallIntegerField()
    fields = models.JSONField()
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta(TenantOwnedModel.Meta):
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "item"], name="agreement_one_per_item"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "project"], name="agreement_project_idx"),
        ]
