"""tenants.crypto on its own: no Django, no database."""

from __future__ import annotations

import base64
import io
import os
import struct
import uuid

import pytest

from tenants.crypto import (
    HEADER_BYTES,
    SEGMENT_BYTES,
    TAG_BYTES,
    BlobIntegrityError,
    DecryptingReader,
    EncryptingWriter,
    KeyWrapper,
    MasterKeyConfigError,
    MasterKeyError,
    MasterKeyring,
    new_dek,
    parse_master_keys,
    read_blob_dek_id,
)
from tests.storage.conftest import pattern

TENANT = uuid.UUID("01890000-0000-7000-8000-00000000000a")
OTHER_TENANT = uuid.UUID("01890000-0000-7000-8000-00000000000b")
DEK_ID = uuid.UUID("01890000-0000-7000-8000-0000000000d1")
KEY = "tenants/01890000-0000-7000-8000-00000000000a/data.jsonl"
SEG_CT = SEGMENT_BYTES + TAG_BYTES


def encrypt(data: bytes, dek: bytes, *, tenant: uuid.UUID = TENANT, key: str = KEY) -> bytes:
    sink = io.BytesIO()
    with EncryptingWriter(sink, dek=dek, dek_id=DEK_ID, tenant_id=tenant, blob_key=key) as w:
        for start in range(0, len(data), 10_000):  # writes that straddle segment boundaries
            w.write(data[start : start + 10_000])
    return sink.getvalue()


def decrypt(blob: bytes, dek: bytes, *, tenant: uuid.UUID = TENANT, key: str = KEY) -> bytes:
    def dek_for(dek_id: uuid.UUID) -> bytes:
        return dek  # even for a forged id: the header is in the AAD, so that must fail too

    reader = DecryptingReader(io.BytesIO(blob), tenant_id=tenant, blob_key=key, dek_for=dek_for)
    with io.BufferedReader(reader) as stream:
        return stream.read()


@pytest.mark.parametrize(
    "size",
    [0, 1, SEGMENT_BYTES - 1, SEGMENT_BYTES, SEGMENT_BYTES + 1, 2 * SEGMENT_BYTES, 200_000],
)
def test_round_trip_at_segment_boundaries(size: int) -> None:
    dek = new_dek()
    data = pattern(size)
    blob = encrypt(data, dek)
    segments = max(1, -(-size // SEGMENT_BYTES))
    assert len(blob) == HEADER_BYTES + size + segments * TAG_BYTES
    assert decrypt(blob, dek) == data
    assert read_blob_dek_id(blob[:HEADER_BYTES]) == DEK_ID


@pytest.mark.parametrize("write_size", [1, 7, SEGMENT_BYTES, 3 * SEGMENT_BYTES + 5])
def test_any_write_pattern_gives_the_same_plaintext(write_size: int) -> None:
    dek = new_dek()
    data = pattern(2 * SEGMENT_BYTES + 11) if write_size > 1 else pattern(3000)
    sink = io.BytesIO()
    with EncryptingWriter(sink, dek=dek, dek_id=DEK_ID, tenant_id=TENANT, blob_key=KEY) as w:
        for start in range(0, len(data), write_size):
            w.write(memoryview(data)[start : start + write_size])
    assert w.plaintext_size == len(data)
    assert decrypt(sink.getvalue(), dek) == data


def test_the_same_plaintext_encrypts_differently_each_time() -> None:
    dek = new_dek()
    assert encrypt(b"same", dek) != encrypt(b"same", dek)  # random nonce prefix per blob


def test_ciphertext_is_bound_to_tenant_key_and_data_key() -> None:
    dek = new_dek()
    blob = encrypt(pattern(1000), dek)
    with pytest.raises(BlobIntegrityError):
        decrypt(blob, dek, tenant=OTHER_TENANT)
    with pytest.raises(BlobIntegrityError):
        decrypt(blob, dek, key=KEY + ".copy")
    with pytest.raises(BlobIntegrityError):
        decrypt(blob, new_dek())


def _segments(blob: bytes) -> tuple[bytes, list[bytes]]:
    body = blob[HEADER_BYTES:]
    return blob[:HEADER_BYTES], [body[i : i + SEG_CT] for i in range(0, len(body), SEG_CT)]


def _tamper(blob: bytes, how: str) -> bytes:
    header, segs = _segments(blob)
    if how == "truncate last segment":
        return blob[:-5]
    if how == "drop last segment":
        return header + b"".join(segs[:-1])
    if how == "drop middle segment":
        return header + b"".join(segs[:1] + segs[2:])
    if how == "swap segments":
        return header + b"".join([segs[1], segs[0], *segs[2:]])
    if how == "duplicate segment":
        return header + b"".join([segs[0], *segs])
    if how == "append bytes":
        return blob + b"\0"
    if how == "header only":
        return header
    if how == "half a header":
        return header[:10]
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    [
        "truncate last segment",
        "drop last segment",
        "drop middle segment",
        "swap segments",
        "duplicate segment",
        "append bytes",
        "header only",
        "half a header",
    ],
)
def test_structural_tampering_fails(how: str) -> None:
    dek = new_dek()
    blob = encrypt(pattern(3 * SEGMENT_BYTES + 500), dek)
    with pytest.raises(BlobIntegrityError):
        decrypt(_tamper(blob, how), dek)


def test_every_single_byte_flip_fails() -> None:
    dek = new_dek()
    blob = encrypt(pattern(1500), dek)  # one segment: try every byte of header, body and tag
    for offset in range(len(blob)):
        changed = bytearray(blob)
        changed[offset] ^= 0x01
        with pytest.raises(BlobIntegrityError):
            decrypt(bytes(changed), dek)


def test_a_huge_announced_segment_size_is_refused_before_any_allocation() -> None:
    dek = new_dek()
    blob = bytearray(encrypt(b"x", dek))
    struct.pack_into(">I", blob, 6, 2**31)
    with pytest.raises(BlobIntegrityError, match="segment size"):
        decrypt(bytes(blob), dek)


def test_an_aborted_or_interrupted_writer_never_yields_a_valid_blob() -> None:
    dek = new_dek()
    sink = io.BytesIO()
    with (
        pytest.raises(RuntimeError),
        EncryptingWriter(sink, dek=dek, dek_id=DEK_ID, tenant_id=TENANT, blob_key=KEY) as writer,
    ):
        writer.write(pattern(3 * SEGMENT_BYTES))
        raise RuntimeError("interrupted")
    with pytest.raises(BlobIntegrityError):
        decrypt(sink.getvalue(), dek)
    # Dropped without close(): no finalisation on garbage collection either.
    sink = io.BytesIO()
    writer = EncryptingWriter(sink, dek=dek, dek_id=DEK_ID, tenant_id=TENANT, blob_key=KEY)
    writer.write(pattern(SEGMENT_BYTES + 10))
    del writer
    with pytest.raises(BlobIntegrityError):
        decrypt(sink.getvalue(), dek)


def test_short_reads_from_the_source_are_handled() -> None:
    class Trickle(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
            data = self._data.read(min(len(buffer), 777))
            buffer[: len(data)] = data
            return len(data)

    dek = new_dek()
    data = pattern(2 * SEGMENT_BYTES + 3)
    reader = DecryptingReader(
        Trickle(encrypt(data, dek)),  # type: ignore[arg-type]
        tenant_id=TENANT,
        blob_key=KEY,
        dek_for=lambda _: dek,
    )
    assert reader.readall() == data


# -- master keys ---------------------------------------------------------------------------------


def _b64(n: int) -> str:
    return base64.b64encode(os.urandom(n)).decode()


def test_keyring_wraps_with_the_first_key_and_unwraps_with_any() -> None:
    old = MasterKeyring.parse(f"old:{(k_old := _b64(32))}")
    new = MasterKeyring.parse(f"new:{_b64(32)}, old:{k_old}")
    assert isinstance(new, KeyWrapper)
    dek = new_dek()
    key_id, wrapped = old.wrap(dek)
    assert key_id == "old" and dek not in wrapped
    assert new.unwrap("old", wrapped) == dek
    assert new.wrap(dek)[0] == "new"
    with pytest.raises(MasterKeyError, match="'new', which is not in STORAGE_MASTER_KEYS"):
        old.unwrap(*new.wrap(dek))
    with pytest.raises(MasterKeyError, match="does not unwrap"):
        old.unwrap("old", wrapped[:-1] + bytes([wrapped[-1] ^ 1]))
    # The key id is authenticated: the same key material under another id does not unwrap.
    renamed = MasterKeyring.parse(f"other:{k_old}")
    with pytest.raises(MasterKeyError):
        renamed.unwrap("other", wrapped)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "lists no key"),
        ("k1", "entry 1 is not of the form keyid:base64key"),
        ("k1:not base64!", "key 'k1' is not valid base64"),
        (f"k1:{_b64(16)}", "key 'k1' is 16 bytes; master keys must be 32 bytes"),
        (f"k1:{_b64(32)},k1:{_b64(32)}", "duplicate key id 'k1'"),
        (f"bad id:{_b64(32)}", "key id 'bad id' must be"),
    ],
)
def test_bad_master_key_specs_name_the_setting(spec: str, message: str) -> None:
    with pytest.raises(MasterKeyConfigError, match="STORAGE_MASTER_KEYS") as info:
        parse_master_keys(spec)
    assert message in str(info.value)
