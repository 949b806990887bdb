"""Tenant data keys: create on first use, resolve for reading, re-wrap, destroy (crypto-shredding).

Every function runs inside ``tenant_context(tenant_id)`` (the manager of ``TenantKey`` and RLS
both require it), so a tenant's key is only ever looked up in its own context.

Unwrapped data keys are cached per process, in memory only, keyed by (tenant id, key id) and
scoped to the configured key wrapper (changing ``STORAGE_MASTER_KEYS`` or
``STORAGE_KEY_WRAPPER`` starts an empty cache). The cache saves unwrap calls (a KMS round
trip), not the database: every use re-reads the key row, so a key destroyed by another process
is refused at once, and a key row rolled back with its transaction is never used.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from tenants.audit import Actor, audit_record
from tenants.crypto import BlobIntegrityError, KeyWrapper, MasterKeyring, new_dek
from tenants.models import Tenant, TenantKey
from tenants.scoping import TenantContextMissing, current_tenant_id, tenant_context

DEK_CACHE_SIZE = 1024


class TenantKeyDestroyed(Exception):
    """The tenant's data key was destroyed (crypto-shredding): its blobs are unreadable."""


@dataclass(frozen=True)
class DataKey:
    id: uuid.UUID
    dek: bytes

    def __repr__(self) -> str:  # never print key material
        return f"DataKey(id={self.id})"


def local_key_wrapper() -> KeyWrapper:
    """The default ``STORAGE_KEY_WRAPPER``: master keys from ``STORAGE_MASTER_KEYS``."""
    return MasterKeyring.parse(settings.STORAGE_MASTER_KEYS)


class _DekCache:
    """A bounded, thread-safe LRU of unwrapped data keys."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[tuple[uuid.UUID, uuid.UUID], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[uuid.UUID, uuid.UUID]) -> bytes | None:
        with self._lock:
            dek = self._items.get(key)
            if dek is not None:
                self._items.move_to_end(key)
            return dek

    def put(self, key: tuple[uuid.UUID, uuid.UUID], dek: bytes) -> None:
        with self._lock:
            self._items[key] = dek
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def evict_tenant(self, tenant_id: uuid.UUID) -> None:
        with self._lock:
            for key in [k for k in self._items if k[0] == tenant_id]:
                del self._items[key]


@lru_cache(maxsize=4)
def _wrapper_and_cache(factory: str, master_keys: str) -> tuple[KeyWrapper, _DekCache]:
    # ``master_keys`` is part of the cache key only, so a settings change builds a new wrapper.
    wrapper = import_string(factory)()
    if not isinstance(wrapper, KeyWrapper):
        raise TypeError(f"STORAGE_KEY_WRAPPER {factory!r} did not return a KeyWrapper")
    return wrapper, _DekCache(DEK_CACHE_SIZE)


def key_wrapper() -> KeyWrapper:
    return _state()[0]


def _state() -> tuple[KeyWrapper, _DekCache]:
    return _wrapper_and_cache(settings.STORAGE_KEY_WRAPPER, settings.STORAGE_MASTER_KEYS)


def _require_context(tenant_id: uuid.UUID) -> None:
    active = current_tenant_id()
    if active != tenant_id:
        raise TenantContextMissing(
            f"tenant keys of {tenant_id} are used only inside tenant_context({tenant_id}) "
            f"(active: {active})"
        )


def _unwrap(tenant_id: uuid.UUID, row: TenantKey) -> bytes:
    wrapper, cache = _state()
    dek = cache.get((tenant_id, row.id))
    if dek is None:
        dek = wrapper.unwrap(row.master_key_id, bytes(row.wrapped_key))
        cache.put((tenant_id, row.id), dek)
    return dek


def _destroyed(tenant_id: uuid.UUID) -> TenantKeyDestroyed:
    return TenantKeyDestroyed(
        f"the data key of tenant {tenant_id} was destroyed: its stored blobs are unreadable"
    )


def tenant_key_get_or_create(tenant_id: uuid.UUID) -> DataKey:
    """The tenant's live data key, created on first use.

    Guarantees: one live key per tenant (a database constraint; concurrent first uses converge
    on one row); a tenant whose keys were destroyed never silently gets a new one
    (``TenantKeyDestroyed``). The new key row shares the fate of the current transaction.
    """
    _require_context(tenant_id)
    row = TenantKey.objects.filter(destroyed_at__isnull=True).first()
    if row is None:
        if TenantKey.objects.exists():
            raise _destroyed(tenant_id)
        dek = new_dek()
        master_key_id, wrapped = key_wrapper().wrap(dek)
        try:
            with transaction.atomic():  # a savepoint: losing the race must not spoil the caller
                row = TenantKey.objects.create(
                    tenant_id=tenant_id, wrapped_key=wrapped, master_key_id=master_key_id
                )
        except IntegrityError:
            row = TenantKey.objects.get(destroyed_at__isnull=True)
        else:
            _state()[1].put((tenant_id, row.id), dek)
            return DataKey(row.id, dek)
    return DataKey(row.id, _unwrap(tenant_id, row))


def tenant_dek(tenant_id: uuid.UUID, key_id: uuid.UUID) -> bytes:
    """The data key ``key_id`` of the current tenant, for reading a blob.

    Raises ``TenantKeyDestroyed`` if it was destroyed, ``BlobIntegrityError`` if this tenant has
    no such key (a blob of another tenant, or a forged header), ``MasterKeyError`` if its
    master key is no longer configured.
    """
    _require_context(tenant_id)
    row = TenantKey.objects.filter(id=key_id).first()
    if row is None:
        raise BlobIntegrityError(
            f"the blob names data key {key_id}, which tenant {tenant_id} does not hold "
            "(not this tenant's blob, or a forged header)"
        )
    if row.destroyed_at is not None:
        _state()[1].evict_tenant(tenant_id)
        raise _destroyed(tenant_id)
    return _unwrap(tenant_id, row)


def tenant_keys_rewrap(tenant_id: uuid.UUID) -> dict[str, int]:
    """Re-wrap the tenant's live keys with the current master key. Idempotent.

    Each update is conditional on the row still being live and still under the master key it
    was read under, so a concurrent destroy can never be undone by a late re-wrap.
    """
    _require_context(tenant_id)
    wrapper = key_wrapper()
    current = wrapper.current_key_id
    counts = {"rewrapped": 0, "current": 0, "destroyed": 0}
    for row in TenantKey.objects.order_by("created_at"):
        if row.destroyed_at is not None:
            counts["destroyed"] += 1
        elif row.master_key_id == current:
            counts["current"] += 1
        else:
            dek = wrapper.unwrap(row.master_key_id, bytes(row.wrapped_key))
            master_key_id, wrapped = wrapper.wrap(dek)
            updated = TenantKey.objects.filter(
                id=row.id, destroyed_at__isnull=True, master_key_id=row.master_key_id
            ).update(wrapped_key=wrapped, master_key_id=master_key_id)
            counts["rewrapped" if updated else "destroyed"] += 1
    return counts


def tenant_destroy_keys(tenant_id: uuid.UUID, *, actor: Actor | None = None) -> int:
    """Crypto-shred a tenant: destroy its data keys and suspend it. Returns how many keys were
    destroyed now (0 when already done: idempotent).

    Guarantees: the wrapped keys are overwritten with empty bytes in the same transaction that
    marks them destroyed (a check constraint forbids a destroyed key holding material), this
    process's cache forgets them, and other processes refuse them on next use (each use
    re-reads the row). Blobs, wherever copied, can no longer be decrypted from the blob store
    and the current database. Old *database* backups still hold the wrapped keys: rotate the
    master key afterwards and retire the old one to shred those too (docs/isolation.md).
    """
    actor = actor or Actor.for_command("tenant_destroy_keys")
    with tenant_context(tenant_id):
        destroyed = TenantKey.objects.filter(destroyed_at__isnull=True).update(
            destroyed_at=timezone.now(), wrapped_key=b""
        )
        if not TenantKey.objects.exists():
            # A tombstone, so a tenant shredded before it ever stored a blob does not get a
            # fresh key on a later first use.
            TenantKey.objects.create(
                tenant_id=tenant_id, wrapped_key=b"", master_key_id="", destroyed_at=timezone.now()
            )
        Tenant.objects.filter(id=tenant_id).update(status=Tenant.Status.SUSPENDED)
        audit_record(
            tenant_id=tenant_id,
            actor=actor,
            action="storage.destroy_keys",
            resource_type="tenant",
            resource_id=tenant_id,
            detail={"keys_destroyed": destroyed},
        )
    _state()[1].evict_tenant(tenant_id)
    return destroyed
