"""Project exports: the request side (``project_export_create``) and the worker side
(``project_export_run``).

Guarantees of the worker side (docs/export.md):

* the file is read from one SQL statement (one snapshot) streamed out of PostgreSQL with
  ``COPY … TO STDOUT`` and through encryption into the tenant's storage in blocks of about
  ``FLUSH_BYTES``: memory is flat in the number of items, and the blob appears under its key
  only once complete;
* progress (state, items written / total, bytes, attempts) is written through the ``progress``
  connection, so it is visible while the worker's transaction is open;
* the run's access event, the ``succeeded`` state and the ``export.ready`` webhook deliveries
  commit together; a worker killed mid-run leaves the export ``running`` with nothing
  downloadable, and the redelivered task (late acknowledgement) starts it over;
* a transaction-scoped advisory lock keeps two deliveries from building one export at once,
  and a finished export is never built again.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
import zlib
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql

from annotate.exports.models import ProjectExport
from annotate.exports.queries import csv_cell, csv_header, csv_query, jsonl_query
from annotate.models import Item, Project
from annotate.webhooks.services import webhook_emit
from tenants.audit import Actor, audit_record
from tenants.models import Membership
from tenants.scoping import tenant_context
from tenants.storage import TenantStorage

logger = logging.getLogger(__name__)

FLUSH_BYTES = 1 << 20
PROGRESS_EVERY_SECONDS = 0.5
TERMINAL = (ProjectExport.State.SUCCEEDED, ProjectExport.State.FAILED)
CONTENT_TYPES = {
    ProjectExport.Format.JSONL: "application/x-ndjson",
    ProjectExport.Format.CSV: "text/csv; charset=utf-8",
}


# -- request side --------------------------------------------------------------------------------


@transaction.atomic
def project_export_create(*, project: Project, membership: Membership, fmt: str) -> ProjectExport:
    """Record a queued export of ``project`` in ``fmt`` and enqueue its run after commit."""
    assert project.tenant_id == membership.tenant_id
    if fmt not in ProjectExport.Format.values:
        raise ValueError(f"unknown export format {fmt!r}")
    export = ProjectExport.objects.create(
        tenant_id=project.tenant_id, project=project, format=fmt, created_by_id=membership.user_id
    )
    from workers.tasks.exports import project_export_run_task

    tenant_id, export_id = str(project.tenant_id), str(export.id)
    transaction.on_commit(lambda: project_export_run_task.delay(tenant_id, export_id))
    return export


def export_filename(export: ProjectExport) -> str:
    return f"project-{str(export.project_id)[:8]}-export-{str(export.id)[:8]}.{export.format}"


# -- worker side ---------------------------------------------------------------------------------


class _Progress:
    """Writes through the ``progress`` connection: committed at once, visible while the export's
    transaction is still open, and kept if that transaction rolls back."""

    def __init__(self, tenant_id: uuid.UUID, export_id: uuid.UUID) -> None:
        self.tenant_id, self.export_id = tenant_id, export_id
        self._last = 0.0

    def write(self, **fields: Any) -> None:
        with tenant_context(self.tenant_id, using="progress"):
            ProjectExport.objects.using("progress").filter(id=self.export_id).update(**fields)
        self._last = time.monotonic()

    def maybe(self, **fields: Any) -> None:
        if time.monotonic() - self._last > PROGRESS_EVERY_SECONDS:
            self.write(**fields)


# Advisory locks of exports use the two-int4 key form with this class; PostgreSQL keeps it
# apart from the single-bigint keys (imports use those).
LOCK_CLASS = 0x45585054  # "EXPT"


def _lock_key(export_id: uuid.UUID) -> int:
    return zlib.crc32(export_id.bytes) - 2**31


def project_export_run(*, tenant_id: uuid.UUID, export_id: uuid.UUID, actor: Actor) -> str:
    """Build one export, once. Returns the export's final (or current) state."""
    published: str | None = None  # the blob's key once it is stored
    try:
        with tenant_context(tenant_id):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_try_advisory_xact_lock(%s, %s)", [LOCK_CLASS, _lock_key(export_id)]
                )
                if not cursor.fetchone()[0]:
                    return "busy"  # another delivery of this task is building it right now
            export = ProjectExport.objects.select_related("project").filter(id=export_id).first()
            if export is None:
                return "missing"  # deleted with its project before the worker got to it
            if export.state in TERMINAL:
                return export.state
            progress = _Progress(tenant_id, export_id)
            started = timezone.now()
            attempts = export.attempts + 1
            total = Item.objects.filter(project_id=export.project_id).count()
            progress.write(
                state=ProjectExport.State.RUNNING,
                attempts=attempts,
                started_at=started,
                items_total=total,
                items_written=0,
                rows_written=0,
                bytes_written=0,
                errors=[],
            )
            clock = time.perf_counter()
            storage = TenantStorage(tenant_id)
            name = f"exports/{export.id}/{export_filename(export)}"
            with storage.open_writer(name, CONTENT_TYPES[export.format]) as writer:
                items, rows = _stream(export, writer, progress)
            ref = writer.ref
            assert ref is not None
            published = ref.key
            ProjectExport.objects.filter(id=export_id).update(
                state=ProjectExport.State.SUCCEEDED,
                attempts=attempts,
                started_at=started,
                finished_at=timezone.now(),
                items_total=items,
                items_written=items,
                rows_written=rows,
                bytes_written=ref.size,
                blob_key=ref.key,
                content_sha256=ref.sha256,
                errors=[],
            )
            audit_record(
                tenant_id=tenant_id,
                actor=actor,
                action="export.run",
                resource_type="project_export",
                resource_id=export_id,
                detail={
                    "project": str(export.project_id),
                    "format": export.format,
                    "items": items,
                    "rows": rows,
                    "bytes": ref.size,
                    "sha256": ref.sha256,
                },
            )
            webhook_emit(
                tenant_id=tenant_id,
                event="export.ready",
                project_id=export.project_id,
                payload={
                    "export_id": export_id,
                    "project_id": export.project_id,
                    "format": export.format,
                    "items": items,
                    "bytes": ref.size,
                    "sha256": ref.sha256,
                },
            )
        logger.info(
            "export %s (%s): %d items, %d rows, %d bytes in %.2f s",
            export_id,
            export.format,
            items,
            rows,
            ref.size,
            time.perf_counter() - clock,
        )
        return ProjectExport.State.SUCCEEDED
    except Exception as exc:
        # Keep nothing downloadable, say so in the export and the log, and let the error reach
        # the worker's log. The client may start another export.
        logger.exception("export %s failed", export_id)
        with contextlib.suppress(Exception):
            _record_failure(tenant_id, export_id, actor, exc, published)
        raise


def export_plan_settings(cursor: Any) -> None:
    """Hold the export's statement to the plan it was written for (``queries.py``): a nested
    loop of index lookups per item, whatever the statistics say. Right after a bulk of
    annotations, before autovacuum analyzes them, statistics that still call the table empty
    made PostgreSQL scan the whole annotation table once per item (quadratic). Transaction-
    local: the settings end with the export's transaction."""
    cursor.execute(
        "SELECT set_config('enable_seqscan', 'off', true), "
        "set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)"
    )


def _stream(export: ProjectExport, writer: Any, progress: _Progress) -> tuple[int, int]:
    """Write the file; returns (items, rows).

    One statement, ``COPY (SELECT …) TO STDOUT``: PostgreSQL builds each line and pushes rows
    into the socket while this process encrypts and writes the previous ones, so the database
    and the worker run side by side on two cores (a server-side cursor would alternate: fetch,
    then write). Lines are gathered into ``FLUSH_BYTES`` blocks before each write.
    """
    tenant_id, project_id = export.tenant_id, export.project_id
    raw = connection.connection  # the psycopg connection, inside this task's transaction
    with raw.cursor() as cursor:
        export_plan_settings(cursor)
        if export.format == ProjectExport.Format.CSV:
            return _stream_csv(export, cursor, writer, progress)
        query = jsonl_query(tenant_id=tenant_id, project_id=project_id)
        # TRICKY: COPY's text format would escape the backslashes of JSON. CSV format with a
        # delimiter and a quote character that JSON text cannot contain (it escapes every
        # control character) passes each line through byte for byte, newline-terminated.
        copy_sql = sql.SQL(
            "COPY ({}) TO STDOUT WITH (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')"
        ).format(query)
        items = size = 0
        block = bytearray()
        with cursor.copy(copy_sql) as copy:
            for data in copy:
                block += data
                if len(block) >= FLUSH_BYTES:
                    items += _write_jsonl_block(writer, block)
                    size += len(block)
                    block.clear()
                    progress.maybe(items_written=items, rows_written=items, bytes_written=size)
        items += _write_jsonl_block(writer, block)
        return items, items


def _write_jsonl_block(writer: Any, block: bytearray) -> int:
    if b"\x01" in block:  # COPY quoted a value: it was not one line of JSON
        raise RuntimeError("unexpected control character in a JSONL export line")
    writer.write(block)
    return block.count(b"\n")


def _stream_csv(
    export: ProjectExport, cursor: Any, writer: Any, progress: _Progress
) -> tuple[int, int]:
    schema = export.project.label_schema
    query = csv_query(tenant_id=export.tenant_id, project_id=export.project_id, schema=schema)
    header = (",".join(csv_cell(h) for h in csv_header(schema)) + "\r\n").encode()
    writer.write(header)
    items = rows = 0
    size = len(header)
    last_item: str | None = None
    lines: list[str] = []
    pending = 0
    # Binary COPY: a record may hold line breaks inside quoted cells, which any text format
    # would escape or quote; here each (item id, record) arrives as it is.
    with cursor.copy(sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(query)) as copy:
        copy.set_types(["text", "text"])
        for item_id, line in copy.rows():
            if item_id != last_item:
                items += 1
                last_item = item_id
            lines.append(line)
            pending += len(line)
            if pending >= FLUSH_BYTES:
                size += _write_csv_lines(writer, lines)
                rows += len(lines)
                lines.clear()
                pending = 0
                progress.maybe(items_written=items, rows_written=rows, bytes_written=size)
    _write_csv_lines(writer, lines)
    return items, rows + len(lines)


def _write_csv_lines(writer: Any, lines: list[str]) -> int:
    if not lines:
        return 0
    data = ("\r\n".join(lines) + "\r\n").encode()
    writer.write(data)
    return len(data)


def _record_failure(
    tenant_id: uuid.UUID,
    export_id: uuid.UUID,
    actor: Actor,
    exc: Exception,
    published: str | None,
) -> None:
    message = "internal error while exporting; nothing was written"
    with tenant_context(tenant_id):
        if published is not None:  # stored, but the run did not commit: keep no orphan
            TenantStorage(tenant_id).delete(published)
        ProjectExport.objects.filter(id=export_id).update(
            state=ProjectExport.State.FAILED,
            errors=[{"message": message, "error": type(exc).__name__}],
            finished_at=timezone.now(),
        )
        audit_record(
            tenant_id=tenant_id,
            actor=actor,
            action="export.run",
            resource_type="project_export",
            resource_id=export_id,
            outcome="failed",
            reason=f"{type(exc).__name__}; nothing was written",
        )
