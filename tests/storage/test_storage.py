"""TenantStorage on the local backend: round trips, tampering on disk, names, prefixes, context."""

from __future__ import annotations

import hashlib
import shutil
import tracemalloc
from pathlib import Path

import pytest

from tenants.crypto import HEADER_BYTES, SEGMENT_BYTES, TAG_BYTES
from tenants.scoping import TenantContextMissing, tenant_context
from tenants.storage import (
    BlobIntegrityError,
    BlobNotFound,
    InvalidBlobName,
    StorageAccessDenied,
    TenantStorage,
)
from tests.conftest import World
from tests.storage.conftest import chunks, pattern, read_all

pytestmark = pytest.mark.django_db
SEG_CT = SEGMENT_BYTES + TAG_BYTES


def test_small_and_empty_blobs_round_trip(world: World, blob_root: Path) -> None:
    with tenant_context(world.a.id):
        storage = TenantStorage(world.a.id)
        ref = storage.save("notes/hello.txt", b"hello, tenant A", "text/plain")
        empty = storage.save("notes/empty.bin", b"", "application/octet-stream")
        assert ref.key == f"tenants/{world.a.id}/notes/hello.txt"
        assert (ref.size, ref.content_type) == (15, "text/plain")
        assert ref.sha256 == hashlib.sha256(b"hello, tenant A").hexdigest()
        assert read_all(storage, ref.key) == b"hello, tenant A"
        assert read_all(storage, empty.key) == b""
        assert empty.sha256 == hashlib.sha256(b"").hexdigest()
        assert storage.exists(ref.key)
        on_disk = (blob_root / ref.key).read_bytes()
        assert b"hello" not in on_disk and on_disk.startswith(b"ANTB")
        assert (blob_root / ref.key).stat().st_mode & 0o777 == 0o600
        storage.delete(ref.key)
        assert not storage.exists(ref.key)
        with pytest.raises(BlobNotFound):
            storage.open(ref.key)


def test_save_reads_file_objects_and_replaces_a_blob_once_complete(
    world: World, blob_root: Path
) -> None:
    import io

    with tenant_context(world.a.id):
        storage = TenantStorage(world.a.id)
        key = storage.save("doc", io.BytesIO(b"first"), "text/plain").key
        storage.save("doc", io.BytesIO(b"second version"), "text/plain")
        assert read_all(storage, key) == b"second version"
        with storage.open(key) as stream:  # line-oriented reading, as the importers do
            assert stream.readline() == b"second version"


def test_multi_megabyte_blob_streams_with_flat_memory(world: World, blob_root: Path) -> None:
    total = 5 * 1024 * 1024 + 12_345  # 81 segments, the last one partial
    with tenant_context(world.a.id):
        storage = TenantStorage(world.a.id)
        expected = hashlib.sha256()
        tracemalloc.start()
        try:
            with storage.open_writer("big/data.bin", "application/octet-stream") as writer:
                for chunk in chunks(total, 100_000):
                    expected.update(chunk)
                    writer.write(chunk)
            _, write_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            got = hashlib.sha256()
            size = 0
            with storage.open(writer.ref.key) as stream:
                while data := stream.read(100_000):
                    got.update(data)
                    size += len(data)
            _, read_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert writer.ref.size == size == total
    assert writer.ref.sha256 == expected.hexdigest() == got.hexdigest()
    assert (blob_root / writer.ref.key).stat().st_size == HEADER_BYTES + total + 81 * TAG_BYTES
    # Flat: a few segments and chunks, nowhere near the 5 MB blob.
    assert write_peak < 1024 * 1024, write_peak
    assert read_peak < 1024 * 1024, read_peak


def test_temporary_files_live_per_tenant_and_are_removed(
    world: World, blob_root: Path, settings: object
) -> None:
    tmp = Path(settings.STORAGE_TEMP_DIR)  # type: ignore[attr-defined]
    with tenant_context(world.a.id):
        storage = TenantStorage(world.a.id)
        with storage.open_writer("x.bin", "application/octet-stream") as writer:
            writer.write(pattern(3 * SEGMENT_BYTES))
            temps = list((tmp / str(world.a.id)).iterdir())
            assert len(temps) == 1 and b"blob" not in temps[0].read_bytes()
        assert list((tmp / str(world.a.id)).iterdir()) == []

        with pytest.raises(RuntimeError), storage.open_writer("y.bin", "text/plain") as writer:
            writer.write(b"half")
            raise RuntimeError("upload interrupted")
        assert writer.ref is None
        assert not storage.exists(f"tenants/{world.a.id}/y.bin")
        assert list((tmp / str(world.a.id)).iterdir()) == []

        with storage.open_writer("z.bin", "text/plain") as writer:  # abort, then leave quietly
            writer.write(b"unwanted")
            writer.abort()
        assert writer.ref is None and not storage.exists(f"tenants/{world.a.id}/z.bin")


# -- tampering with the stored file ---------------------------------------------------------------


def _flip(data: bytes, offset: int) -> bytes:
    changed = bytearray(data)
    changed[offset] ^= 0x80
    return bytes(changed)


def _segments(data: bytes) -> tuple[bytes, list[bytes]]:
    body = data[HEADER_BYTES:]
    return data[:HEADER_BYTES], [body[i : i + SEG_CT] for i in range(0, len(body), SEG_CT)]


TAMPERS = {
    "flip magic": lambda d: _flip(d, 0),
    "flip version": lambda d: _flip(d, 4),
    "flip segment size": lambda d: _flip(d, 8),
    "flip data key id": lambda d: _flip(d, 12),
    "flip nonce prefix": lambda d: _flip(d, HEADER_BYTES - 1),
    "flip byte in a segment": lambda d: _flip(d, HEADER_BYTES + SEG_CT + 100),
    "flip tag of last segment": lambda d: _flip(d, len(d) - 1),
    "truncate last segment": lambda d: d[:-100],
    "drop last segment": lambda d: d[: HEADER_BYTES + 3 * SEG_CT],
    "drop a middle segment": lambda d: d[: HEADER_BYTES + SEG_CT] + d[HEADER_BYTES + 2 * SEG_CT :],
    "swap two segments": lambda d: (h := _segments(d))[0] + h[1][1] + h[1][0] + b"".join(h[1][2:]),
    "append a byte": lambda d: d + b"\x00",
    "empty file": lambda d: b"",
}


@pytest.mark.parametrize("how", sorted(TAMPERS))
def test_tampered_blob_fails_integrity(world: World, blob_root: Path, how: str) -> None:
    with tenant_context(world.a.id):
        storage = TenantStorage(world.a.id)
        ref = storage.save("victim.bin", pattern(3 * SEGMENT_BYTES + 500), "x/y")
        path = blob_root / ref.key
        path.write_bytes(TAMPERS[how](path.read_bytes()))
        with pytest.raises(BlobIntegrityError):
            read_all(storage, ref.key)


def test_a_blob_copied_into_another_tenants_prefix_does_not_decrypt(
    world: World, blob_root: Path
) -> None:
    with tenant_context(world.a.id):
        a_ref = TenantStorage(world.a.id).save("secret.csv", b"a,secret\n1,2\n", "text/csv")
    with tenant_context(world.b.id):
        b = TenantStorage(world.b.id)
        b.save("own.csv", b"b data", "text/csv")  # B has a key of its own
        stolen = f"tenants/{world.b.id}/secret.csv"
        shutil.copyfile(blob_root / a_ref.key, blob_root / stolen)
        with pytest.raises(BlobIntegrityError, match="does not hold"):
            read_all(b, stolen)
        # Reading A's key from B's storage is refused outright.
        with pytest.raises(StorageAccessDenied):
            b.open(a_ref.key)


def test_a_blob_copied_to_another_name_of_the_same_tenant_does_not_decrypt(
    world: World, blob_root: Path
) -> None:
    with tenant_context(world.a.id):
        storage = TenantStorage(world.a.id)
        ref = storage.save("labels/final.jsonl", b'{"ok": true}\n', "application/x-ndjson")
        moved = f"tenants/{world.a.id}/labels/other.jsonl"
        shutil.copyfile(blob_root / ref.key, blob_root / moved)
        with pytest.raises(BlobIntegrityError):
            read_all(storage, moved)


# -- names, prefixes, context ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "",
        "..",
        "../escape",
        "a/../../escape",
        "a/./b",
        "/etc/passwd",
        "a\\..\\b",
        "nul\x00byte",
        "new\nline",
        "a//b",
        "trailing/",
        "x" * 513,
        "d/" + "y" * 256,
    ],
)
def test_unsafe_names_are_refused(world: World, blob_root: Path, name: str) -> None:
    with tenant_context(world.a.id):
        storage = TenantStorage(world.a.id)
        with pytest.raises(InvalidBlobName):
            storage.open_writer(name, "text/plain")
        with pytest.raises(InvalidBlobName):
            storage.save(name, b"x", "text/plain")
    assert not any(blob_root.rglob("*")) if blob_root.exists() else True


def test_keys_outside_the_tenant_prefix_are_refused_before_the_backend(
    world: World, blob_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_backend() -> None:
        raise AssertionError("the backend was touched")

    monkeypatch.setattr("tenants.storage.blob_backend", no_backend)
    monkeypatch.setattr("tenants.storage.open_stream", no_backend)
    a, b = world.a.id, world.b.id
    refused = [
        f"tenants/{b}/secret.csv",
        f"tenants/{a}/../{b}/secret.csv",
        f"tenants/{a}x/secret.csv",
        f"tenants/{a}",
        f"tenants/{a}/",
        f"/tenants/{a}/x",
        f"tenants//{a}/x",
        "secret.csv",
        f"TENANTS/{a}/x",
        f"tenants/{a}/a\\b",
    ]
    with tenant_context(a):
        storage = TenantStorage(a)
        for key in refused:
            for operation in (storage.open, storage.exists, storage.delete):
                with pytest.raises(StorageAccessDenied):
                    operation(key)


def test_storage_refuses_to_work_outside_its_tenant_context(world: World, blob_root: Path) -> None:
    with pytest.raises(TenantContextMissing):
        TenantStorage(world.a.id)
    with tenant_context(world.b.id), pytest.raises(StorageAccessDenied):
        TenantStorage(world.a.id)
    with tenant_context(world.a.id):
        storage = TenantStorage(world.a.id)
        key = storage.save("n.txt", b"n", "text/plain").key
    # The object outlives its context: every call re-checks.
    with pytest.raises(TenantContextMissing):
        storage.open(key)
    with pytest.raises(TenantContextMissing):
        storage.save("m.txt", b"m", "text/plain")
    with tenant_context(world.b.id), pytest.raises(StorageAccessDenied):
        storage.exists(key)


def test_an_opened_stream_can_be_read_after_the_context_ends(world: World, blob_root: Path) -> None:
    with tenant_context(world.a.id):
        storage = TenantStorage(world.a.id)
        key = storage.save("stream.txt", b"streamed later", "text/plain").key
        stream = storage.open(key)
    with stream:
        assert stream.read() == b"streamed later"
