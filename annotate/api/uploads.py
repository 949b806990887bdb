"""Multipart uploads streamed straight into tenant storage (encrypted): no temporary file of
plaintext, no upload held in memory."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadhandler import FileUploadHandler, SkipFile

from annotate.services.imports import StoredUpload, UploadTooLarge, UploadWriter
from tenants.storage import TenantStorage

EXTENSION_FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".zip": "zip",
}


class ImportUploadHandler(FileUploadHandler):
    """Takes the form field ``file`` (others are skipped) and streams it through
    ``UploadWriter``. The format is ``?format=`` or the file name's extension."""

    def __init__(self, *, storage: TenantStorage, fmt: str | None, dataset_name: str) -> None:
        super().__init__()
        self.storage, self.fmt, self.dataset_name = storage, fmt, dataset_name
        self.writer: UploadWriter | None = None
        self.stored: StoredUpload | None = None
        self.error: str | None = None

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        if field_name != "file" or self.writer is not None:
            raise SkipFile()
        extension = "." + file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
        fmt = self.fmt or EXTENSION_FORMATS.get(extension)
        if fmt is None:
            self.error = (
                f"cannot tell the format of {file_name!r}: name it .jsonl, .json, .csv or .zip, "
                "or say ?format="
            )
            raise SkipFile()
        self.fmt = fmt
        self.writer = UploadWriter(
            storage=self.storage, fmt=fmt, dataset_name=self.dataset_name, filename=file_name
        )

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        assert self.writer is not None
        self.writer.write(raw_data)  # raises UploadTooLarge (after discarding) over the limit
        return None  # consumed: no later handler sees it

    def file_complete(self, file_size: int) -> StoredUpload | None:
        if self.writer is None:
            return None
        self.stored = self.writer.finish()
        return self.stored

    def upload_interrupted(self) -> None:
        if self.writer is not None and self.stored is None:
            self.writer.abort()


__all__ = ["ImportUploadHandler", "UploadTooLarge"]
