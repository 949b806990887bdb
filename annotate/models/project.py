"""Projects, and their per-object permissions on guardian's direct foreign-key tables."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from guardian.managers import GroupObjectPermissionManager, UserObjectPermissionManager
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from tenants.ids import uuid7
from tenants.scoping import TenantOwnedModel, TenantScopedManager

# The five project permissions (codename suffixes). Any of them implies seeing the project.
PROJECT_PERMISSIONS = ("view", "annotate", "review", "manage", "export")


class Project(TenantOwnedModel):
    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=10_000)
    instructions = models.TextField(blank=True, max_length=100_000)
    label_schema = models.JSONField()
    overlap = models.PositiveSmallIntegerField(default=1)

    # Distribution policy (docs/distribution.md).
    class Ordering(models.TextChoices):
        PRIORITY = "priority", "Priority, then import order"
        RANDOM = "random", "Random, reproducible from the seed"

    lease_seconds = models.PositiveIntegerField(default=900)
    ordering = models.CharField(max_length=16, choices=Ordering.choices, default=Ordering.PRIORITY)
    random_seed = models.BigIntegerField(default=0)
    max_items_per_annotator = models.PositiveIntegerField(null=True, blank=True)
    # True: a skipped item goes back to the pool (for others); False: the skip uses up its slot.
    skipped_items_return = models.BooleanField(default=True)
    # Share of submitted annotations routed to review (0: none, 1: all).
    review_ratio = models.FloatField(default=0.0)
    # Share of gold items mixed into each annotator's work.
    gold_ratio = models.FloatField(default=0.0)
    # Set once, by the worker that saw the last open item complete (project.completed webhook).
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Import positions handed out so far (items' queue_key in "priority" ordering).
    item_positions = models.BigIntegerField(default=0, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_permissions = ()
        permissions: ClassVar = [
            ("view_project", "View the project and its items"),
            ("annotate_project", "Receive and label items of the project"),
            ("review_project", "Review annotations of the project"),
            ("manage_project", "Change the project, its permissions and imports"),
            ("export_project", "Export the project's items and labels"),
        ]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["tenant", "id"], name="project_tenant_id_key"),
            models.CheckConstraint(
                condition=models.Q(overlap__gte=1, overlap__lte=100), name="project_overlap_range"
            ),
            models.CheckConstraint(
                condition=models.Q(lease_seconds__gte=30, lease_seconds__lte=86_400),
                name="project_lease_seconds_range",
            ),
            models.CheckConstraint(
                condition=models.Q(review_ratio__gte=0, review_ratio__lte=1),
                name="project_review_ratio_range",
            ),
            models.CheckConstraint(
                condition=models.Q(gold_ratio__gte=0, gold_ratio__lte=1),
                name="project_gold_ratio_range",
            ),
        ]
        indexes: ClassVar = [models.Index(fields=["tenant", "-id"], name="project_tenant_idx")]

    def __str__(self) -> str:
        return self.name


class _ScopedUserPermManager(TenantScopedManager, UserObjectPermissionManager):
    """guardian's manager (assign_perm, remove_perm) on top of the fail-closed tenant filter."""


class _ScopedGroupPermManager(TenantScopedManager, GroupObjectPermissionManager):
    pass


class ProjectUserObjectPermission(TenantOwnedModel, UserObjectPermissionBase):
    """guardian's direct foreign-key table for per-project user grants, with a tenant column.

    The composite key (tenant_id, content_object_id) -> project(tenant_id, id) is added in the
    migration, so a grant can never point at another tenant's project.
    """

    content_object = models.ForeignKey(Project, on_delete=models.CASCADE)

    objects = _ScopedUserPermManager()
    dangerously_unscoped = models.Manager()

    class Meta(TenantOwnedModel.Meta):
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["tenant", "user", "permission", "content_object"],
                name="project_user_perm_unique",
            )
        ]
        indexes: ClassVar = [
            models.Index(fields=["tenant", "content_object", "user"], name="project_uperm_idx"),
            models.Index(fields=["tenant", "user"], name="project_uperm_user_idx"),
        ]


class ProjectGroupObjectPermission(TenantOwnedModel, GroupObjectPermissionBase):
    """Group grants are not used by the platform (roles play that part), but guardian's checker
    looks for a group table; this direct, tenant-scoped one keeps it off the generic table."""

    content_object = models.ForeignKey(Project, on_delete=models.CASCADE)

    objects = _ScopedGroupPermManager()
    dangerously_unscoped = models.Manager()

    class Meta(TenantOwnedModel.Meta):
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["tenant", "group", "permission", "content_object"],
                name="project_group_perm_unique",
            )
        ]
