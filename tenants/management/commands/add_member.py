from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from tenants.audit import Actor, audit_record
from tenants.models import Role, Tenant
from tenants.scoping import tenant_context
from tenants.services.memberships import membership_add, token_create, user_get_or_create


class Command(BaseCommand):
    help = (
        "Add a user to a tenant with a role (creating the user if needed) and print a new API "
        "token for that membership, once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password-env",
            help="name of an environment variable holding the password for a new user "
            "(never on the command line, where other users could read it)",
        )
        parser.add_argument("--token-name", default="operator-issued")
        parser.add_argument("--token-days", type=int, default=None, help="token expiry in days")
        parser.add_argument("--no-token", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        import os

        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant with slug {options['tenant']!r}")
        password = None
        if options["password_env"]:
            password = os.environ.get(options["password_env"])
            if not password:
                raise CommandError(f"environment variable {options['password_env']} is empty")
        actor = Actor.for_command("add_member")
        try:
            with transaction.atomic():
                user, created = user_get_or_create(
                    username=options["username"], email=options["email"], password=password
                )
                membership = membership_add(tenant=tenant, user=user, role=options["role"])
                with tenant_context(tenant.id):
                    audit_record(
                        tenant_id=tenant.id,
                        actor=actor,
                        action="membership.add",
                        resource_type="membership",
                        resource_id=membership.id,
                        detail={"role": membership.role, "user": user.get_username()},
                    )
                    issued = None
                    if not options["no_token"]:
                        days = options["token_days"]
                        issued = token_create(
                            membership=membership,
                            name=options["token_name"],
                            created_by=None,
                            expires_at=timezone.now() + timedelta(days=days) if days else None,
                        )
                        audit_record(
                            tenant_id=tenant.id,
                            actor=actor,
                            action="token.create",
                            resource_type="api_token",
                            resource_id=issued.token.id,
                        )
        except ValidationError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{'created user' if created else 'user'} {user.get_username()}; "
            f"membership {membership.id} ({membership.role}) in {tenant.slug}"
        )
        if issued is not None:
            self.stdout.write(f"token {issued.token.id} (shown once): {issued.raw}")
