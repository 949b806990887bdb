"""A project export: one file (JSONL or CSV) built by a worker, then downloaded."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenants.ids import uuid7
from tenants.scoping import TenantOwnedModel


class ProjectExport(TenantOwnedModel):
    """The items of a project with their annotations, reviews, who and when, as one file in the
    tenant's encrypted storage (``blob_key``). Progress fields are written by the worker through
    the ``progress`` connection, so they are visible while its transaction is open."""

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    class Format(models.TextChoices):
        JSONL = "jsonl"
        CSV = "csv"

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    project = models.ForeignKey(
        "annotate.Project", on_delete=models.CASCADE, related_name="exports"
    )
    format = models.CharField(max_length=8, choices=Format.choices)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    items_total = models.BigIntegerField(null=True, blank=True)
    items_written = models.BigIntegerField(default=0)
    # CSV: one row per annotation (and one per item without any); JSONL: one line per item.
    rows_written = models.BigIntegerField(default=0)
    bytes_written = models.BigIntegerField(default=0)
    blob_key = models.CharField(max_length=600, blank=True)
    content_sha256 = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "id"], name="projectexport_tenant_id_key"),
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "project", "-id"], name="projectexport_project_idx")
        ]

    def __str__(self) -> str:
        return f"export {self.id} ({self.format}, {self.state})"
