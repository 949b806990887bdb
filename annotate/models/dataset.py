"""Datasets, import jobs and items."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from annotate.models.project import Project
from tenants.ids import uuid7
from tenants.scoping import TenantOwnedModel, tenant_key


class Dataset(TenantOwnedModel):
    """A named batch of items in a project; each import creates one."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "id"], name="dataset_tenant_id_key"),
            # Target of the items' single composite key (see Item).
            models.UniqueConstraint(
                fields=["tenant", "id", "project"], name="dataset_tenant_id_project_key"
            ),
        ]
        indexes: ClassVar = [models.Index(fields=["tenant", "project"], name="dataset_project_idx")]

    def __str__(self) -> str:
        return self.name


class ImportJob(TenantOwnedModel):
    """One upload being ingested by a worker. Lands whole (state succeeded, items visible) or
    not at all (state failed, no items)."""

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    class Format(models.TextChoices):
        JSONL = "jsonl"
        JSON = "json"
        CSV = "csv"
        ZIP = "zip"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="imports")
    dataset = models.ForeignKey(Dataset, on_delete=models.RESTRICT, related_name="+")
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    format = models.CharField(max_length=8, choices=Format.choices)
    filename = models.CharField(max_length=255)
    blob_key = models.CharField(max_length=512)
    bytes_total = models.BigIntegerField()
    content_sha256 = models.CharField(max_length=64)
    # NULL, not "": uniqueness applies only to imports that sent a key.
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    items_processed = models.BigIntegerField(default=0)
    items_total = models.BigIntegerField(null=True, blank=True)
    bytes_processed = models.BigIntegerField(default=0)
    error_count = models.IntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "id"], name="import_tenant_id_key"),
            models.UniqueConstraint(
                fields=["tenant", "project", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="import_idempotency_key",
            ),
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "project", "-id"], name="import_project_idx")
        ]

    def __str__(self) -> str:
        return f"import {self.id} ({self.state})"


class Item(TenantOwnedModel):
    """One unit of work: the client's data (JSON), its external id and media references.

    TRICKY: items are written a million at a time, and every foreign-key constraint costs a
    per-row check at commit. One composite key, ``(tenant_id, dataset_id, project_id) ->
    dataset(tenant_id, id, project_id)`` (migration 0004), implies all of: the dataset exists,
    belongs to the same tenant, and to the same project (whose tenant key in turn implies the
    tenant exists). So the per-column constraints Django would add are switched off
    (``db_constraint=False``) instead of checking the same facts four times per row.
    Likewise their single-column indexes (``db_index=False``): every query runs under RLS with
    the tenant in its predicate, so the composite indexes below, each led by the tenant, serve
    it; three more indexes to maintain per row cost about a fifth of the ingest rate.
    """

    tenant = tenant_key(constraint=False, index=False)

    class Status(models.TextChoices):
        NEW = "new"
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"
        # Has a known answer: handed to annotators at the project's gold ratio, outside the
        # overlap (every annotator may get each gold item once), to score them.
        GOLD = "gold"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    project = models.ForeignKey(
        Project,
        on_delete=models.CASCADE,
        related_name="items",
        db_constraint=False,
        db_index=False,
    )
    dataset = models.ForeignKey(
        Dataset,
        on_delete=models.CASCADE,
        related_name="items",
        db_constraint=False,
        db_index=False,
    )
    external_id = models.CharField(max_length=255, blank=True)
    data = models.JSONField()
    media = models.JSONField(default=list, blank=True)
    priority = models.IntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    # Position in the import (line order), for "import order" distribution.
    seq = models.BigIntegerField()
    # Live leases plus counted annotations (pending review or accepted); never above the
    # project's overlap (see annotate.models.work).
    slots_taken = models.PositiveSmallIntegerField(default=0)
    # Accepted annotations; the item is completed when this reaches the overlap.
    done_count = models.PositiveSmallIntegerField(default=0)
    # Position in the distribution queue after priority: the project-wide import position
    # (ordering "priority"), or a hash of (project seed, item id) (ordering "random").
    queue_key = models.BigIntegerField(default=0)
    # Gold items carry a known answer; annotators are scored on them.
    gold_result = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "id"], name="item_tenant_id_key"),
            models.UniqueConstraint(
                fields=["tenant", "project", "external_id"],
                condition=~models.Q(external_id=""),
                name="item_external_id_unique",
            ),
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "project", "-id"], name="item_project_idx"),
            # The distribution queue: open items in priority, then import order.
            models.Index(
                "tenant",
                "project",
                models.F("priority").desc(),
                "queue_key",
                condition=models.Q(status__in=["new", "in_progress"]),
                name="item_queue_idx",
            ),
            models.Index(
                "tenant",
                "project",
                "queue_key",
                condition=models.Q(status="gold"),
                name="item_gold_idx",
            ),
            models.Index(fields=["tenant", "dataset", "-id"], name="item_dataset_idx"),
        ]

    def __str__(self) -> str:
        return self.external_id or str(self.id)
