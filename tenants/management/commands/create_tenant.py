from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tenants.services.memberships import tenant_create


class Command(BaseCommand):
    help = "Create a tenant (a client company)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="URL name, e.g. acme (letters, digits, - and _)")
        parser.add_argument("--name", required=True, help="Display name")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            tenant = tenant_create(slug=options["slug"], name=options["name"])
        except ValidationError as exc:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
            ) from None
        self.stdout.write(f"created tenant {tenant.slug} ({tenant.id})")
