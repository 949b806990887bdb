"""The access log's proof: checkpoint signing keys, sealing cadence, auditor exports and
break-glass limits. See docs/audit.md."""

from __future__ import annotations

import logging
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from annotate.settings.base import BASE_DIR
from annotate.settings.env import env_int, env_str
from tenants.signing import SigningKeyConfigError, local_signing_key_file, parse_signing_keys

__all__ = [
    "AUDIT_CSV_MAX_ROWS",
    "AUDIT_SEAL_INTERVAL_SECONDS",
    "AUDIT_SEAL_LOOKBACK_SECONDS",
    "AUDIT_SIGNING_KEYS",
    "OPERATOR_GRANT_MAX_MINUTES",
]

_keys = env_str(
    "AUDIT_SIGNING_KEYS",
    None,
    "Ed25519 keys signing audit checkpoints: keyid:base64(32-byte seed), comma-separated; the "
    "first signs, the others stay published. Takes precedence over AUDIT_SIGNING_KEY_FILE.",
)
_key_file = env_str(
    "AUDIT_SIGNING_KEY_FILE",
    None,
    "File holding the checkpoint signing keys (same format as AUDIT_SIGNING_KEYS, one per "
    "line). Unset, and AUDIT_SIGNING_KEYS unset: var/audit_signing_key, generated once "
    "(development only).",
)
if _keys is None:
    if _key_file is None:
        _path = BASE_DIR / "var" / "audit_signing_key"
        local_signing_key_file(_path, "local-1")
        logging.getLogger("annotate.settings").warning(
            "AUDIT_SIGNING_KEYS is not set: signing audit checkpoints with the generated "
            "development key in var/audit_signing_key. Production must set AUDIT_SIGNING_KEYS "
            "(or AUDIT_SIGNING_KEY_FILE), the same in every service."
        )
    else:
        _path = Path(_key_file)
        if not _path.exists():
            raise ImproperlyConfigured(f"AUDIT_SIGNING_KEY_FILE={_key_file!r} does not exist")
    _keys = _path.read_text().strip()
try:
    parse_signing_keys(_keys, setting="AUDIT_SIGNING_KEYS")
except SigningKeyConfigError as exc:
    raise ImproperlyConfigured(str(exc)) from None
AUDIT_SIGNING_KEYS = _keys

AUDIT_SEAL_INTERVAL_SECONDS = env_int(
    "AUDIT_SEAL_INTERVAL_SECONDS",
    60,
    "How often beat seals every tenant's new access events and signs a checkpoint.",
    minimum=1,
)
AUDIT_SEAL_LOOKBACK_SECONDS = env_int(
    "AUDIT_SEAL_LOOKBACK_SECONDS",
    3600,
    "How far back (by event time) each sealing run looks for events committed late; older "
    "stragglers are sealed by the daily full sweep.",
    minimum=60,
)
AUDIT_CSV_MAX_ROWS = env_int(
    "AUDIT_CSV_MAX_ROWS",
    1_000_000,
    "Most events one CSV export of the access log may hold (narrow the filter beyond it).",
    minimum=1,
)
OPERATOR_GRANT_MAX_MINUTES = env_int(
    "OPERATOR_GRANT_MAX_MINUTES",
    480,
    "Longest break-glass operator access a grant may ask for, in minutes.",
    minimum=1,
)
