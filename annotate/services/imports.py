"""Dataset imports, the request side: stream the upload into the tenant's encrypted storage,
record the ``ImportJob`` and queue its ingest. The worker side (one transaction, COPY, exactly
once) is ``annotate.services.ingest``."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotate.models import Dataset, ImportJob, Project
from tenants.ids import uuid7
from tenants.models import Membership
from tenants.storage import TenantStorage

CONTENT_TYPES = {
    ImportJob.Format.JSONL: "application/x-ndjson",
    ImportJob.Format.JSON: "application/json",
    ImportJob.Format.CSV: "text/csv",
    ImportJob.Format.ZIP: "application/zip",
}


class UploadTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the upload exceeds the limit of {limit} bytes (IMPORT_MAX_UPLOAD_BYTES)")


class IdempotencyConflict(Exception):
    """The idempotency key was used before with a different request."""


def _fingerprint(*, fmt: str, dataset_name: str) -> Any:
    digest = hashlib.sha256()
    digest.update(f"{fmt}\0{dataset_name}\0".encode())
    return digest


@dataclass(frozen=True)
class StoredUpload:
    """An upload already streamed into the tenant's storage (encrypted)."""

    job_id: uuid.UUID  # the import this upload becomes; its blob lives under imports/<job_id>/
    key: str
    size: int
    fingerprint: str  # sha256 over format, dataset name and the bytes: the idempotency identity
    filename: str


class UploadWriter:
    """Streams an upload into tenant storage chunk by chunk, enforcing the size limit and
    computing the idempotency fingerprint on the way. Used for raw bodies and by the multipart
    upload handler alike."""

    def __init__(
        self, *, storage: TenantStorage, fmt: str, dataset_name: str, filename: str
    ) -> None:
        self.limit = settings.IMPORT_MAX_UPLOAD_BYTES
        self.job_id = uuid7()
        self.filename = filename
        self._digest = _fingerprint(fmt=fmt, dataset_name=dataset_name)
        self._size = 0
        self._writer = storage.open_writer(
            f"imports/{self.job_id}/upload.{fmt}", CONTENT_TYPES[fmt]
        )

    def write(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self.limit:
            self.abort()
            raise UploadTooLarge(self.limit)
        self._digest.update(chunk)
        self._writer.write(chunk)

    def abort(self) -> None:
        self._writer.abort()

    def finish(self) -> StoredUpload:
        ref = self._writer.close()
        return StoredUpload(
            self.job_id, ref.key, self._size, self._digest.hexdigest(), self.filename
        )


def upload_store(
    *, storage: TenantStorage, chunks: Iterator[bytes], fmt: str, dataset_name: str, filename: str
) -> StoredUpload:
    writer = UploadWriter(storage=storage, fmt=fmt, dataset_name=dataset_name, filename=filename)
    try:
        for chunk in chunks:
            writer.write(chunk)
    except BaseException:
        writer.abort()
        raise
    return writer.finish()


@transaction.atomic
def import_create(
    *,
    project: Project,
    membership: Membership,
    upload: StoredUpload,
    fmt: str,
    dataset_name: str = "",
    idempotency_key: str | None = None,
) -> tuple[ImportJob, bool]:
    """Record the stored upload as an import and queue its ingest.

    Returns ``(job, created)``. With an idempotency key already used for the same request,
    returns the earlier job and ``created=False`` (and deletes the new upload); used for a
    different request, raises ``IdempotencyConflict`` (and deletes the new upload).
    """
    assert project.tenant_id == membership.tenant_id
    storage = TenantStorage(project.tenant_id)
    blob_key, size, fingerprint, filename = (
        upload.key,
        upload.size,
        upload.fingerprint,
        upload.filename,
    )

    if idempotency_key:
        earlier = ImportJob.objects.filter(project=project, idempotency_key=idempotency_key).first()
        if earlier is not None:
            storage.delete(blob_key)
            if earlier.content_sha256 != fingerprint:
                raise IdempotencyConflict(
                    f"Idempotency-Key {idempotency_key!r} was used for a different upload"
                )
            return earlier, False
    name = dataset_name or (filename or f"import {timezone.now():%Y-%m-%d %H:%M}")
    try:
        with transaction.atomic():
            dataset = Dataset.objects.create(
                tenant_id=project.tenant_id, project=project, name=name[:200]
            )
            job = ImportJob.objects.create(
                id=upload.job_id,
                tenant_id=project.tenant_id,
                project=project,
                dataset=dataset,
                format=fmt,
                filename=filename[:255],
                blob_key=blob_key,
                bytes_total=size,
                content_sha256=fingerprint,
                idempotency_key=idempotency_key or None,
                created_by_id=membership.user_id,
            )
    except IntegrityError:
        # Two requests with one key at the same moment: the other one won.
        storage.delete(blob_key)
        earlier = ImportJob.objects.get(project=project, idempotency_key=idempotency_key)
        if earlier.content_sha256 != fingerprint:
            raise IdempotencyConflict(
                f"Idempotency-Key {idempotency_key!r} was used for a different upload"
            ) from None
        return earlier, False

    from workers.tasks.imports import import_run_task

    tenant_id = str(project.tenant_id)
    transaction.on_commit(lambda: import_run_task.delay(tenant_id, str(job.id)))
    return job, True
