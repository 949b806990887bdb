"""Storage settings: bad master keys stop start-up naming the setting; the development key."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from annotate.settings.storage import local_master_keys
from tenants.blobstore import _backend
from tenants.crypto import parse_master_keys
from tests.helpers import django_start_up_error

ROOT = Path(__file__).resolve().parent.parent.parent
KEY32 = base64.b64encode(b"k" * 32).decode()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STORAGE_MASTER_KEYS": "k1:***not-base64***"}, "key 'k1' is not valid base64"),
        (
            {"STORAGE_MASTER_KEYS": "k1:" + base64.b64encode(b"short").decode()},
            "key 'k1' is 5 bytes; master keys must be 32 bytes",
        ),
        ({"STORAGE_MASTER_KEYS": f"k1:{KEY32},k1:{KEY32}"}, "duplicate key id 'k1'"),
        ({"STORAGE_MASTER_KEYS": "just-a-key"}, "not of the form keyid:base64key"),
        ({"STORAGE_BACKEND": "s3"}, "STORAGE_S3_BUCKET is required when STORAGE_BACKEND=s3"),
        ({"STORAGE_BACKEND": "ftp"}, "STORAGE_BACKEND='ftp' must be one of: local, s3"),
    ],
)
def test_bad_storage_setting_stops_start_up_and_names_it(env: dict[str, str], message: str) -> None:
    stderr = django_start_up_error(env)
    assert message in stderr, stderr[-800:]
    if "STORAGE_MASTER_KEYS" in env:
        assert "STORAGE_MASTER_KEYS" in stderr
        assert KEY32 not in stderr  # key material is never echoed


def test_development_master_key_is_generated_once_privately(tmp_path: Path) -> None:
    path = tmp_path / "var" / "master_key"
    first = local_master_keys(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert local_master_keys(path) == first
    [(key_id, key)] = parse_master_keys(first)
    assert key_id.startswith("local-") and len(key) == 32
    assert [p.name for p in path.parent.iterdir()] == ["master_key"]  # no temp file left


def test_s3_is_a_configuration_of_the_same_storage_api() -> None:
    from storages.backends.s3 import S3Storage

    backend = _backend("s3", "/unused", "blobs", "http://minio.invalid:9000", "eu-west-1")
    assert isinstance(backend, S3Storage)
    assert (backend.bucket_name, backend.endpoint_url, backend.region_name) == (
        "blobs",
        "http://minio.invalid:9000",
        "eu-west-1",
    )
    # Stored under exactly the key it was encrypted for, never renamed, never public.
    assert backend.file_overwrite and backend.default_acl is None and backend.location == ""
    assert backend.get_available_name("tenants/x/a.bin") == "tenants/x/a.bin"
