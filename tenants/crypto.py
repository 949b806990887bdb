"""Envelope encryption and streaming authenticated encryption of tenant blobs.

Pure functions and classes over the ``cryptography`` package: no Django, no database, no I/O
beyond the file-like objects handed in. ``tenants.services.keys`` and ``tenants.storage`` put
them to work.

Envelope
    Each tenant has a 256-bit data key (DEK). It is stored only *wrapped* by a master key (KEK)
    through a ``KeyWrapper``; the wrapped form records which master key wrapped it, so master
    keys can rotate (``MasterKeyring``: the first key wraps, every listed key unwraps). A KMS
    plugs in as another ``KeyWrapper``.

Blob format (version 1), STREAM construction over AES-256-GCM::

    header  = MAGIC "ANTB" | version (1) | algorithm (1) | segment size (4, BE)
              | DEK id (16, the TenantKey uuid) | nonce prefix (7, random per blob)
    segment = AES-256-GCM(DEK, nonce, plaintext[i], AAD) = ciphertext || 16-byte tag
    nonce   = nonce prefix (7) | segment counter (4, BE) | last-segment flag (1)
    AAD     = header | tenant id (16) | len(blob key) (2, BE) | blob key (UTF-8)

Every segment but the last holds exactly ``segment size`` plaintext bytes; the last holds
0..segment size (an empty blob is one empty last segment). Guarantees, each a decryption
failure (``BlobIntegrityError``), never wrong plaintext:

* a changed bit anywhere (header, ciphertext, tag) fails the segment's tag;
* reordered, swapped, duplicated or dropped segments fail: the counter is in the nonce;
* truncation fails: the last segment carries the last flag, so a stream that ends on a
  non-final segment (or a final one that is not really final) does not authenticate;
* a blob copied to another tenant, or to another key, fails: both are in the AAD.

Streaming caveat: plaintext is released segment by segment, each authenticated before release,
but truncation is only detectable at the end. A consumer must not act irreversibly on the data
(commit an import, say) before reading to EOF without error.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import struct
import uuid
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

DEK_BYTES = 32  # AES-256
MASTER_KEY_BYTES = 32
TAG_BYTES = 16
NONCE_PREFIX_BYTES = 7

MAGIC = b"ANTB"
FORMAT_VERSION = 1
ALG_AES256GCM_STREAM = 1
SEGMENT_BYTES = 64 * 1024
# Bounds on the segment size a header may announce (it is read before it is authenticated,
# so it must not be able to make a reader allocate without limit).
MIN_SEGMENT_BYTES = 1024
MAX_SEGMENT_BYTES = 1024 * 1024
MAX_SEGMENTS = 2**32  # the counter is 4 bytes: 256 TiB at 64 KiB segments
_HEADER = struct.Struct(">4sBBI16s7s")
HEADER_BYTES = _HEADER.size  # 33

# Wrapped DEK (local keyring): nonce (12) | AES-256-GCM(KEK, DEK, AAD) (32 + 16)
_WRAP_NONCE_BYTES = 12
_WRAP_AAD = b"annotate/dek/v1/"
MASTER_KEY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MASTER_KEYS_SETTING = "STORAGE_MASTER_KEYS"


class BlobIntegrityError(Exception):
    """The blob is not what was written (tampered, truncated, reordered, moved, or not a blob)."""


class MasterKeyError(Exception):
    """A master key is missing or does not unwrap what it is asked to."""


class MasterKeyConfigError(ValueError):
    """``STORAGE_MASTER_KEYS`` is malformed; the message names the setting and the entry."""


# -- envelope: master keys ----------------------------------------------------------------------


@runtime_checkable
class KeyWrapper(Protocol):
    """Wraps and unwraps data keys. Implementations: ``MasterKeyring`` (keys from the
    environment), or an adapter to a KMS (AWS KMS, Vault transit, ...).

    ``wrap`` returns the id of the master key it used and an opaque blob; ``unwrap`` must accept
    any (id, blob) that any still-configured master key produced, and raise ``MasterKeyError``
    naming the key id otherwise.
    """

    @property
    def current_key_id(self) -> str: ...

    def wrap(self, dek: bytes) -> tuple[str, bytes]: ...

    def unwrap(self, key_id: str, blob: bytes) -> bytes: ...


class MasterKeyring:
    """Local master keys. The first key wraps; every key unwraps (so a rotation can re-wrap at
    leisure, and the old key is removed afterwards)."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise MasterKeyConfigError(f"{MASTER_KEYS_SETTING} lists no key")
        seen: set[str] = set()
        for key_id, key in keys:
            if not MASTER_KEY_ID_RE.match(key_id):
                raise MasterKeyConfigError(
                    f"{MASTER_KEYS_SETTING}: key id {key_id!r} must be 1-64 characters of "
                    "letters, digits, '.', '_' or '-'"
                )
            if key_id in seen:
                raise MasterKeyConfigError(f"{MASTER_KEYS_SETTING}: duplicate key id {key_id!r}")
            seen.add(key_id)
            if len(key) != MASTER_KEY_BYTES:
                raise MasterKeyConfigError(
                    f"{MASTER_KEYS_SETTING}: key {key_id!r} is {len(key)} bytes; master keys "
                    f"must be {MASTER_KEY_BYTES} bytes (256 bits)"
                )
        self._keys = {key_id: AESGCM(key) for key_id, key in keys}
        self._current = keys[0][0]

    @classmethod
    def parse(cls, spec: str) -> MasterKeyring:
        """Build from ``keyid:base64key[,keyid:base64key...]`` (first is current)."""
        return cls(parse_master_keys(spec))

    @property
    def current_key_id(self) -> str:
        return self._current

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def wrap(self, dek: bytes) -> tuple[str, bytes]:
        if len(dek) != DEK_BYTES:
            raise ValueError(f"a data key must be {DEK_BYTES} bytes, got {len(dek)}")
        nonce = os.urandom(_WRAP_NONCE_BYTES)
        aad = _WRAP_AAD + self._current.encode()
        return self._current, nonce + self._keys[self._current].encrypt(nonce, dek, aad)

    def unwrap(self, key_id: str, blob: bytes) -> bytes:
        kek = self._keys.get(key_id)
        if kek is None:
            raise MasterKeyError(
                f"the data key is wrapped by master key {key_id!r}, which is not in "
                f"{MASTER_KEYS_SETTING} (configured: {', '.join(self._keys)}). Keep an old "
                "master key listed until `manage.py rotate_master_key` has re-wrapped every "
                "tenant key."
            )
        if len(blob) != _WRAP_NONCE_BYTES + DEK_BYTES + TAG_BYTES:
            raise MasterKeyError(f"wrapped data key under {key_id!r} has a wrong length")
        try:
            return kek.decrypt(
                blob[:_WRAP_NONCE_BYTES], blob[_WRAP_NONCE_BYTES:], _WRAP_AAD + key_id.encode()
            )
        except InvalidTag:
            raise MasterKeyError(
                f"master key {key_id!r} does not unwrap this data key (wrong key material for "
                f"that id in {MASTER_KEYS_SETTING}, or the wrapped key was altered)"
            ) from None


def parse_master_keys(spec: str) -> list[tuple[str, bytes]]:
    """Parse ``STORAGE_MASTER_KEYS``. Raises ``MasterKeyConfigError`` naming the setting and the
    offending entry (never echoing key material)."""
    keys: list[tuple[str, bytes]] = []
    for position, entry in enumerate((p.strip() for p in spec.split(",")), start=1):
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not key_id:
            raise MasterKeyConfigError(
                f"{MASTER_KEYS_SETTING}: entry {position} is not of the form keyid:base64key"
            )
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise MasterKeyConfigError(
                f"{MASTER_KEYS_SETTING}: key {key_id!r} is not valid base64"
            ) from None
        keys.append((key_id, key))
    MasterKeyring(keys)  # validates ids, lengths, duplicates
    return keys


def new_master_key_entry(key_id: str) -> str:
    """A fresh ``keyid:base64key`` entry (for operators and the local development default)."""
    return f"{key_id}:{base64.b64encode(os.urandom(MASTER_KEY_BYTES)).decode()}"


def new_dek() -> bytes:
    return os.urandom(DEK_BYTES)


# -- blobs: header and AAD ----------------------------------------------------------------------


def _aad(header: bytes, tenant_id: uuid.UUID, blob_key: str) -> bytes:
    key = blob_key.encode()
    if len(key) > 0xFFFF:
        raise ValueError("blob key longer than 65535 bytes")
    return header + tenant_id.bytes + struct.pack(">H", len(key)) + key


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    if counter >= MAX_SEGMENTS:
        raise BlobIntegrityError(f"blob exceeds {MAX_SEGMENTS} segments")
    return prefix + struct.pack(">I", counter) + (b"\x01" if last else b"\x00")


def _parse_header(header: bytes) -> tuple[int, uuid.UUID, bytes]:
    """(segment size, DEK id, nonce prefix) from an unauthenticated header. Checked for shape
    only; the first segment's tag authenticates it (it is in the AAD)."""
    if len(header) != HEADER_BYTES:
        raise BlobIntegrityError("blob is shorter than its header (truncated or not a blob)")
    magic, version, alg, segment, dek_id, prefix = _HEADER.unpack(header)
    if magic != MAGIC:
        raise BlobIntegrityError("not an encrypted blob (bad magic)")
    if version != FORMAT_VERSION or alg != ALG_AES256GCM_STREAM:
        raise BlobIntegrityError(f"unsupported blob format version {version}, algorithm {alg}")
    if not MIN_SEGMENT_BYTES <= segment <= MAX_SEGMENT_BYTES:
        raise BlobIntegrityError(f"blob header announces an invalid segment size {segment}")
    return segment, uuid.UUID(bytes=dek_id), prefix


def read_blob_dek_id(header: bytes) -> uuid.UUID:
    """The id of the data key a blob says it was encrypted under (unauthenticated)."""
    return _parse_header(header)[1]


# -- blobs: writer ------------------------------------------------------------------------------


class EncryptingWriter:
    """File-like writer: plaintext in, encrypted blob out to ``sink``.

    Memory stays at about one segment whatever the blob size. ``close()`` writes the final
    segment; only then is the blob valid. ``abort()`` (or leaving a ``with`` block by an
    exception) writes nothing more, so a half-written blob never authenticates. There is
    deliberately no finalisation on garbage collection: that would turn an interrupted write
    into a valid, truncated blob. ``sink`` is not closed (the caller owns it).
    """

    def __init__(
        self,
        sink: BinaryIO,
        *,
        dek: bytes,
        dek_id: uuid.UUID,
        tenant_id: uuid.UUID,
        blob_key: str,
        segment_bytes: int = SEGMENT_BYTES,
    ) -> None:
        if len(dek) != DEK_BYTES:
            raise ValueError(f"a data key must be {DEK_BYTES} bytes")
        if not MIN_SEGMENT_BYTES <= segment_bytes <= MAX_SEGMENT_BYTES:
            raise ValueError(
                f"segment size must be between {MIN_SEGMENT_BYTES} and {MAX_SEGMENT_BYTES}"
            )
        self._sink = sink
        self._aead = AESGCM(dek)
        self._segment = segment_bytes
        self._prefix = os.urandom(NONCE_PREFIX_BYTES)
        self._header = _HEADER.pack(
            MAGIC, FORMAT_VERSION, ALG_AES256GCM_STREAM, segment_bytes, dek_id.bytes, self._prefix
        )
        self._aad = _aad(self._header, tenant_id, blob_key)
        self._buffer = bytearray()
        self._counter = 0
        self._state = "open"
        self.plaintext_size = 0
        self.ciphertext_size = HEADER_BYTES
        sink.write(self._header)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._state != "open":
            raise ValueError(f"write to a {self._state} blob writer")
        view = memoryview(data).cast("B")
        self.plaintext_size += len(view)
        pos = 0
        # The buffer holds at most one segment. A full segment is emitted only once more bytes
        # arrive, because only then is it surely not the last one.
        while len(view) - pos > self._segment - len(self._buffer):
            room = self._segment - len(self._buffer)
            self._buffer += view[pos : pos + room]
            pos += room
            self._emit(bytes(self._buffer), last=False)
            self._buffer.clear()
        self._buffer += view[pos:]
        return len(view)

    def _emit(self, plaintext: bytes, *, last: bool) -> None:
        nonce = _nonce(self._prefix, self._counter, last)
        ciphertext = self._aead.encrypt(nonce, plaintext, self._aad)
        self._sink.write(ciphertext)
        self.ciphertext_size += len(ciphertext)
        self._counter += 1

    def close(self) -> None:
        """Write the last segment. Idempotent."""
        if self._state == "closed":
            return
        if self._state == "aborted":
            raise ValueError("close() after abort(): the blob is incomplete")
        self._emit(bytes(self._buffer), last=True)
        self._buffer = bytearray()
        self._state = "closed"

    def abort(self) -> None:
        """Stop without finalising; the partial output will never decrypt. Idempotent."""
        if self._state == "open":
            self._buffer = bytearray()
            self._state = "aborted"

    @property
    def closed(self) -> bool:
        return self._state != "open"

    def writable(self) -> bool:
        return self._state == "open"

    def __enter__(self) -> EncryptingWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


# -- blobs: reader ------------------------------------------------------------------------------


def _read_exact(source: BinaryIO, n: int) -> bytes:
    """Up to ``n`` bytes, fewer only at EOF (file-likes such as network bodies may return short
    reads)."""
    parts: list[bytes] = []
    remaining = n
    while remaining > 0:
        chunk = source.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


class DecryptingReader(io.RawIOBase):
    """File-like reader: encrypted blob in, authenticated plaintext out.

    The header is read and the data key resolved at construction (``dek_for(dek_id)``), so
    key lookups happen where the reader is opened (inside the tenant context), and a missing or
    destroyed key fails there. Each segment is authenticated before any of its bytes are
    returned; any failure raises ``BlobIntegrityError``. Memory stays at about one segment.
    Wrap in ``io.BufferedReader`` for ``readline`` and text decoding.
    """

    def __init__(
        self,
        source: BinaryIO,
        *,
        tenant_id: uuid.UUID,
        blob_key: str,
        dek_for: Callable[[uuid.UUID], bytes],
        close_source: bool = True,
    ) -> None:
        super().__init__()
        self._source = source
        self._close_source = close_source
        header = _read_exact(source, HEADER_BYTES)
        self._segment, self.dek_id, self._prefix = _parse_header(header)
        self._aead = AESGCM(dek_for(self.dek_id))
        self._aad = _aad(header, tenant_id, blob_key)
        self._counter = 0
        self._pending = b""  # raw bytes read ahead to learn whether a segment is the last
        self._plain = memoryview(b"")
        self._done = False

    def readable(self) -> bool:
        return True

    def _next_segment(self) -> None:
        want = self._segment + TAG_BYTES
        raw = self._pending + _read_exact(self._source, want + 1 - len(self._pending))
        # A segment is the last iff nothing follows it: look one byte ahead.
        segment, self._pending = raw[:want], raw[want:]
        last = not self._pending
        if len(segment) < TAG_BYTES:
            raise BlobIntegrityError(
                f"blob truncated: segment {self._counter} is shorter than its tag"
            )
        try:
            plaintext = self._aead.decrypt(
                _nonce(self._prefix, self._counter, last), segment, self._aad
            )
        except InvalidTag:
            raise BlobIntegrityError(
                f"blob failed authentication at segment {self._counter}: tampered, truncated, "
                "reordered, or not this tenant's blob under this key"
            ) from None
        self._counter += 1
        self._plain = memoryview(plaintext)
        self._done = last

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        while not self._plain and not self._done:
            self._next_segment()
        n = min(len(view), len(self._plain))
        view[:n] = self._plain[:n]
        self._plain = self._plain[n:]
        return n

    def close(self) -> None:
        if not self.closed and self._close_source:
            self._source.close()
        super().close()


class SeekableDecryptingReader(DecryptingReader):
    """A ``DecryptingReader`` with random access, for formats that need it (ZIP).

    Segments have a fixed size, so the segment holding any plaintext offset is found by
    arithmetic and decrypted on its own. Which segment is the last is known from the total
    length, so truncation by whole segments still fails: the new "last" segment was sealed as
    not-last. Needs a seekable source (the ciphertext, never plaintext, may be spooled to disk).
    """

    def __init__(self, source: BinaryIO, **kwargs: Any) -> None:
        super().__init__(source, **kwargs)
        total = source.seek(0, io.SEEK_END)
        body = total - HEADER_BYTES
        stride = self._segment + TAG_BYTES
        self._segments = max(1, -(-body // stride))
        last_plain = body - (self._segments - 1) * stride - TAG_BYTES
        if last_plain < 0:
            raise BlobIntegrityError("blob truncated: the last segment is shorter than its tag")
        self._size = (self._segments - 1) * self._segment + last_plain
        self._pos = 0
        self._load(0)

    @property
    def size(self) -> int:
        return self._size

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        position = max(0, base + offset)
        if position != self._pos:
            self._pos = position
            self._load(position)
        return position

    def _load(self, position: int) -> None:
        index = min(position // self._segment, self._segments - 1)
        stride = self._segment + TAG_BYTES
        self._source.seek(HEADER_BYTES + index * stride)
        raw = _read_exact(self._source, stride)
        last = index == self._segments - 1
        try:
            plaintext = self._aead.decrypt(_nonce(self._prefix, index, last), raw, self._aad)
        except InvalidTag:
            raise BlobIntegrityError(
                f"blob failed authentication at segment {index}: tampered, truncated, "
                "reordered, or not this tenant's blob under this key"
            ) from None
        self._plain = memoryview(plaintext)[position - index * self._segment :]
        self._counter, self._done, self._pending = index + 1, last, b""
        if not last:
            # Sequential reading continues from the next segment; prime the look-ahead state.
            self._source.seek(HEADER_BYTES + (index + 1) * stride)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = super().readinto(buffer)
        self._pos += n
        return n
