"""Dataset imports: accept an upload into tenant storage, then ingest it in a worker.

The request path only streams the upload into the tenant's encrypted storage and records an
``ImportJob``; a Celery worker does the rest (``import_run``):

* the whole ingest is **one transaction**: rows are streamed with COPY (psycopg 3) into a
  temporary staging table (COPY cannot write into a table under row-level security), checked
  there (duplicates, clashes with existing external ids), then moved into ``annotate_item``
  with one ``INSERT … SELECT`` that RLS's WITH CHECK still guards. Items appear only on commit;
* progress is written through a second connection (alias ``progress``), so it is visible while
  the import runs and survives a rollback;
* a worker killed mid-import (even ``kill -9``) loses its connection, PostgreSQL rolls the
  transaction back, and the redelivered task starts over; a transaction-scoped advisory lock
  keeps two deliveries from ingesting at once, and a finished job is never run twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from annotate.formats.readers import (
    Limits,
    Record,
    RecordError,
    read_csv,
    read_json_array,
    read_jsonl,
)
from annotate.label_schema import item_data_errors
from annotate.models import Dataset, ImportJob, Project
from tenants.audit import Actor, audit_record
from tenants.ids import Uuid7Sequence, uuid7
from tenants.models import Membership
from tenants.scoping import tenant_context
from tenants.storage import TenantStorage

logger = logging.getLogger(__name__)

CONTENT_TYPES = {
    ImportJob.Format.JSONL: "application/x-ndjson",
    ImportJob.Format.JSON: "application/json",
    ImportJob.Format.CSV: "text/csv",
}
PROGRESS_EVERY_ROWS = 20_000
PROGRESS_EVERY_SECONDS = 0.5
TERMINAL = (ImportJob.State.SUCCEEDED, ImportJob.State.FAILED)


class UploadTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the upload exceeds the limit of {limit} bytes (IMPORT_MAX_UPLOAD_BYTES)")


class IdempotencyConflict(Exception):
    """The idempotency key was used before with a different request."""


def _fingerprint(*, fmt: str, dataset_name: str) -> Any:
    digest = hashlib.sha256()
    digest.update(f"{fmt}\0{dataset_name}\0".encode())
    return digest


@transaction.atomic
def import_create(
    *,
    project: Project,
    membership: Membership,
    chunks: Iterator[bytes],
    fmt: str,
    filename: str,
    dataset_name: str = "",
    idempotency_key: str | None = None,
) -> tuple[ImportJob, bool]:
    """Store the upload (encrypted, in the tenant's storage) and queue its ingest.

    Returns ``(job, created)``. With an idempotency key already used for the same request,
    returns the earlier job and ``created=False`` (and keeps nothing of the new upload); used
    for a different request, raises ``IdempotencyConflict``. Over the size limit, raises
    ``UploadTooLarge`` and keeps nothing.
    """
    assert project.tenant_id == membership.tenant_id
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    storage = TenantStorage(project.tenant_id)
    job_id = uuid7()
    digest = _fingerprint(fmt=fmt, dataset_name=dataset_name)
    size = 0
    blob_name = f"imports/{job_id}/upload.{fmt}"
    with storage.open_writer(blob_name, CONTENT_TYPES[fmt]) as writer:
        try:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge(limit)
                digest.update(chunk)
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
    blob_key = writer.ref.key
    fingerprint = digest.hexdigest()

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
                id=job_id,
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


# -- the worker side ---------------------------------------------------------------------------


@dataclass
class _Errors:
    cap: int
    filename: str
    items: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0

    def add(self, line: int | None, field_name: str, message: str) -> None:
        self.count += 1
        if len(self.items) < self.cap:
            self.items.append(
                {"file": self.filename, "line": line, "field": field_name, "message": message}
            )


class ImportFailed(Exception):
    def __init__(self, errors: _Errors) -> None:
        super().__init__(f"{errors.count} error(s)")
        self.errors = errors


class _CountingReader:
    """Counts bytes read, for progress."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        self.count += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return False


class _Progress:
    """Writes progress through the ``progress`` connection: committed at once, visible while
    the ingest transaction is still open, and kept if that transaction rolls back."""

    def __init__(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> None:
        self.tenant_id, self.job_id = tenant_id, job_id
        self._last = 0.0

    def write(self, **fields: Any) -> None:
        with tenant_context(self.tenant_id, using="progress"):
            ImportJob.objects.using("progress").filter(id=self.job_id).update(**fields)
        self._last = time.monotonic()

    def maybe(self, rows: int, **fields: Any) -> None:
        if (
            rows % PROGRESS_EVERY_ROWS == 0
            or time.monotonic() - self._last > PROGRESS_EVERY_SECONDS
        ):
            self.write(**fields)


def _records(job: ImportJob, stream: IO[bytes]) -> Iterator[Record | RecordError]:
    limits = Limits(
        max_line_bytes=settings.IMPORT_MAX_LINE_BYTES, max_depth=settings.JSON_MAX_DEPTH
    )
    if job.format == ImportJob.Format.JSONL:
        return read_jsonl(stream, limits)
    if job.format == ImportJob.Format.JSON:
        return read_json_array(stream, limits)
    required = {
        name
        for name, spec in job.project.label_schema.get("data", {}).items()
        if spec.get("required", True)
    }
    return read_csv(stream, limits, required_columns=required)


def _lock_key(job_id: uuid.UUID) -> int:
    return zlib.crc32(job_id.bytes) - 2**31


# One row per record, as the client sent it; ``_INSERT`` takes it apart in SQL, so JSONL lines
# travel from the file to PostgreSQL without being re-encoded in Python.
STAGING = """
CREATE TEMP TABLE import_staging (line bigint NOT NULL, id uuid NOT NULL, doc jsonb NOT NULL)
ON COMMIT DROP
"""
# Same rules as annotate.formats.readers._split_record, which validated every record already.
_EXTERNAL_ID = "coalesce(doc->>'external_id', '')"
_INSERT = f"""
INSERT INTO annotate_item (tenant_id, id, project_id, dataset_id, external_id, data, media,
                           priority, status, seq, created_at)
SELECT %s, id, %s, %s, {_EXTERNAL_ID},
       CASE WHEN jsonb_typeof(doc->'data') = 'object' THEN doc->'data'
            ELSE doc - 'external_id' - 'priority' END,
       '[]'::jsonb, coalesce((doc->>'priority')::integer, 0), 'new', line, now()
  FROM import_staging ORDER BY line
"""


def import_run(*, tenant_id: uuid.UUID, import_id: uuid.UUID, actor: Actor) -> str:
    """Ingest one import, exactly once. Returns the job's final (or current) state."""
    try:
        with tenant_context(tenant_id):
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_lock_key(import_id)])
                if not cursor.fetchone()[0]:
                    return "busy"  # another delivery of this task is ingesting it right now
            job = ImportJob.objects.select_related("project", "dataset").get(id=import_id)
            if job.state in TERMINAL:
                return job.state
            progress = _Progress(tenant_id, import_id)
            started = timezone.now()
            progress.write(
                state=ImportJob.State.RUNNING,
                attempts=job.attempts + 1,
                started_at=started,
                items_processed=0,
                bytes_processed=0,
            )
            total = _ingest(job, progress)
            finished = timezone.now()
            ImportJob.objects.filter(id=import_id).update(
                state=ImportJob.State.SUCCEEDED,
                items_total=total,
                items_processed=total,
                bytes_processed=job.bytes_total,
                finished_at=finished,
                attempts=job.attempts + 1,
                started_at=started,
                errors=[],
                error_count=0,
            )
            audit_record(
                tenant_id=tenant_id,
                actor=actor,
                action="import.ingest",
                resource_type="import",
                resource_id=import_id,
                detail={"items": total, "bytes": job.bytes_total, "dataset": str(job.dataset_id)},
            )
            return ImportJob.State.SUCCEEDED
    except ImportFailed as failure:
        _record_failure(tenant_id, import_id, actor, failure.errors)
        return ImportJob.State.FAILED


def _record_failure(
    tenant_id: uuid.UUID, import_id: uuid.UUID, actor: Actor, errors: _Errors
) -> None:
    with tenant_context(tenant_id):
        ImportJob.objects.filter(id=import_id).update(
            state=ImportJob.State.FAILED,
            errors=errors.items,
            error_count=errors.count,
            items_processed=0,
            finished_at=timezone.now(),
        )
        audit_record(
            tenant_id=tenant_id,
            actor=actor,
            action="import.ingest",
            resource_type="import",
            resource_id=import_id,
            outcome="failed",
            reason=f"{errors.count} error(s); nothing was imported",
            detail={"first_error": errors.items[0] if errors.items else None},
        )


def _ingest(job: ImportJob, progress: _Progress) -> int:
    errors = _Errors(cap=settings.IMPORT_MAX_REPORTED_ERRORS, filename=job.filename)
    schema = job.project.label_schema
    max_items = settings.IMPORT_MAX_ITEMS
    rows = 0
    ids = Uuid7Sequence()
    with TenantStorage(job.tenant_id).open(job.blob_key) as blob:
        stream = _CountingReader(blob)
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS pg_temp.import_staging")
            cursor.execute(STAGING)
            with cursor.copy("COPY import_staging (line, id, doc) FROM STDIN") as copy:
                for record in _records(job, stream):  # type: ignore[arg-type]
                    if isinstance(record, RecordError):
                        errors.add(record.line, record.field, record.message)
                        if record.fatal:
                            break
                        continue
                    for field_name, message in item_data_errors(schema, record.data):
                        errors.add(record.line, f"data.{field_name}", message)
                    if errors.count:
                        continue  # keep reading to report errors; nothing more to write
                    rows += 1
                    if rows > max_items:
                        errors.add(
                            record.line, "(file)", f"more than {max_items} items (IMPORT_MAX_ITEMS)"
                        )
                        break
                    copy.write_row((record.line, ids.next(), record.raw or _encode(record)))
                    if rows % 2000 == 0:
                        progress.maybe(rows, items_processed=rows, bytes_processed=stream.count)
            if errors.count:
                raise ImportFailed(errors)
            if rows == 0:
                errors.add(None, "(file)", "the file holds no items")
                raise ImportFailed(errors)
            progress.write(items_processed=rows, bytes_processed=stream.count)
            _check_external_ids(cursor, job, errors)
            if errors.count:
                raise ImportFailed(errors)
            try:
                with transaction.atomic():
                    cursor.execute(_INSERT, [job.tenant_id, job.project_id, job.dataset_id])
            except IntegrityError:
                errors.add(
                    None,
                    "external_id",
                    "an item with one of these external ids was "
                    "imported into the project meanwhile; retry the import",
                )
                raise ImportFailed(errors) from None
    return rows


def _encode(record: Record) -> str:
    return json.dumps(
        {"external_id": record.external_id, "priority": record.priority, "data": record.data},
        ensure_ascii=False,
    )


def _check_external_ids(cursor: Any, job: ImportJob, errors: _Errors) -> None:
    cap = settings.IMPORT_MAX_REPORTED_ERRORS
    cursor.execute(
        f"""
        SELECT ext, array_agg(line ORDER BY line)
          FROM (SELECT line, {_EXTERNAL_ID} AS ext FROM import_staging) s
         WHERE ext <> '' GROUP BY ext HAVING count(*) > 1
         ORDER BY min(line) LIMIT %s
        """,
        [cap],
    )
    for external_id, lines in cursor.fetchall():
        errors.add(lines[1], "external_id", f"{external_id!r} repeats line {lines[0]}")
    cursor.execute(
        f"""
        SELECT s.line, s.ext
          FROM (SELECT line, {_EXTERNAL_ID} AS ext FROM import_staging) s
          JOIN annotate_item i ON i.tenant_id = %s AND i.project_id = %s AND i.external_id = s.ext
         WHERE s.ext <> '' ORDER BY s.line LIMIT %s
        """,
        [job.tenant_id, job.project_id, cap],
    )
    for line, external_id in cursor.fetchall():
        errors.add(line, "external_id", f"{external_id!r} already exists in this project")
