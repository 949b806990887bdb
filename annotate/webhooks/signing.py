"""Webhook secrets (generated, sealed under the tenant's data key) and HMAC-SHA256 signatures."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tenants.services.keys import tenant_dek, tenant_key_get_or_create

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
_AAD = b"annotate/webhook-secret/v1/"
_NONCE_BYTES = 12


class SecretUnavailable(Exception):
    """The sealed secret cannot be opened (tenant keys destroyed, or the row was altered)."""


def secret_generate() -> str:
    """A new signing secret: 256 random bits, URL-safe, with a recognisable prefix."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def _aad(tenant_id: uuid.UUID, webhook_id: uuid.UUID) -> bytes:
    # Bound to its tenant and webhook: a sealed secret copied to another row does not open.
    return _AAD + tenant_id.bytes + webhook_id.bytes


def secret_seal(
    *, tenant_id: uuid.UUID, webhook_id: uuid.UUID, secret: str
) -> tuple[uuid.UUID, bytes]:
    """(data key id, nonce ‖ AES-256-GCM ciphertext) of ``secret``. Needs the tenant context."""
    key = tenant_key_get_or_create(tenant_id)
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(key.dek).encrypt(nonce, secret.encode(), _aad(tenant_id, webhook_id))
    return key.id, nonce + sealed


def secret_open(
    *, tenant_id: uuid.UUID, webhook_id: uuid.UUID, key_id: uuid.UUID, sealed: bytes
) -> str:
    """The secret sealed by ``secret_seal``. Needs the tenant context."""
    try:
        dek = tenant_dek(tenant_id, key_id)
        plain = AESGCM(dek).decrypt(
            sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], _aad(tenant_id, webhook_id)
        )
    except InvalidTag:
        raise SecretUnavailable("the webhook's sealed secret does not authenticate") from None
    except Exception as exc:  # destroyed key, missing master key: say which, keep the type
        raise SecretUnavailable(f"the webhook's secret cannot be opened: {exc}") from exc
    return plain.decode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 keyed with the secret (UTF-8) over ``"<timestamp>." + body``.
    The timestamp is signed so a captured delivery cannot be replayed later as a fresh one."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()
