"""Ed25519 keys that sign audit checkpoints. The private keys never touch the database.

Configured as ``keyid:base64(32-byte private seed)`` entries, comma- or newline-separated
(``AUDIT_SIGNING_KEYS``, or a file named by ``AUDIT_SIGNING_KEY_FILE``). The first entry signs;
the others are kept only so their public halves stay published. Every key that ever signed is
also recorded (public half only) in ``SigningKey``, so checkpoints signed before a rotation stay
verifiable after the old private key is gone.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

KEY_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class SigningKeyConfigError(ValueError):
    """A signing key setting is malformed; the message names the setting and the entry."""


@dataclass(frozen=True)
class SigningKeyPair:
    key_id: str
    private: Ed25519PrivateKey

    @property
    def public_b64(self) -> str:
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private.sign(message)).decode()


def parse_signing_keys(value: str, *, setting: str) -> list[SigningKeyPair]:
    keys: list[SigningKeyPair] = []
    for position, entry in enumerate(e.strip() for e in re.split(r"[,\n]", value)):
        if not entry:
            continue
        key_id, sep, material = entry.partition(":")
        if not sep or not KEY_ID_RE.match(key_id):
            raise SigningKeyConfigError(
                f"{setting}: entry {position + 1} must be keyid:base64(32 bytes), the key id "
                "made of letters, digits, '.', '_' or '-' (at most 64)"
            )
        try:
            seed = base64.b64decode(material, validate=True)
        except (binascii.Error, ValueError):
            raise SigningKeyConfigError(f"{setting}: key {key_id!r} is not valid base64") from None
        if len(seed) != 32:
            raise SigningKeyConfigError(
                f"{setting}: key {key_id!r} is {len(seed)} bytes; an Ed25519 seed is 32"
            )
        if any(k.key_id == key_id for k in keys):
            raise SigningKeyConfigError(f"{setting}: key id {key_id!r} appears twice")
        keys.append(SigningKeyPair(key_id, Ed25519PrivateKey.from_private_bytes(seed)))
    if not keys:
        raise SigningKeyConfigError(f"{setting}: no key given")
    return keys


def new_signing_key_entry(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def local_signing_key_file(path: Path, key_id: str) -> None:
    """Create the development signing key file once (0600, atomically: the first process to
    link it wins, so a web server and a worker starting together agree on one key)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(new_signing_key_entry(key_id) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@cache
def _configured(value: str) -> tuple[SigningKeyPair, ...]:
    return tuple(parse_signing_keys(value, setting="AUDIT_SIGNING_KEYS"))


def signing_keys() -> tuple[SigningKeyPair, ...]:
    """The configured keys, first = the one that signs now."""
    from django.conf import settings

    return _configured(settings.AUDIT_SIGNING_KEYS)


def current_signing_key() -> SigningKeyPair:
    return signing_keys()[0]
