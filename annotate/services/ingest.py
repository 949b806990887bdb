"""The worker side of dataset imports: ingest one upload, whole or not at all, exactly once.

How (docs/imports.md):

* the whole ingest is **one transaction**: rows are streamed with COPY (psycopg 3) into a
  temporary staging table (COPY cannot write into a table under row-level security), checked
  there (duplicates, clashes with existing external ids), then moved into ``annotate_item``
  with one ``INSERT … SELECT`` that RLS's WITH CHECK still guards. Items appear only on commit;
* progress is written through a second connection (alias ``progress``), so it is visible while
  the import runs and survives a rollback;
* a worker killed mid-import (even ``kill -9``) loses its connection, PostgreSQL rolls the
  transaction back, and the redelivered task starts over; a transaction-scoped advisory lock
  keeps two deliveries from ingesting at once, and a finished job is never run twice;
* a ZIP upload carries a manifest (JSONL, JSON or CSV) and media files; each referenced image
  is checked (type from its content, pixel count) and stored encrypted, once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import posixpath
import time
import uuid
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from annotate.formats.media import (
    EXTENSIONS,
    MANIFESTS,
    ArchiveError,
    check_archive,
    safe_name,
    sniff_image,
)
from annotate.formats.media import Limits as ArchiveLimits
from annotate.formats.readers import (
    Limits,
    Record,
    RecordError,
    read_csv,
    read_json_array,
    read_jsonl,
)
from annotate.label_schema import item_data_errors
from annotate.label_schema.results import result_errors
from annotate.models import ImportJob
from annotate.services.queue import RANDOM_QUEUE_KEY_SQL
from annotate.webhooks.services import webhook_emit
from tenants.audit import Actor, audit_record
from tenants.ids import Uuid7Sequence
from tenants.scoping import tenant_context
from tenants.storage import TenantStorage

logger = logging.getLogger(__name__)

PROGRESS_EVERY_SECONDS = 0.5
TERMINAL = (ImportJob.State.SUCCEEDED, ImportJob.State.FAILED)


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

    def reserve_positions(self, project_id: uuid.UUID, count: int) -> int:
        """Reserve ``count`` import positions in the project (committed at once, so imports of
        one project never wait on each other; a failed import leaves a harmless gap).
        Returns the position before the first reserved one."""
        with (
            tenant_context(self.tenant_id, using="progress"),
            connections["progress"].cursor() as cursor,
        ):
            cursor.execute(
                "UPDATE annotate_project SET item_positions = item_positions + %s "
                "WHERE id = %s RETURNING item_positions - %s",
                [count, project_id, count],
            )
            return cursor.fetchone()[0]

    def maybe(self, **fields: Any) -> None:
        """Write at most every PROGRESS_EVERY_SECONDS (a write is a short transaction)."""
        if time.monotonic() - self._last > PROGRESS_EVERY_SECONDS:
            self.write(**fields)


def _lock_key(job_id: uuid.UUID) -> int:
    return zlib.crc32(job_id.bytes) - 2**31


# One row per record, as the client sent it; ``_INSERT`` takes it apart in SQL, so JSONL lines
# travel from the file to PostgreSQL without being re-encoded in Python.
STAGING = """
CREATE TEMP TABLE import_staging (
    line bigint NOT NULL, id uuid NOT NULL, doc jsonb NOT NULL, media jsonb
) ON COMMIT DROP
"""
# Same rules as annotate.formats.readers._split_record, which validated every record already.
_EXTERNAL_ID = "coalesce(doc->>'external_id', '')"
_INSERT = f"""
INSERT INTO annotate_item (tenant_id, id, project_id, dataset_id, external_id, data, media,
                           priority, status, seq, queue_key, slots_taken, done_count,
                           gold_result, created_at)
SELECT %(tenant)s, id, %(project)s, %(dataset)s, {_EXTERNAL_ID},
       CASE WHEN jsonb_typeof(doc->'data') = 'object' THEN doc->'data'
            ELSE doc - 'external_id' - 'priority' - 'gold' END,
       coalesce(media, '[]'::jsonb), coalesce((doc->>'priority')::integer, 0),
       CASE WHEN jsonb_typeof(doc->'gold') = 'object' THEN 'gold' ELSE 'new' END, line,
       CASE WHEN %(random)s THEN {RANDOM_QUEUE_KEY_SQL.format(seed="%(seed)s", id="id")}
            ELSE %(base)s + line END,
       0, 0, CASE WHEN jsonb_typeof(doc->'gold') = 'object' THEN doc->'gold' END, now()
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
            commit_started = time.perf_counter()
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
            webhook_emit(
                tenant_id=tenant_id,
                event="import.finished",
                project_id=job.project_id,
                payload={
                    "import_id": import_id,
                    "dataset_id": job.dataset_id,
                    "state": ImportJob.State.SUCCEEDED,
                    "items": total,
                    "error_count": 0,
                },
            )
        logger.info(
            "import %s committed in %.2f s", import_id, time.perf_counter() - commit_started
        )
        return ImportJob.State.SUCCEEDED
    except ImportFailed as failure:
        _record_failure(tenant_id, import_id, actor, failure.errors)
        return ImportJob.State.FAILED
    except Exception:
        # Not the client's fault: say so, keep nothing, and let the error reach the logs. The
        # client may start the import again (a new Idempotency-Key, or none).
        logger.exception("import %s failed unexpectedly", import_id)
        errors = _Errors(cap=1, filename="")
        errors.add(None, "(import)", "internal error while ingesting; nothing was imported")
        with contextlib.suppress(Exception):
            _record_failure(tenant_id, import_id, actor, errors)
        raise


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
        job = ImportJob.objects.values("project_id", "dataset_id").get(id=import_id)
        webhook_emit(
            tenant_id=tenant_id,
            event="import.finished",
            project_id=job["project_id"],
            payload={
                "import_id": import_id,
                "dataset_id": job["dataset_id"],
                "state": ImportJob.State.FAILED,
                "items": 0,
                "error_count": errors.count,
            },
        )


# -- reading the upload ------------------------------------------------------------------------


def _records(job: ImportJob, stream: IO[bytes], fmt: str) -> Iterator[Record | RecordError]:
    limits = Limits(
        max_line_bytes=settings.IMPORT_MAX_LINE_BYTES, max_depth=settings.JSON_MAX_DEPTH
    )
    if fmt == ImportJob.Format.JSONL:
        return read_jsonl(stream, limits)
    if fmt == ImportJob.Format.JSON:
        return read_json_array(stream, limits)
    required = {
        name
        for name, spec in job.project.label_schema.get("data", {}).items()
        if spec.get("required", True)
    }
    return read_csv(stream, limits, required_columns=required)


def _archive_limits() -> ArchiveLimits:
    return ArchiveLimits(
        max_files=settings.IMPORT_ZIP_MAX_FILES,
        max_total_bytes=settings.IMPORT_ZIP_MAX_TOTAL_BYTES,
        max_ratio=settings.IMPORT_ZIP_MAX_RATIO,
        max_file_bytes=settings.IMPORT_MEDIA_MAX_BYTES,
    )


class _MediaStore:
    """Media files of a ZIP import: each referenced file is checked (type from its content,
    pixel count) and stored encrypted in the tenant's storage, once."""

    def __init__(
        self, storage: TenantStorage, job: ImportJob, schema: dict[str, Any], errors: _Errors
    ) -> None:
        self.storage, self.job, self.errors = storage, job, errors
        self.fields = [
            name for name, spec in schema.get("data", {}).items() if spec.get("type") == "image"
        ]
        self.archive: zipfile.ZipFile | None = None
        self.files: dict[str, zipfile.ZipInfo] = {}
        self.stored: dict[str, dict[str, Any]] = {}
        self.refused: set[str] = set()

    def attach(self, archive: zipfile.ZipFile, files: dict[str, zipfile.ZipInfo]) -> None:
        self.archive, self.files = archive, files

    def refs_for(self, record: Record) -> list[dict[str, Any]] | None:
        """The record's media references, or None when one is unusable (the error is recorded
        against the record's line and field)."""
        refs = []
        for field_name in self.fields:
            value = record.data.get(field_name)
            if value is None:
                continue
            where = f"data.{field_name}"
            if self.archive is None:
                self.errors.add(
                    record.line, where, "image fields need a ZIP import holding the images"
                )
                return None
            name = safe_name(str(value))
            if name is None or name not in self.files:
                self.errors.add(
                    record.line, where, f"{str(value)[:200]!r} is not a file in the archive"
                )
                return None
            if name in self.refused:
                self.errors.add(
                    record.line, where, f"{name}: refused (see the first error about it)"
                )
                return None
            ref = self.stored.get(name) or self._store(name, record.line, where)
            if ref is None:
                self.refused.add(name)
                return None
            refs.append({"field": field_name, **ref})
        return refs

    def _store(self, name: str, line: int, where: str) -> dict[str, Any] | None:
        assert self.archive is not None
        expected = EXTENSIONS.get(posixpath.splitext(name)[1].lower())
        digest = hashlib.sha256(name.encode()).hexdigest()[:32]
        blob_name = f"imports/{self.job.id}/media/{digest}"
        with self.archive.open(self.files[name]) as source:
            head = source.read(64 * 1024)
            actual = sniff_image(head)
            if expected is None or actual != expected:
                what = actual or "not a PNG, JPEG, GIF or WebP image"
                self.errors.add(
                    line,
                    where,
                    f"{name}: the content ({what}) does not match the file name; images must "
                    "be PNG, JPEG, GIF or WebP",
                )
                return None
            with self.storage.open_writer(blob_name, actual) as writer:
                writer.write(head)
                while chunk := source.read(1024 * 1024):
                    writer.write(chunk)
        ref = writer.ref
        assert ref is not None
        stored = {
            "name": name,
            "key": ref.key,
            "content_type": actual,
            "size": ref.size,
            "sha256": ref.sha256,
        }
        self.stored[name] = stored  # registered first, so a refusal below still cleans it up
        try:
            with self.storage.open(ref.key) as image_stream:
                width, height = _image_size(image_stream)
        except ValueError as exc:
            self.errors.add(line, where, f"{name}: {exc}")
            return None
        if width * height > settings.IMAGE_MAX_PIXELS:
            self.errors.add(
                line,
                where,
                f"{name}: {width}x{height} pixels exceed the limit of "
                f"{settings.IMAGE_MAX_PIXELS} (IMAGE_MAX_PIXELS)",
            )
            return None
        stored.update(width=width, height=height)
        return stored

    def discard(self) -> None:
        for ref in self.stored.values():
            with contextlib.suppress(Exception):
                self.storage.delete(ref["key"])
        self.stored.clear()


def _image_size(stream: IO[bytes]) -> tuple[int, int]:
    """Width and height from the image header, without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream) as image:
                return image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError("too many pixels to open safely (IMAGE_MAX_PIXELS)") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"not a readable image: {exc}") from None


@contextlib.contextmanager
def _open_records(
    job: ImportJob, storage: TenantStorage, media: _MediaStore, errors: _Errors
) -> Iterator[tuple[_CountingReader, Iterator[Record | RecordError]]]:
    """The upload's records: the file itself, or the manifest of a ZIP archive."""
    if job.format != ImportJob.Format.ZIP:
        with storage.open(job.blob_key) as blob:
            stream = _CountingReader(blob)
            yield stream, _records(job, stream, job.format)  # type: ignore[arg-type]
        return
    with storage.open_seekable(job.blob_key) as blob:
        stream = _CountingReader(blob)
        try:
            archive = zipfile.ZipFile(blob)  # type: ignore[arg-type]
            files = check_archive(archive, _archive_limits())
        except zipfile.BadZipFile as exc:
            errors.add(None, "(archive)", f"not a readable ZIP archive: {exc}")
            raise ImportFailed(errors) from None
        except ArchiveError as exc:
            errors.add(None, exc.name, exc.message)
            raise ImportFailed(errors) from None
        manifests = [name for name in MANIFESTS if name in files]
        if len(manifests) != 1:
            errors.add(
                None,
                "(archive)",
                "the archive must hold exactly one manifest at its root: " + ", ".join(MANIFESTS),
            )
            raise ImportFailed(errors)
        media.attach(archive, files)
        errors.filename = manifests[0]
        with archive.open(files[manifests[0]]) as manifest:
            yield stream, _records(job, manifest, MANIFESTS[manifests[0]])  # type: ignore[arg-type]


# -- the ingest ---------------------------------------------------------------------------------


def _ingest(job: ImportJob, progress: _Progress) -> int:
    errors = _Errors(cap=settings.IMPORT_MAX_REPORTED_ERRORS, filename=job.filename)
    schema = job.project.label_schema
    storage = TenantStorage(job.tenant_id)
    # NOTE: media files are stored while the COPY holds the connection, so the tenant's key
    # must be in hand before it starts (no query can run on a connection in COPY mode).
    storage.preload_key()
    media = _MediaStore(storage, job, schema, errors)
    try:
        return _ingest_records(job, progress, errors, schema, storage, media)
    except BaseException:
        media.discard()  # a failed (or killed-then-failing) import keeps none of its media
        raise


def _ingest_records(
    job: ImportJob,
    progress: _Progress,
    errors: _Errors,
    schema: dict[str, Any],
    storage: TenantStorage,
    media: _MediaStore,
) -> int:
    max_items = settings.IMPORT_MAX_ITEMS
    ids = Uuid7Sequence()
    rows = 0
    clock = time.perf_counter()
    with (
        _open_records(job, storage, media, errors) as (stream, records),
        connection.cursor() as cursor,
    ):
        cursor.execute("DROP TABLE IF EXISTS pg_temp.import_staging")
        cursor.execute(STAGING)
        with cursor.copy("COPY import_staging (line, id, doc, media) FROM STDIN") as copy:
            for record in records:
                if isinstance(record, RecordError):
                    errors.add(record.line, record.field, record.message)
                    if record.fatal:
                        break
                    continue
                for field_name, message in item_data_errors(schema, record.data):
                    errors.add(record.line, f"data.{field_name}", message)
                if record.gold is not None:
                    for field_name, message in result_errors(schema, record.gold, record.data):
                        errors.add(record.line, field_name.replace("result", "gold", 1), message)
                refs = media.refs_for(record) if media.fields and not errors.count else None
                if errors.count:
                    continue  # keep reading to report errors; nothing more to write
                rows += 1
                if rows > max_items:
                    errors.add(
                        record.line, "(file)", f"more than {max_items} items (IMPORT_MAX_ITEMS)"
                    )
                    break
                copy.write_row(
                    (
                        record.line,
                        ids.next(),
                        record.raw or _encode(record),
                        json.dumps(refs) if refs else None,
                    )
                )
                if rows % 2000 == 0:
                    progress.maybe(items_processed=rows, bytes_processed=stream.count)
        if errors.count:
            raise ImportFailed(errors)
        if rows == 0:
            errors.add(None, "(file)", "the file holds no items")
            raise ImportFailed(errors)
        progress.write(items_processed=rows, bytes_processed=stream.count)
        copied = time.perf_counter()
        _check_external_ids(cursor, job, errors)
        checked = time.perf_counter()
        if errors.count:
            raise ImportFailed(errors)
        try:
            with transaction.atomic():
                base = progress.reserve_positions(job.project_id, rows)
                project = job.project
                cursor.execute(
                    _INSERT,
                    {
                        "tenant": job.tenant_id,
                        "project": job.project_id,
                        "dataset": job.dataset_id,
                        "random": project.ordering == project.Ordering.RANDOM,
                        "seed": project.random_seed,
                        "base": base,
                    },
                )
            logger.info(
                "import %s: %d items; read+validate+COPY %.2f s, id checks %.2f s, insert %.2f s",
                job.id,
                rows,
                copied - clock,
                checked - copied,
                time.perf_counter() - checked,
            )
        except IntegrityError as exc:
            constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "")
            if constraint != "item_external_id_unique":
                raise
            errors.add(
                None,
                "external_id",
                "an item with one of these external ids was imported into the project "
                "meanwhile; retry the import",
            )
            raise ImportFailed(errors) from None
    return rows


def _encode(record: Record) -> str:
    return json.dumps(
        {
            "external_id": record.external_id,
            "priority": record.priority,
            "data": record.data,
            **({"gold": record.gold} if record.gold is not None else {}),
        },
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
