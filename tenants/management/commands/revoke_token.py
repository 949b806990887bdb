from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.audit import Actor, audit_record
from tenants.models import ApiToken, Tenant
from tenants.scoping import tenant_context
from tenants.services.memberships import token_revoke


class Command(BaseCommand):
    help = "Revoke an API token by id, within a named tenant."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument("token_id", type=uuid.UUID)

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant with slug {options['tenant']!r}")
        with tenant_context(tenant.id):
            token = ApiToken.objects.filter(id=options["token_id"]).first()
            if token is None:
                raise CommandError(f"no token {options['token_id']} in tenant {tenant.slug}")
            token_revoke(token=token, revoked_by=None)
            audit_record(
                tenant_id=tenant.id,
                actor=Actor.for_command("revoke_token"),
                action="token.revoke",
                resource_type="api_token",
                resource_id=token.id,
            )
        self.stdout.write(f"revoked token {token.id} ({token.name})")
