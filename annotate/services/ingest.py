"""The worker side of dataset imports: ingest one upload, whole or not at all, exactly once.

How (docs/imports.md):

* the whole ingest is **one transaction**: a thread parses and validates the upload into
  batches; each is COPYed (psycopg 3) into a temporary staging table (COPY cannot write into a
  table under row-level security) and moved into ``annotate_item`` with one ``INSERT …
  SELECT`` that RLS's WITH CHECK still guards, while the thread parses the next. The unique
  index refuses duplicate external ids; only then is the file read again to name them with
  their lines. Items appear only on commit;
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
import contextvars
import hashlib
import json
import logging
import posixpath
import queue
import sys
import threading
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
from annotate.services.distribution import queue_rewound
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
  FROM import_staging
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
) -> Iterator[tuple[_CountingReader, Iterator[Record | RecordError], int]]:
    """The upload's records: the file itself, or the manifest of a ZIP archive; and a bound
    on their line numbers (a line, or a JSON item, takes at least one byte)."""
    if job.format != ImportJob.Format.ZIP:
        with storage.open(job.blob_key) as blob:
            stream = _CountingReader(blob)
            yield stream, _records(job, stream, job.format), job.bytes_total + 1  # type: ignore[arg-type]
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
        info = files[manifests[0]]
        with archive.open(info) as manifest:
            records = _records(job, manifest, MANIFESTS[manifests[0]])  # type: ignore[arg-type]
            yield stream, records, info.file_size + 1


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
    """Parse in a thread, insert in this one: batch k goes into ``annotate_item`` while batch
    k+1 is parsed, all in this connection's one transaction (docs/imports.md, "Pipeline").

    The unique index on (tenant, project, external_id) refuses any duplicate as it is
    inserted. Only then, on the failure path, is the file read again to name every duplicate
    with its lines, as a sequential staging of the whole file (``_report_duplicates``)."""
    clock = time.perf_counter()
    with (
        _open_records(job, storage, media, errors) as (stream, records, max_lines),
        connection.cursor() as cursor,
    ):
        cursor.execute("DROP TABLE IF EXISTS pg_temp.import_staging")
        cursor.execute(STAGING)
        # The item's foreign key is checked per row when each batch's INSERT ends (while the
        # next batch is parsed), not all at once at commit. Still checked by the database.
        cursor.execute(f"SET CONSTRAINTS {ITEM_FOREIGN_KEY} IMMEDIATE")
        project = job.project
        random_order = project.ordering == project.Ordering.RANDOM
        # Queue positions are reserved before the first batch, so one per possible line (a
        # line has at least one byte); unused ones are a gap, as a failed import's are.
        base = progress.reserve_positions(job.project_id, max_lines)
        params = {
            "tenant": job.tenant_id,
            "project": job.project_id,
            "dataset": job.dataset_id,
            "random": random_order,
            "seed": project.random_seed,
            "base": base,
        }
        timing = {"copy": 0.0, "insert": 0.0, "wait": 0.0}
        with _Parser(records, stream, schema, media, errors) as parser:
            try:
                with transaction.atomic():  # a savepoint: a duplicate undoes every batch
                    for batch in parser.batches(timing):
                        started = time.perf_counter()
                        cursor.execute("TRUNCATE import_staging")
                        with cursor.copy(_COPY_STAGING) as copy:
                            for chunk in batch.data:
                                copy.write(chunk)
                        copied = time.perf_counter()
                        cursor.execute(_INSERT, params)
                        timing["copy"] += copied - started
                        timing["insert"] += time.perf_counter() - copied
                        progress.maybe(items_processed=batch.rows, bytes_processed=batch.bytes)
            except IntegrityError as exc:
                constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "")
                if constraint != "item_external_id_unique":
                    raise
                parser.drain()  # errors in the rest of the file come first, as before
                if not errors.count:
                    _report_duplicates(job, storage, media, errors, schema, cursor)
                raise ImportFailed(errors) from None
            rows = parser.rows
        if errors.count:
            raise ImportFailed(errors)
        if rows == 0:
            errors.add(None, "(file)", "the file holds no items")
            raise ImportFailed(errors)
        # New items may sort before where annotators have got to (a higher priority, or a
        # random key): queue positions recorded before this commits no longer count.
        queue_rewound(tenant_id=job.tenant_id, project_id=job.project_id)
        progress.write(items_processed=rows, bytes_processed=stream.count)
        logger.info(
            "import %s: %d items in %.2f s; parse+validate %.2f s (thread), COPY to staging "
            "%.2f s, insert %.2f s, waiting for the parser %.2f s",
            job.id,
            rows,
            time.perf_counter() - clock,
            parser.busy,
            timing["copy"],
            timing["insert"],
            timing["wait"],
        )
    return rows


ITEM_FOREIGN_KEY = "annotate_item_dataset_tenant_fk"  # annotate migration 0004
_COPY_NULL = "\\N"
_COPY_STAGING = "COPY import_staging (line, id, doc, media) FROM STDIN"
# Rows per batch, and bytes: big enough that statement overheads vanish, small enough that
# the first batch (parsed before any insert can start) and the last (inserted after the
# parser is done) are short. At most _QUEUED batches wait between the threads.
BATCH_ROWS = 10_000
FIRST_BATCH_ROWS = 1_000  # then doubling up to BATCH_ROWS: the database starts sooner
BATCH_BYTES = 4 * 1024**2
_QUEUED = 2
# A batch travels as chunks of at most this many rows (some 80 kB): buffers of megabytes,
# allocated and freed over and over, made the allocator keep more memory as N grew (worker
# peak 111 MiB at 100,000 items, 129 MiB at 2,000,000; flat with chunks).
_CHUNK_ROWS = 256
_SWITCH_INTERVAL = 0.0002  # seconds (the interpreter's default is 0.005)


def _copy_text(value: str) -> str:
    """A value in COPY's text format."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if "\n" in value or "\r" in value or "\t" in value:
        value = value.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return value


@dataclass
class _Batch:
    data: list[bytes]  # COPY text rows for import_staging, in chunks of _CHUNK_ROWS
    rows: int  # rows parsed so far, this batch included
    bytes: int  # bytes of the upload read so far


class _ParserStopped(Exception):
    pass


_END = object()


class _Parser:
    """Reads, validates and encodes records in a thread, as COPY batches for the main thread.

    Validation is the one of the sequential ingest: the first error stops the output (nothing
    more is written), the rest of the file is still read to report its errors. The thread is
    stopped and joined however the ``with`` block ends; the queue bounds memory."""

    def __init__(
        self,
        records: Iterator[Record | RecordError],
        stream: _CountingReader,
        schema: dict[str, Any],
        media: _MediaStore,
        errors: _Errors,
        *,
        emit: bool = True,
    ) -> None:
        self.records, self.stream, self.schema, self.media, self.errors = (
            records,
            stream,
            schema,
            media,
            errors,
        )
        self.emit = emit
        self.rows = 0
        self.busy = 0.0  # seconds the thread spent parsing (not waiting for room)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=_QUEUED)
        self._stop = threading.Event()
        context = contextvars.copy_context()  # the tenant context, for media storage
        self._thread = threading.Thread(
            target=context.run, args=(self._run,), name="import-parser", daemon=True
        )

    def __enter__(self) -> _Parser:
        # The main thread mostly waits on the socket; each time it wakes (every COPY chunk,
        # every statement) it needs the GIL back from the busy parser, which by default
        # hands it over only every 5 ms: COPYing 100,000 items took 0.96 s instead of 0.32 s.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(_SWITCH_INTERVAL)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)  # make room, so a blocked put sees the stop
        self._thread.join()
        sys.setswitchinterval(self._switch_interval)

    def batches(self, timing: dict[str, float] | None = None) -> Iterator[_Batch]:
        while True:
            started = time.perf_counter()
            item = self._queue.get()
            if timing is not None:
                timing["wait"] += time.perf_counter() - started
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def drain(self) -> None:
        """Let the thread read to the end (to report errors), dropping its batches."""
        self.emit = False
        for _ in self.batches():
            pass

    def _put(self, item: object) -> None:
        while True:
            if self._stop.is_set():
                raise _ParserStopped
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        try:
            self._parse()
            self._put(_END)
        except _ParserStopped:
            return
        except BaseException as exc:  # handed to the main thread, which raises it
            with contextlib.suppress(_ParserStopped):
                self._put(exc)

    def _parse(self) -> None:
        errors, schema, media = self.errors, self.schema, self.media
        max_items = settings.IMPORT_MAX_ITEMS
        ids = Uuid7Sequence()
        out: list[str] = []  # rows of the chunk being built
        chunks: list[bytes] = []  # chunks of the batch being built
        rows = size = 0
        batch_rows = min(FIRST_BATCH_ROWS, BATCH_ROWS)
        started = time.perf_counter()
        for record in self.records:
            if self._stop.is_set():
                raise _ParserStopped
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
                out.clear()
                chunks.clear()
                continue  # keep reading to report errors; nothing more to write
            self.rows += 1
            if self.rows > max_items:
                errors.add(record.line, "(file)", f"more than {max_items} items (IMPORT_MAX_ITEMS)")
                break
            if not self.emit:
                continue
            doc = _copy_text(record.raw or _encode(record))
            refs_text = _copy_text(json.dumps(refs)) if refs else _COPY_NULL
            row = f"{record.line}\t{ids.next()}\t{doc}\t{refs_text}\n"
            out.append(row)
            rows += 1
            size += len(row)
            if len(out) >= _CHUNK_ROWS:
                chunks.append("".join(out).encode())
                out.clear()
            if rows >= batch_rows or size >= BATCH_BYTES:
                batch_rows = min(batch_rows * 2, BATCH_ROWS)
                if out:
                    chunks.append("".join(out).encode())
                    out.clear()
                self.busy += time.perf_counter() - started
                self._put(_Batch(chunks, self.rows, self.stream.count))
                chunks, rows, size = [], 0, 0
                started = time.perf_counter()
        self.busy += time.perf_counter() - started
        if rows and not errors.count and self.emit:
            if out:
                chunks.append("".join(out).encode())
            self._put(_Batch(chunks, self.rows, self.stream.count))


def _report_duplicates(
    job: ImportJob,
    storage: TenantStorage,
    media: _MediaStore,
    errors: _Errors,
    schema: dict[str, Any],
    cursor: Any,
) -> None:
    """The failure path of a duplicate external id: read the whole file again into staging
    (nothing is inserted) and name each duplicate with its lines, as the sequential ingest
    did. When none is found, a concurrent import took an id meanwhile."""
    cursor.execute("TRUNCATE import_staging")
    with (
        _open_records(job, storage, media, errors) as (stream, records, _),
        _Parser(records, stream, schema, media, errors) as parser,
    ):
        for batch in parser.batches():
            with cursor.copy(_COPY_STAGING) as copy:
                for chunk in batch.data:
                    copy.write(chunk)
    if not errors.count:
        _check_external_ids(cursor, job, errors)
    if not errors.count:
        errors.add(
            None,
            "external_id",
            "an item with one of these external ids was imported into the project "
            "meanwhile; retry the import",
        )


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
