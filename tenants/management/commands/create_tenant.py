from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from tenants.audit import Actor, audit_record
from tenants.scoping import tenant_context
from tenants.services.memberships import tenant_create


class Command(BaseCommand):
    help = "Create a tenant (a client company)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="URL name, e.g. acme (letters, digits, - and _)")
        parser.add_argument("--name", required=True, help="Display name")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with transaction.atomic():
                tenant = tenant_create(slug=options["slug"], name=options["name"])
                # The tenant's log starts with its creation, by whom (the command).
                with tenant_context(tenant.id):
                    audit_record(
                        tenant_id=tenant.id,
                        actor=Actor.for_command("create_tenant"),
                        action="tenant.create",
                        resource_type="tenant",
                        resource_id=tenant.id,
                        detail={"slug": tenant.slug},
                    )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from None
        self.stdout.write(f"created tenant {tenant.slug} ({tenant.id})")
