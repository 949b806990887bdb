"""Tenant blob storage (isolation wall 4): where blobs live and the master keys that wrap each
tenant's data key. See docs/isolation.md, "4. Storage"."""

from __future__ import annotations

import contextlib
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from annotate.settings.base import BASE_DIR
from annotate.settings.env import env_choice, env_str
from tenants.crypto import MasterKeyConfigError, new_master_key_entry, parse_master_keys

__all__ = [
    "STORAGE_BACKEND",
    "STORAGE_KEY_WRAPPER",
    "STORAGE_MASTER_KEYS",
    "STORAGE_ROOT",
    "STORAGE_S3_BUCKET",
    "STORAGE_S3_ENDPOINT_URL",
    "STORAGE_S3_REGION",
    "STORAGE_TEMP_DIR",
]

logger = logging.getLogger("annotate.settings")


def _path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else BASE_DIR / path


def local_master_keys(path: Path) -> str:
    """The development master key: generated once into ``path`` (mode 0600) and reused.

    Creation is atomic (write a private temp file, then hard-link it into place, which fails if
    another process got there first), so a web server and a worker starting together agree on
    one key instead of each writing its own.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = new_master_key_entry("local-" + datetime.now(UTC).strftime("%Y%m%d"))
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(entry + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            # If another process won the race, use its key.
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    if path.stat().st_mode & 0o077:
        logger.warning("%s is readable by other users; chmod 600 it", path)
    return path.read_text().strip()


STORAGE_BACKEND = env_choice(
    "STORAGE_BACKEND",
    "local",
    ("local", "s3"),
    "Where tenant blobs live: local files under STORAGE_ROOT, or S3/MinIO (STORAGE_S3_*).",
)
STORAGE_ROOT = _path(
    env_str(
        "STORAGE_ROOT",
        "var/storage",
        "Directory of tenant blobs with STORAGE_BACKEND=local (relative to the project).",
    )
    or "var/storage"
)
STORAGE_TEMP_DIR = _path(
    env_str(
        "STORAGE_TEMP_DIR",
        "var/storage-tmp",
        "Directory for per-tenant temporary files (ciphertext only) while a blob is written; "
        "on the same filesystem as STORAGE_ROOT, publishing a local blob is a rename.",
    )
    or "var/storage-tmp"
)
STORAGE_S3_BUCKET = env_str(
    "STORAGE_S3_BUCKET", None, "S3 bucket of tenant blobs; required with STORAGE_BACKEND=s3."
)
STORAGE_S3_ENDPOINT_URL = env_str(
    "STORAGE_S3_ENDPOINT_URL",
    None,
    "S3 endpoint URL, for MinIO or another S3-compatible store (unset: AWS).",
)
STORAGE_S3_REGION = env_str("STORAGE_S3_REGION", None, "S3 region name (unset: boto3 default).")
if STORAGE_BACKEND == "s3" and not STORAGE_S3_BUCKET:
    raise ImproperlyConfigured("STORAGE_S3_BUCKET is required when STORAGE_BACKEND=s3")

STORAGE_KEY_WRAPPER = env_str(
    "STORAGE_KEY_WRAPPER",
    "tenants.services.keys.local_key_wrapper",
    "Dotted path of a callable returning the KeyWrapper that wraps tenant data keys (the "
    "default uses STORAGE_MASTER_KEYS; plug a KMS adapter in here).",
)
_master_keys = env_str(
    "STORAGE_MASTER_KEYS",
    None,
    "Master keys wrapping tenant data keys: comma-separated keyid:base64(32 bytes); the first "
    "wraps, all unwrap. Unset: a key generated once into var/master_key (development only).",
)
if _master_keys is None:
    _master_keys = local_master_keys(BASE_DIR / "var" / "master_key")
    logger.warning(
        "STORAGE_MASTER_KEYS is not set: using the generated development key in var/master_key. "
        "Production must set STORAGE_MASTER_KEYS (and keep it out of the blob store's backups)."
    )
try:
    parse_master_keys(_master_keys)
except MasterKeyConfigError as exc:
    raise ImproperlyConfigured(str(exc)) from None
STORAGE_MASTER_KEYS = _master_keys
