"""Random access to encrypted blobs (ZIP archives need it), with tamper detection kept."""

from __future__ import annotations

import io
import os
import random
import zipfile

import pytest

from tenants.crypto import BlobIntegrityError
from tenants.scoping import tenant_context
from tenants.storage import TenantStorage
from tests.conftest import World

pytestmark = pytest.mark.django_db


@pytest.fixture
def storage_root(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.STORAGE_ROOT = str(tmp_path / "blobs")
    settings.STORAGE_TEMP_DIR = str(tmp_path / "tmp")
    return tmp_path / "blobs"


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 65537, 300_000])
def test_seek_and_read_anywhere(world: World, storage_root, size: int) -> None:
    data = os.urandom(size)
    with tenant_context(world.a.id):
        storage = TenantStorage(world.a.id)
        ref = storage.save("blob.bin", data, "application/octet-stream")
        with storage.open_seekable(ref.key) as f:
            assert f.seek(0, io.SEEK_END) == size
            rng = random.Random(size)
            for _ in range(30):
                start = rng.randrange(0, size + 1)
                length = rng.randrange(0, 70_000)
                f.seek(start)
                assert f.read(length) == data[start : start + length]
            f.seek(0)
            assert f.read() == data


def test_zipfile_reads_an_encrypted_archive(world: World, storage_root) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(20):
            archive.writestr(f"dir/file{i}.txt", f"content {i} " * 5000)
    with tenant_context(world.a.id):
        storage = TenantStorage(world.a.id)
        ref = storage.save("archive.zip", buffer.getvalue(), "application/zip")
        with storage.open_seekable(ref.key) as f, zipfile.ZipFile(f) as archive:
            assert archive.read("dir/file7.txt") == b"content 7 " * 5000
            assert len(archive.namelist()) == 20


def test_truncation_by_whole_segments_is_still_detected(world: World, storage_root) -> None:
    with tenant_context(world.a.id):
        storage = TenantStorage(world.a.id)
        ref = storage.save("big.bin", os.urandom(200_000), "application/octet-stream")
    path = storage_root / ref.key
    raw = path.read_bytes()
    stride = 64 * 1024 + 16
    path.write_bytes(raw[: 33 + 2 * stride])  # keep the header and two full segments
    with (
        tenant_context(world.a.id),
        pytest.raises(BlobIntegrityError),
        TenantStorage(world.a.id).open_seekable(ref.key) as f,
    ):
        f.seek(0, io.SEEK_END)
        f.seek(100_000)
        f.read(10)
