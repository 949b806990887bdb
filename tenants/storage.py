"""Tenant-scoped, encrypted blob storage: isolation wall 4.

``TenantStorage(tenant_id)`` works only inside ``tenant_context(tenant_id)``. Guarantees:

* every key is ``tenants/<tenant_id>/<name>``; a name is validated (no ``..``, no absolute
  path, no backslash, no control character, bounded length) and a key outside the current
  tenant's prefix is refused with ``StorageAccessDenied`` before the backend is touched;
* blobs are encrypted with the tenant's data key (``tenants.crypto``), bound to the tenant and
  to the key: a blob copied into another tenant's prefix, or to another key, does not decrypt;
* memory stays at about one 64 KiB segment for any blob size, writing and reading;
* a blob appears under its key only once completely written (published from a temporary file
  in a per-tenant directory, which holds ciphertext only and is always removed);
* after ``tenant_destroy_keys`` the tenant's blobs raise ``TenantKeyDestroyed``.

Access events are the caller's to write (they know the actor and the resource the blob
belongs to): see ``tenants.audit``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.files import File

from tenants.blobstore import blob_backend, open_stream
from tenants.crypto import (
    SEGMENT_BYTES,
    BlobIntegrityError,
    DecryptingReader,
    EncryptingWriter,
    SeekableDecryptingReader,
)
from tenants.scoping import TenantContextMissing, current_tenant_id
from tenants.services.keys import TenantKeyDestroyed, tenant_dek, tenant_key_get_or_create

__all__ = [
    "BlobIntegrityError",
    "BlobNotFound",
    "BlobRef",
    "BlobWriter",
    "InvalidBlobName",
    "StorageAccessDenied",
    "TenantKeyDestroyed",
    "TenantStorage",
]

KEY_ROOT = "tenants"
MAX_NAME_BYTES = 512
MAX_SEGMENT_NAME_BYTES = 255
COPY_CHUNK_BYTES = SEGMENT_BYTES


class StorageAccessDenied(PermissionError):
    """A key outside the current tenant's prefix, or storage used outside its tenant context."""


class InvalidBlobName(ValueError):
    """A blob name that could escape its prefix or that a backend would mangle."""


class BlobNotFound(FileNotFoundError):
    """No blob under this key (in this tenant)."""


@dataclass(frozen=True)
class BlobRef:
    """What a caller records about a stored blob."""

    key: str
    size: int  # plaintext bytes
    sha256: str  # hex SHA-256 of the plaintext
    content_type: str


def validate_name(name: str) -> str:
    """Return ``name`` if it is a safe relative blob name, else raise ``InvalidBlobName``."""
    if not isinstance(name, str) or not name:
        raise InvalidBlobName("a blob name must be a non-empty string")
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_NAME_BYTES:
        raise InvalidBlobName(f"blob name is {size} bytes; the limit is {MAX_NAME_BYTES}")
    if "\\" in name:
        raise InvalidBlobName(f"blob name {name!r} contains a backslash")
    if any(ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF for c in name):
        raise InvalidBlobName(f"blob name {name!r} contains a control character")
    if name.startswith("/"):
        raise InvalidBlobName(f"blob name {name!r} is absolute")
    for part in name.split("/"):
        if part in ("", ".", ".."):
            raise InvalidBlobName(f"blob name {name!r} has an empty, '.' or '..' path segment")
        if len(part.encode()) > MAX_SEGMENT_NAME_BYTES:
            raise InvalidBlobName(
                f"a path segment of blob name {name!r} exceeds {MAX_SEGMENT_NAME_BYTES} bytes"
            )
    return name


class TenantStorage:
    """Blob storage of one tenant. See the module docstring for the guarantees."""

    def __init__(self, tenant_id: uuid.UUID | str) -> None:
        self.tenant_id = (
            tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id))
        )
        self.prefix = f"{KEY_ROOT}/{self.tenant_id}/"
        self._check_context()
        # Keys are looked up per operation (so destroying a tenant's keys takes effect at once),
        # unless ``preload_key()`` pinned the live key for this instance.
        self._pinned: Any = None

    def preload_key(self) -> None:
        """Resolve the tenant's live data key now (one query) and keep it for this instance.

        For one long operation that cannot query while it writes (an import storing media
        while a COPY holds the connection). Do not keep such an instance beyond that operation:
        it would go on using a key destroyed meanwhile.
        """
        self._pinned = tenant_key_get_or_create(self.tenant_id)

    def _live(self) -> Any:
        return self._pinned or tenant_key_get_or_create(self.tenant_id)

    def _dek(self, dek_id: uuid.UUID) -> bytes:
        if self._pinned is not None and self._pinned.id == dek_id:
            return bytes(self._pinned.dek)
        return tenant_dek(self.tenant_id, dek_id)

    # -- guards ---------------------------------------------------------------------------------

    def _check_context(self) -> None:
        active = current_tenant_id()
        if active is None:
            raise TenantContextMissing(
                f"TenantStorage({self.tenant_id}) is used only inside "
                f"tenant_context({self.tenant_id})"
            )
        if active != self.tenant_id:
            raise StorageAccessDenied(
                f"TenantStorage of tenant {self.tenant_id} used inside the context of {active}"
            )

    def key_for(self, name: str) -> str:
        """The storage key of ``name`` in this tenant (validated)."""
        return self.prefix + validate_name(name)

    def _check_key(self, key: str) -> str:
        """Refuse any key outside this tenant's prefix, before any backend is touched."""
        self._check_context()
        if not isinstance(key, str) or not key.startswith(self.prefix):
            raise StorageAccessDenied(f"key {key!r} is outside the prefix {self.prefix!r}")
        try:
            validate_name(key[len(self.prefix) :])
        except InvalidBlobName as exc:
            raise StorageAccessDenied(f"key {key!r} refused: {exc}") from None
        return key

    # -- operations -----------------------------------------------------------------------------

    def open_writer(self, name: str, content_type: str) -> BlobWriter:
        """A writer for a new blob ``name`` (replacing any blob under that name once complete).

        Use as a context manager: leaving normally publishes the blob and sets ``writer.ref``;
        leaving by an exception (or ``abort()``) publishes nothing.
        """
        key = self._check_key(self.key_for(name))
        data_key = self._live()
        return BlobWriter(
            key=key,
            content_type=content_type,
            tenant_id=self.tenant_id,
            dek=data_key.dek,
            dek_id=data_key.id,
        )

    def save(self, name: str, content: bytes | IO[bytes], content_type: str) -> BlobRef:
        """Store ``content`` (bytes or a binary file object, read in chunks) as ``name``."""
        with self.open_writer(name, content_type) as writer:
            if isinstance(content, bytes | bytearray | memoryview):
                writer.write(content)
            else:
                while chunk := content.read(COPY_CHUNK_BYTES):
                    writer.write(chunk)
        assert writer.ref is not None
        return writer.ref

    def open_seekable(self, key: str) -> io.BufferedReader:
        """Like ``open``, with ``seek``/``tell`` (for ZIP archives). A backend that cannot seek
        (S3 streams) is first spooled to a per-tenant temporary file: ciphertext only, removed
        when the reader is closed."""
        return self._reader(key, seekable=True)

    def open(self, key: str) -> io.BufferedReader:
        """The decrypted blob as a binary stream (``read(n)``, ``readline()``, context manager).

        The data key is resolved now, so the stream may be read after the tenant context ends
        (a streaming response). Reading raises ``BlobIntegrityError`` at the first segment that
        fails authentication; a truncated blob fails at its end, so do not act irreversibly on
        its content before reaching EOF.
        """
        return self._reader(key, seekable=False)

    def _reader(self, key: str, *, seekable: bool) -> io.BufferedReader:
        self._check_key(key)
        try:
            raw: Any = open_stream(blob_backend(), key)
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {key!r}") from None
        if seekable and not (hasattr(raw, "seekable") and raw.seekable()):
            # Closed with the reader (BufferedReader closes the decrypting reader, which closes
            # its source).
            spool = tempfile.TemporaryFile(dir=_tenant_temp_dir(self.tenant_id))  # noqa: SIM115
            with raw:
                while chunk := raw.read(COPY_CHUNK_BYTES):
                    spool.write(chunk)
            spool.seek(0)
            raw = spool
        cls = SeekableDecryptingReader if seekable else DecryptingReader
        try:
            reader = cls(raw, tenant_id=self.tenant_id, blob_key=key, dek_for=self._dek)
        except BaseException:
            raw.close()
            raise
        return io.BufferedReader(reader, buffer_size=SEGMENT_BYTES)

    def exists(self, key: str) -> bool:
        key = self._check_key(key)  # before the backend is even built
        return blob_backend().exists(key)

    def delete(self, key: str) -> None:
        """Delete the blob (no error if it does not exist)."""
        key = self._check_key(key)
        blob_backend().delete(key)


class _CiphertextFile(File):  # type: ignore[type-arg]
    """A finished temporary file; ``temporary_file_path`` lets the local backend publish it with
    a rename instead of a copy."""

    def __init__(self, handle: IO[bytes], path: str) -> None:
        super().__init__(handle, name=os.path.basename(path))
        self._path = path

    def temporary_file_path(self) -> str:
        return self._path


def _tenant_temp_dir(tenant_id: uuid.UUID) -> Path:
    path = Path(settings.STORAGE_TEMP_DIR) / str(tenant_id)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


class BlobWriter:
    """Streams plaintext through encryption into a per-tenant temporary file; ``close()``
    publishes it under its key. Not thread-safe (one writer, one producer)."""

    def __init__(
        self,
        *,
        key: str,
        content_type: str,
        tenant_id: uuid.UUID,
        dek: bytes,
        dek_id: uuid.UUID,
    ) -> None:
        self.key = key
        self.content_type = content_type
        self.ref: BlobRef | None = None
        self._sha256 = hashlib.sha256()
        fd, self._tmp_path = tempfile.mkstemp(prefix="blob-", dir=_tenant_temp_dir(tenant_id))
        self._tmp = os.fdopen(fd, "w+b")
        try:
            self._encrypt = EncryptingWriter(
                self._tmp, dek=dek, dek_id=dek_id, tenant_id=tenant_id, blob_key=key
            )
        except BaseException:
            self._discard()
            raise
        self._state = "open"

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._state != "open":
            raise ValueError(f"write to a {self._state} blob writer for {self.key!r}")
        self._sha256.update(data)
        return self._encrypt.write(data)

    def close(self) -> BlobRef:
        """Finish, publish under ``key`` and return the ``BlobRef``. Idempotent."""
        if self._state == "closed":
            assert self.ref is not None
            return self.ref
        if self._state == "aborted":
            raise ValueError(f"blob writer for {self.key!r} was aborted")
        try:
            self._encrypt.close()
            self._tmp.flush()
            os.fsync(self._tmp.fileno())
            self._tmp.seek(0)
            backend = blob_backend()
            stored = backend.save(self.key, _CiphertextFile(self._tmp, self._tmp_path))
            if stored != self.key:  # the ciphertext is bound to its key: a rename breaks it
                backend.delete(stored)
                raise RuntimeError(f"storage backend stored {self.key!r} as {stored!r}")
        except BaseException:
            self._state = "aborted"
            self._discard()
            raise
        self._discard()
        self._state = "closed"
        self.ref = BlobRef(
            key=self.key,
            size=self._encrypt.plaintext_size,
            sha256=self._sha256.hexdigest(),
            content_type=self.content_type,
        )
        return self.ref

    def abort(self) -> None:
        """Discard everything written; nothing is published. Idempotent."""
        if self._state == "open":
            self._encrypt.abort()
            self._state = "aborted"
            self._discard()

    def _discard(self) -> None:
        with contextlib.suppress(OSError):
            self._tmp.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp_path)

    @property
    def closed(self) -> bool:
        return self._state != "open"

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None and self._state == "open":
            self.close()
        else:
            self.abort()  # after an explicit abort() this is a no-op and ``ref`` stays None

    def __del__(self) -> None:
        # An abandoned writer publishes nothing and leaves no temporary file behind.
        if getattr(self, "_state", None) == "open":
            self.abort()
