"""ZIP archives of media with a manifest: safe entry names, bomb limits, content sniffing.

Nothing here trusts the archive's own headers: sizes are counted while reading, names are
checked before anything is written, and a file's type comes from its first bytes, not from its
name alone.
"""

from __future__ import annotations

import posixpath
import stat
import zipfile
from dataclasses import dataclass

MANIFESTS = {"manifest.jsonl": "jsonl", "manifest.json": "json", "manifest.csv": "csv"}

# The media types the app will ever serve inline. SVG and HTML are never accepted: in the app's
# origin they would run script.
IMAGE_TYPES = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),  # plus "WEBP" at offset 8, checked below
}
EXTENSIONS = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


class ArchiveError(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name, self.message = name, message


@dataclass(frozen=True)
class Limits:
    max_files: int
    max_total_bytes: int
    max_ratio: int
    max_file_bytes: int


def safe_name(name: str) -> str | None:
    """The entry's normalised relative path, or None when it could escape the archive."""
    if not name or "\\" in name or "\x00" in name or name.startswith("/"):
        return None
    if len(name) > 1 and name[1] == ":":  # C:...
        return None
    normal = posixpath.normpath(name)
    if normal.startswith("../") or normal == ".." or normal.startswith("/"):
        return None
    return normal


def check_archive(archive: zipfile.ZipFile, limits: Limits) -> dict[str, zipfile.ZipInfo]:
    """Validate every entry up front; return files by normalised name. Raises ArchiveError."""
    infos = archive.infolist()
    if len(infos) > limits.max_files:
        raise ArchiveError(
            "(archive)",
            f"{len(infos)} entries exceed the limit of {limits.max_files} (IMPORT_ZIP_MAX_FILES)",
        )
    files: dict[str, zipfile.ZipInfo] = {}
    declared = 0
    for info in infos:
        name = safe_name(info.filename)
        if name is None:
            raise ArchiveError(
                info.filename, "unsafe path (absolute, '..', backslash or drive letter)"
            )
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise ArchiveError(info.filename, "symbolic links are not accepted")
        if info.is_dir():
            continue
        if info.flag_bits & 0x1:
            raise ArchiveError(info.filename, "encrypted entries are not accepted")
        if name in files:
            raise ArchiveError(info.filename, "the archive holds this path twice")
        declared += info.file_size
        if declared > limits.max_total_bytes:
            raise ArchiveError(
                info.filename,
                f"the archive expands beyond {limits.max_total_bytes} bytes "
                "(IMPORT_ZIP_MAX_TOTAL_BYTES)",
            )
        if info.file_size > limits.max_file_bytes:
            raise ArchiveError(
                info.filename,
                f"{info.file_size} bytes exceed the limit of {limits.max_file_bytes} "
                "(IMPORT_MEDIA_MAX_BYTES)",
            )
        if info.compress_size and info.file_size / info.compress_size > limits.max_ratio:
            raise ArchiveError(
                info.filename,
                f"compression ratio {info.file_size // info.compress_size}:1 exceeds "
                f"{limits.max_ratio}:1 (IMPORT_ZIP_MAX_RATIO)",
            )
        files[name] = info
    return files


def sniff_image(head: bytes) -> str | None:
    for content_type, signatures in IMAGE_TYPES.items():
        if any(head.startswith(s) for s in signatures):
            if content_type == "image/webp" and head[8:12] != b"WEBP":
                continue
            return content_type
    return None
