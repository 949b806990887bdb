"""Reads of webhooks: (tenant, id) lookups that answer the same for missing, foreign and not
yours to manage."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.http import Http404

from annotate.models import ProjectUserObjectPermission
from annotate.permissions import ROLE_DEFAULTS, codename
from annotate.webhooks.models import Webhook, WebhookDelivery
from tenants.models import Membership


def webhooks_manageable_by(*, membership: Membership) -> QuerySet[Webhook]:
    """Webhooks the member may see and change: all of them for a role that manages every
    project (owner, manager); otherwise those of projects where the member holds ``manage``
    (tenant-wide webhooks are for owners and managers only)."""
    webhooks = Webhook.objects.select_related("created_by")
    if "manage" in ROLE_DEFAULTS[membership.role]:
        return webhooks
    managed = ProjectUserObjectPermission.objects.filter(
        user_id=membership.user_id, permission__codename=codename("manage")
    ).values("content_object_id")
    return webhooks.filter(project_id__in=managed)


def webhook_get_for_member(*, membership: Membership, webhook_id: uuid.UUID) -> Webhook:
    """The webhook, if the member may manage it; Http404 otherwise (missing, another tenant's,
    or not the member's to manage: one answer for all)."""
    webhook = webhooks_manageable_by(membership=membership).filter(id=webhook_id).first()
    if webhook is None:
        raise Http404
    assert webhook.tenant_id == membership.tenant_id
    return webhook


def deliveries_of(*, webhook: Webhook) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(webhook=webhook)
