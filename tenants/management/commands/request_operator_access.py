from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.audit import Actor
from tenants.models import Role, Tenant
from tenants.services.grants import grant_request


class Command(BaseCommand):
    help = (
        "Break-glass: ask for time-boxed operator access to one tenant. Nothing opens until an "
        "owner of the tenant approves it (API: access-grants/<id>/approve)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument("operator", help="username of the staff user who needs access")
        parser.add_argument("--minutes", type=int, required=True)
        parser.add_argument("--reason", required=True)
        parser.add_argument(
            "--role", default=Role.AUDITOR, choices=["auditor", "reviewer", "manager"]
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant {options['tenant']!r}")
        try:
            grant = grant_request(
                tenant=tenant,
                operator_username=options["operator"],
                minutes=options["minutes"],
                reason=options["reason"],
                role=options["role"],
                actor=Actor.for_command("request_operator_access"),
            )
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from None
        self.stdout.write(
            f"requested grant {grant.id}: {grant.minutes} min as {grant.role} in {tenant.slug}; "
            "waiting for an owner's approval"
        )
