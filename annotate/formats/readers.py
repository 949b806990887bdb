"""Streaming readers for imports: JSONL, JSON array and CSV.

Each reader takes a binary stream and yields ``Record`` or ``RecordError`` one at a time, so
memory stays flat whatever the file size. Errors name the line (JSONL, CSV) or the item index
(JSON array), the field and the limit.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import ijson

from tenants.api.parsers import json_depth_exceeds

RECORD_KEYS = {"external_id", "data", "priority", "gold"}
MAX_EXTERNAL_ID = 255


@dataclass(frozen=True)
class Record:
    line: int
    external_id: str
    priority: int
    data: dict[str, Any]
    # The whole record as JSON text, when it can be passed on without re-encoding (JSONL).
    raw: str | None = None
    # A known answer (a result in the label schema's shape): the item is a gold item.
    gold: dict[str, Any] | None = None


@dataclass(frozen=True)
class RecordError:
    line: int | None
    field: str
    message: str
    fatal: bool = False  # the rest of the file cannot be read


@dataclass
class Limits:
    max_line_bytes: int
    max_depth: int


def _depth_exceeds(text: str, obj: Any, limit: int) -> bool:
    # Cheap first: a document cannot nest deeper than its count of opening brackets.
    if text.count("{") + text.count("[") <= limit:
        return False
    return json_depth_exceeds(obj, limit)


def _split_record(obj: Any, line: int, raw: str | None = None) -> Record | RecordError:
    """Accept ``{"external_id", "data": {...}, "priority"}`` or a flat object whose keys are
    the data (with optional ``external_id`` / ``priority`` alongside)."""
    if not isinstance(obj, dict):
        return RecordError(line, "(record)", "must be a JSON object")
    if "data" in obj and isinstance(obj["data"], dict):
        unknown = sorted(set(obj) - RECORD_KEYS)
        if unknown:
            return RecordError(
                line,
                unknown[0],
                "unknown key next to 'data' (allowed: external_id, priority, gold)",
            )
        data = obj["data"]
    else:
        data = {k: v for k, v in obj.items() if k not in ("external_id", "priority", "gold")}
    external_id = obj.get("external_id", "")
    if external_id is None:
        external_id = ""
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    if not isinstance(external_id, str):
        return RecordError(line, "external_id", "must be a string")
    if len(external_id) > MAX_EXTERNAL_ID:
        return RecordError(line, "external_id", f"longer than {MAX_EXTERNAL_ID} characters")
    priority = obj.get("priority", 0)
    if (
        isinstance(priority, bool)
        or not isinstance(priority, int)
        or not -(2**31) <= priority < 2**31
    ):
        return RecordError(line, "priority", "must be a 32-bit integer")
    gold = obj.get("gold")
    if gold is not None and not isinstance(gold, dict):
        return RecordError(line, "gold", "must be a result object (one key per label field)")
    return Record(line, external_id, priority, data, raw, gold)


def _lines(stream: IO[bytes], limits: Limits) -> Iterator[tuple[int, bytes | RecordError]]:
    """Physical lines, each at most ``max_line_bytes``. A longer line is reported and skipped."""
    number = 0
    buffered = (
        io.BufferedReader(stream, 1024 * 1024)
        if not isinstance(stream, io.BufferedIOBase)
        else stream
    )  # type: ignore[arg-type]
    while True:
        raw = buffered.readline(limits.max_line_bytes + 1)
        if not raw:
            return
        number += 1
        if len(raw) > limits.max_line_bytes and not raw.endswith(b"\n"):
            yield (
                number,
                RecordError(
                    number,
                    "(line)",
                    f"line exceeds the limit of {limits.max_line_bytes} bytes "
                    "(IMPORT_MAX_LINE_BYTES)",
                ),
            )
            while raw and not raw.endswith(b"\n"):  # skip the rest of the line
                raw = buffered.readline(1024 * 1024)
            continue
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        yield number, raw


def read_jsonl(stream: IO[bytes], limits: Limits) -> Iterator[Record | RecordError]:
    for number, raw in _lines(stream, limits):
        if isinstance(raw, RecordError):
            yield raw
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield RecordError(number, "(line)", f"not valid UTF-8 at byte {exc.start} of the line")
            continue
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as exc:
            yield RecordError(number, "(line)", f"invalid JSON: {exc}")
            continue
        if _depth_exceeds(text, obj, limits.max_depth):
            yield RecordError(
                number, "(record)", f"nested deeper than {limits.max_depth} (JSON_MAX_DEPTH)"
            )
            continue
        yield _split_record(obj, number, text)


def read_json_array(stream: IO[bytes], limits: Limits) -> Iterator[Record | RecordError]:
    """A top-level JSON array, parsed incrementally (ijson); errors name the item index."""
    head = stream.read(64 * 1024)
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
    stripped = head.lstrip()
    while head and not stripped:  # only whitespace so far: the first significant byte decides
        head = stream.read(64 * 1024)
        stripped = head.lstrip()
    if not stripped:
        yield RecordError(None, "(file)", "the file is empty", fatal=True)
        return
    if not stripped.startswith(b"["):
        yield RecordError(
            1,
            "(file)",
            "a JSON import must be one array of items ('[' first); for one object per line "
            "use format=jsonl",
            fatal=True,
        )
        return
    rest: IO[bytes] = _Prepend(stripped, stream)
    index = 0
    try:
        for obj in ijson.items(rest, "item", use_float=True):
            index += 1
            if json_depth_exceeds(obj, limits.max_depth):
                yield RecordError(
                    index, "(record)", f"nested deeper than {limits.max_depth} (JSON_MAX_DEPTH)"
                )
                continue
            yield _split_record(obj, index)
    except ijson.common.IncompleteJSONError as exc:
        yield RecordError(
            index + 1, "(file)", f"invalid JSON after item {index}: {exc}", fatal=True
        )
    except UnicodeDecodeError as exc:
        yield RecordError(index + 1, "(file)", f"not valid UTF-8: {exc.reason}", fatal=True)
    except ijson.common.JSONError as exc:
        yield RecordError(index + 1, "(file)", f"invalid JSON: {exc}", fatal=True)


class _Prepend(io.RawIOBase):
    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head, self._stream = head, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def read_csv(
    stream: IO[bytes], limits: Limits, *, required_columns: set[str]
) -> Iterator[Record | RecordError]:
    """CSV with a header row. ``external_id`` and ``priority`` columns are optional; every
    other column becomes a (string) data field."""
    header: list[str] | None = None
    for number, raw in _lines(stream, limits):
        if isinstance(raw, RecordError):
            yield raw
            if header is None:
                return
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield RecordError(number, "(line)", f"not valid UTF-8 at byte {exc.start} of the line")
            if header is None:
                return
            continue
        if not text.strip():
            continue
        try:
            row = next(csv.reader([text], strict=True))
        except csv.Error as exc:
            # Quoted fields spanning lines are not supported: one record per line keeps the
            # line numbers in errors true and memory bounded.
            yield RecordError(number, "(line)", f"invalid CSV: {exc}")
            continue
        if header is None:
            header = [c.strip() for c in row]
            if len(set(header)) != len(header) or any(not c for c in header):
                yield RecordError(
                    number, "(header)", "column names must be unique and non-empty", fatal=True
                )
                return
            missing = sorted(required_columns - set(header))
            if missing:
                yield RecordError(
                    number,
                    missing[0],
                    f"required column {missing[0]!r} is missing from the header",
                    fatal=True,
                )
                return
            continue
        if len(row) != len(header):
            yield RecordError(
                number, "(row)", f"has {len(row)} fields, the header has {len(header)}"
            )
            continue
        values = dict(zip(header, row, strict=True))
        external_id = values.pop("external_id", "")
        priority_text = values.pop("priority", "") or "0"
        try:
            priority = int(priority_text)
        except ValueError:
            yield RecordError(number, "priority", f"must be an integer, got {priority_text[:20]!r}")
            continue
        if len(external_id) > MAX_EXTERNAL_ID:
            yield RecordError(number, "external_id", f"longer than {MAX_EXTERNAL_ID} characters")
            continue
        yield Record(number, external_id, priority, values)
    if header is None:
        yield RecordError(
            None, "(file)", "the file is empty: a CSV import needs a header row", fatal=True
        )
