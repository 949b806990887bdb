"""Load the demo: two tenants, one user of each role in each, a project each. Idempotent."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from annotate.models import Project
from annotate.services.projects import project_create, project_permission_grant
from tenants.audit import Actor, audit_record
from tenants.models import Membership, Role, Tenant
from tenants.scoping import tenant_context
from tenants.services.memberships import membership_add, tenant_create, user_get_or_create

DEMO_SCHEMA = {
    "version": 1,
    "data": {"text": {"type": "text"}},
    "fields": [
        {
            "name": "sentiment",
            "type": "choices",
            "choices": ["positive", "negative", "neutral"],
            "required": True,
        },
        {"name": "confidence", "type": "rating", "min": 1, "max": 5},
    ],
}
TENANTS = {"acme": "Acme Robotics", "globex": "Globex Research"}


class Command(BaseCommand):
    help = "Load the demo data unless it is already there."

    def handle(self, *args: Any, **options: Any) -> None:
        if Tenant.objects.filter(slug__in=TENANTS).count() == len(TENANTS):
            self.stdout.write("demo already loaded")
            return
        password = os.environ.get("DEMO_PASSWORD", "demo-pass-2026")
        actor = Actor.for_command("load_demo")
        with transaction.atomic():
            freelancer, _ = user_get_or_create(username="freelancer", password=password)
            for slug, name in TENANTS.items():
                tenant = Tenant.objects.filter(slug=slug).first() or tenant_create(
                    slug=slug, name=name
                )
                members = {}
                for role in Role.values:
                    user, _ = user_get_or_create(username=f"{slug}-{role}", password=password)
                    members[role] = membership_add(tenant=tenant, user=user, role=role)
                members["freelancer"] = membership_add(
                    tenant=tenant, user=freelancer, role=Role.ANNOTATOR
                )
                with tenant_context(tenant.id):
                    if not Project.objects.exists():
                        project = project_create(
                            tenant=tenant,
                            membership=members[Role.MANAGER],
                            name=f"{name}: support ticket sentiment",
                            description="Classify the sentiment of customer support messages.",
                            instructions="Pick the customer's sentiment, not the agent's.",
                            label_schema=DEMO_SCHEMA,
                        )
                        for key in (Role.ANNOTATOR, "freelancer"):
                            project_permission_grant(
                                project=project, membership=members[key], permission="annotate"
                            )
                    audit_record(
                        tenant_id=tenant.id,
                        actor=actor,
                        action="demo.load",
                        resource_type="tenant",
                        resource_id=tenant.id,
                        detail={"members": Membership.objects.count()},
                    )
        self.stdout.write("demo loaded: tenants acme and globex")
