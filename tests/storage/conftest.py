"""Tenant storage tests: blobs under ``tmp_path``, never under the project's ``var/``."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tenants.storage import TenantStorage


@pytest.fixture
def blob_root(settings: Any, tmp_path: Path) -> Path:
    settings.STORAGE_BACKEND = "local"
    settings.STORAGE_ROOT = tmp_path / "blobs"
    settings.STORAGE_TEMP_DIR = tmp_path / "tmp"
    return tmp_path / "blobs"


def master_key(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(os.urandom(32)).decode()}"


def read_all(storage: TenantStorage, key: str, chunk: int = 100_000) -> bytes:
    parts = []
    with storage.open(key) as stream:
        while data := stream.read(chunk):
            parts.append(data)
    return b"".join(parts)


def pattern(size: int, seed: bytes = b"blob") -> bytes:
    """Deterministic, incompressible-looking bytes (so a leak of plaintext would be visible)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


def chunks(total: int, chunk: int, seed: bytes = b"stream") -> Iterator[bytes]:
    produced = 0
    index = 0
    while produced < total:
        size = min(chunk, total - produced)
        yield pattern(size, seed + index.to_bytes(8, "big"))
        produced += size
        index += 1
