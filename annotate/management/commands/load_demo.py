"""Load the demo: two tenants, one user of each role in each, a project each with a dataset of
support messages to label. Idempotent.

The items arrive as a user's would: a JSONL upload stored encrypted in the tenant's storage
and an import queued for the Celery worker (``make run`` starts it right after this command),
so the demo shows the import, its access events and its progress like any other."""

from __future__ import annotations

import json
import os
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from annotate.models import Project
from annotate.services.imports import import_create, upload_store
from annotate.services.projects import project_create, project_permission_grant
from tenants.audit import Actor, audit_record
from tenants.models import Membership, Role, Tenant
from tenants.scoping import tenant_context
from tenants.services.memberships import membership_add, tenant_create, user_get_or_create
from tenants.storage import TenantStorage

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
# Each tenant's own messages: the demo shows two clients' data side by side, never mixed.
MESSAGES = {
    "acme": (
        "The gripper arm arrived two days early and worked out of the box. Great job!",
        "Our welding robot has stopped mid-seam three times this week. We need a technician.",
        "Can you send the torque specification sheet for the AR-7 joint?",
        "Firmware 4.2 fixed the calibration drift, thanks for the quick patch.",
        "I have been on hold for forty minutes and nobody has answered my ticket.",
        "The replacement sensor is the wrong model again. This is the second time.",
        "Is the AR-7 compatible with the older controller cabinets?",
        "Your field engineer was patient and explained everything clearly.",
        "The invoice lists a service visit that never happened.",
        "Please update the delivery address for order 55812 to our Lyon plant.",
        "The new safety light curtain works well, but the manual is confusing.",
        "Production line 3 is down because of your software update. Unacceptable.",
    ),
    "globex": (
        "The spectrometer results match our reference samples perfectly.",
        "Our sample tracking export has been failing every night since Tuesday.",
        "Where can I find the retention policy for raw instrument data?",
        "Thank you for extending the licence while our purchase order is processed.",
        "The dashboard takes more than a minute to load the assay overview.",
        "We were charged twice for the March subscription.",
        "Could the lab notebook integration support ELN exports in CSV?",
        "Support resolved the login issue within ten minutes, much appreciated.",
        "The centrifuge booking calendar shows the wrong time zone.",
        "Please add two more seats for the new postdocs in the genomics group.",
        "The instrument driver works, although the installer needed admin rights.",
        "We lost a week of work when the sync deleted our annotations. Very disappointed.",
    ),
}


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
                        _demo_import(project, members[Role.MANAGER], MESSAGES[slug], actor)
                    audit_record(
                        tenant_id=tenant.id,
                        actor=actor,
                        action="demo.load",
                        resource_type="tenant",
                        resource_id=tenant.id,
                        detail={"members": Membership.objects.count()},
                    )
        self.stdout.write("demo loaded: tenants acme and globex")


def _demo_import(
    project: Project, membership: Membership, texts: tuple[str, ...], actor: Actor
) -> None:
    """Upload ``texts`` as a JSONL file and queue its import (ingested once committed), with
    the access event the import API would write, in the command's name."""
    lines = (
        json.dumps({"external_id": f"ticket-{n:03d}", "text": text}) + "\n"
        for n, text in enumerate(texts, start=1)
    )
    upload = upload_store(
        storage=TenantStorage(project.tenant_id),
        chunks=(line.encode() for line in lines),
        fmt="jsonl",
        dataset_name="Support messages",
        filename="demo-messages.jsonl",
    )
    job, _ = import_create(
        project=project,
        membership=membership,
        upload=upload,
        fmt="jsonl",
        dataset_name="Support messages",
    )
    audit_record(
        tenant_id=project.tenant_id,
        actor=actor,
        action="import.create",
        resource_type="import",
        resource_id=job.id,
        detail={"bytes": job.bytes_total, "format": "jsonl", "replayed": False},
    )
