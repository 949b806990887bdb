"""Reads of tenant administration data: (tenant, id) lookups that answer 404 alike for
missing and foreign rows."""

from __future__ import annotations

import uuid

from django.http import Http404

from tenants.models import Membership


def membership_get(*, tenant_id: uuid.UUID, membership_id: uuid.UUID) -> Membership:
    membership = (
        Membership.objects.filter(tenant_id=tenant_id, id=membership_id)
        .select_related("user")
        .first()
    )
    if membership is None:
        raise Http404
    return membership
