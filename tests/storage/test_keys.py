"""Tenant data keys: one per tenant, RLS, crypto-shredding, master key rotation."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from tenants.crypto import MasterKeyError
from tenants.models import AccessEvent, Tenant, TenantKey
from tenants.scoping import tenant_context
from tenants.services.keys import tenant_destroy_keys, tenant_key_get_or_create
from tenants.storage import TenantKeyDestroyed, TenantStorage
from tests.conftest import World
from tests.storage.conftest import master_key, read_all

pytestmark = pytest.mark.django_db
SECRET = b"TOP-SECRET-PLAINTEXT " * 5000


def test_one_key_per_tenant_created_on_first_use_and_hidden_from_other_tenants(
    world: World, blob_root: Path
) -> None:
    with tenant_context(world.a.id):
        assert not TenantKey.objects.exists()
        first = tenant_key_get_or_create(world.a.id)
        assert tenant_key_get_or_create(world.a.id) == first
        row = TenantKey.objects.get()
        assert row.id == first.id and first.dek not in bytes(row.wrapped_key)
        assert repr(first) == f"DataKey(id={first.id})"  # no key material in logs
    with tenant_context(world.b.id):
        assert tenant_key_get_or_create(world.b.id).id != first.id
        with connection.cursor() as cursor:  # RLS, not only the manager
            cursor.execute("SELECT count(*) FROM tenants_tenantkey")
            assert cursor.fetchone()[0] == 1


def test_destroying_the_key_shreds_every_blob_and_suspends_the_tenant(
    world: World, blob_root: Path
) -> None:
    with tenant_context(world.a.id):
        storage = TenantStorage(world.a.id)
        key = storage.save("dataset.jsonl", SECRET, "application/x-ndjson").key
    with tenant_context(world.b.id):
        b_key = TenantStorage(world.b.id).save("keep.txt", b"B stays readable", "text/plain").key
    backup = (blob_root / key).read_bytes()  # a backup of the blob store, taken before
    assert b"TOP-SECRET" not in backup

    assert tenant_destroy_keys(world.a.id) == 1
    assert tenant_destroy_keys(world.a.id) == 0  # idempotent

    world.a.refresh_from_db()
    assert world.a.status == Tenant.Status.SUSPENDED
    with tenant_context(world.a.id):
        row = TenantKey.objects.get()
        assert row.destroyed_at is not None and bytes(row.wrapped_key) == b""
        with pytest.raises(TenantKeyDestroyed):
            read_all(storage, key)
        (blob_root / key).write_bytes(backup)  # restoring the backup does not help
        with pytest.raises(TenantKeyDestroyed):
            read_all(storage, key)
        with pytest.raises(TenantKeyDestroyed):  # and no new key is made behind our back
            storage.save("new.txt", b"x", "text/plain")
        events = list(
            AccessEvent.objects.filter(action="storage.destroy_keys").values_list(
                "detail", flat=True
            )
        )
    assert events == [{"keys_destroyed": 1}, {"keys_destroyed": 0}]
    assert b"TOP-SECRET" not in (blob_root / key).read_bytes()
    with tenant_context(world.b.id):
        assert read_all(TenantStorage(world.b.id), b_key) == b"B stays readable"


def test_a_tenant_shredded_before_any_blob_never_gets_a_key(world: World, blob_root: Path) -> None:
    assert tenant_destroy_keys(world.b.id) == 0
    with tenant_context(world.b.id):
        with pytest.raises(TenantKeyDestroyed):
            TenantStorage(world.b.id).save("late.txt", b"x", "text/plain")
        assert TenantKey.objects.filter(destroyed_at__isnull=True).count() == 0


def test_master_key_rotation_rewraps_and_the_old_key_can_go(world: World, blob_root: Path) -> None:
    old, new = master_key("old"), master_key("new")
    with override_settings(STORAGE_MASTER_KEYS=old):
        keys = {}
        for tenant in (world.a, world.b):
            with tenant_context(tenant.id):
                keys[tenant.id] = TenantStorage(tenant.id).save("d.txt", SECRET, "text/plain").key

    with override_settings(STORAGE_MASTER_KEYS=f"{new},{old}"):
        out = io.StringIO()
        call_command("rotate_master_key", stdout=out)
        assert "master key 'new': 2 key(s) re-wrapped, 0 already current" in out.getvalue()
        out = io.StringIO()
        call_command("rotate_master_key", stdout=out)  # idempotent
        assert "0 key(s) re-wrapped, 2 already current" in out.getvalue()

    with override_settings(STORAGE_MASTER_KEYS=new):  # the old key is gone
        for tenant in (world.a, world.b):
            with tenant_context(tenant.id):
                assert TenantKey.objects.get().master_key_id == "new"
                assert read_all(TenantStorage(tenant.id), keys[tenant.id]) == SECRET
                events = AccessEvent.objects.filter(action="storage.rotate_master_key")
                assert [e.detail["rewrapped"] for e in events.order_by("id")] == [1, 0]
                assert {e.actor_username for e in events} == {"command:rotate_master_key"}


def test_without_rotation_a_removed_master_key_fails_clearly(world: World, blob_root: Path) -> None:
    old, new = master_key("old"), master_key("new")
    with override_settings(STORAGE_MASTER_KEYS=old), tenant_context(world.a.id):
        key = TenantStorage(world.a.id).save("d.txt", SECRET, "text/plain").key
    with override_settings(STORAGE_MASTER_KEYS=new):
        with tenant_context(world.a.id), pytest.raises(MasterKeyError) as info:
            read_all(TenantStorage(world.a.id), key)
        assert "master key 'old', which is not in STORAGE_MASTER_KEYS" in str(info.value)
        with pytest.raises(CommandError, match="1 tenant\\(s\\) could not be re-wrapped"):
            call_command("rotate_master_key", stdout=io.StringIO())
        with tenant_context(world.a.id):
            failed = AccessEvent.objects.get(action="storage.rotate_master_key")
        assert failed.outcome == AccessEvent.Outcome.FAILED and "'old'" in failed.reason
