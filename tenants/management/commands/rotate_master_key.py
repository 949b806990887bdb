"""Re-wrap every tenant's data key with the current (first) master key.

Procedure: put the new key first in STORAGE_MASTER_KEYS (keep the old one after it), restart,
run this command until it reports nothing left to re-wrap and no failure, then remove the old
key. Blobs are not re-encrypted: only the small wrapped data keys change.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tenants.audit import Actor, audit_record
from tenants.crypto import MasterKeyError
from tenants.models import AccessEvent, Tenant
from tenants.scoping import tenant_context
from tenants.services.keys import key_wrapper, tenant_keys_rewrap

COMMAND = "rotate_master_key"


class Command(BaseCommand):
    help = (
        "Re-wrap every tenant's storage data key with the first key of STORAGE_MASTER_KEYS. "
        "Idempotent; afterwards older master keys can be removed from the setting."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        current = key_wrapper().current_key_id
        actor = Actor.for_command(COMMAND)
        totals = {"rewrapped": 0, "current": 0, "destroyed": 0}
        failed: list[str] = []
        tenants = 0
        # Tenant is a platform table (not tenant-owned): iterate it explicitly, then do each
        # tenant's work in its own context and transaction, so one failure does not undo the
        # others and a rerun continues where this one stopped.
        for tenant_id, slug in Tenant.objects.order_by("created_at", "id").values_list(
            "id", "slug"
        ):
            tenants += 1
            try:
                with tenant_context(tenant_id):
                    counts = tenant_keys_rewrap(tenant_id)
                    audit_record(
                        tenant_id=tenant_id,
                        actor=actor,
                        action="storage.rotate_master_key",
                        resource_type="tenant",
                        resource_id=tenant_id,
                        detail={"master_key_id": current, **counts},
                    )
            except MasterKeyError as exc:
                failed.append(f"{slug}: {exc}")
                with tenant_context(tenant_id):  # the attempt is on record too
                    audit_record(
                        tenant_id=tenant_id,
                        actor=actor,
                        action="storage.rotate_master_key",
                        resource_type="tenant",
                        resource_id=tenant_id,
                        outcome=AccessEvent.Outcome.FAILED,
                        reason=str(exc),
                        detail={"master_key_id": current},
                    )
                continue
            for name, value in counts.items():
                totals[name] += value
        self.stdout.write(
            f"master key {current!r}: {totals['rewrapped']} key(s) re-wrapped, "
            f"{totals['current']} already current, {totals['destroyed']} destroyed (skipped), "
            f"across {tenants} tenant(s)"
        )
        if failed:
            raise CommandError(
                f"{len(failed)} tenant(s) could not be re-wrapped:\n" + "\n".join(failed)
            )
