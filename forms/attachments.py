"""Where attachment bytes live (a storage interface, the filesystem by default) and what they are.

The database holds an attachment's metadata (forms.models.FormAttachment); the bytes go to an
AttachmentStore under an opaque key. The type is decided by the content's magic numbers,
never by the file name or the declared Content-Type.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Protocol

from forms import video

# What we accept, by the extension a person's file usually has: documents (forms, the identity
# document of an access request) ...
MEDIA_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".pdf": "application/pdf",
}
# ... and the liveness video of an access request, as browsers' MediaRecorder writes it.
VIDEO_TYPES = {
    ".webm": "video/webm",
    ".mp4": "video/mp4",
}
TYPE_NAMES = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "application/pdf": "PDF",
    "video/webm": "WebM",
    "video/mp4": "MP4",
}
SNIFF_BYTES = 16  # enough for every signature below
_KEY = re.compile(r"^[0-9a-f]{32}$")


def sniff(head: bytes) -> str | None:
    """The media type that the first bytes prove, or None (then the file is refused).

    JPEG: SOI marker FF D8 followed by another marker (ITU T.81 B.1.1.2).
    PNG: the 8-byte signature followed by the IHDR chunk (PNG spec §5.2, §5.6).
    PDF: the header "%PDF-" and a version digit (ISO 32000-1 §7.5.2).
    WebM: the EBML magic 1A 45 DF A3 (RFC 8794 §11.2.1); its DocType is checked at completion.
    MP4: a FileTypeBox first, with an MP4 major brand (ISO/IEC 14496-12 §4.3).
    """
    if head[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return "image/png"
    if head[:5] == b"%PDF-" and head[5:6].isdigit():
        return "application/pdf"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm"
    if head[4:8] == b"ftyp" and head[8:12] in video.MP4_BRANDS:
        return "video/mp4"
    return None


def plausible_end(media_type: str, tail: bytes) -> bool:
    """A complete file ends as its format says: PNG with IEND, PDF with %%EOF.

    JPEG is not checked: cameras append data after the EOI marker (motion photos).
    """
    if media_type == "image/png":
        return tail.endswith(b"IEND\xaeB`\x82")
    if media_type == "application/pdf":
        return b"%%EOF" in tail[-1024:]
    return True


async def well_formed(media_type: str, read: video.Reader, size: int) -> bool:
    """The whole file has its format's structure: trailers for PNG/PDF, containers for video."""
    if media_type == "video/webm":
        return await video.is_webm(read, size)
    if media_type == "video/mp4":
        return await video.is_mp4(read, size)
    return plausible_end(media_type, await read(max(0, size - 1024), 1024))


def media_type_for_name(filename: str, types: Mapping[str, str] = MEDIA_TYPES) -> str | None:
    return types.get(Path(filename).suffix.lower())


class AttachmentStore(Protocol):
    """Bytes by opaque key. Offsets make uploads resumable; writes past the end truncate."""

    async def write_at(self, key: str, offset: int, data: bytes) -> None:
        """Write data at offset and cut the file there (a retried chunk replaces, never adds)."""

    async def size(self, key: str) -> int: ...

    async def read_range(self, key: str, offset: int, length: int) -> bytes: ...

    async def sha256(self, key: str) -> str: ...

    def stream(self, key: str, chunk_size: int = 64 * 1024) -> AsyncIterator[bytes]: ...

    async def delete(self, key: str) -> None: ...


class FileSystemStore:
    """One file per attachment under a directory (FORMS_ATTACHMENT_DIR), fanned out by key."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        # Keys are uuid hex made by the server; checked anyway, so no path can escape root.
        if not _KEY.match(key):
            raise ValueError("not an attachment storage key")
        return self.root / key[:2] / key

    async def write_at(self, key: str, offset: int, data: bytes) -> None:
        await asyncio.to_thread(self._write_at, self._path(key), offset, data)

    @staticmethod
    def _write_at(path: Path, offset: int, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.pwrite(fd, data, offset)
            os.ftruncate(fd, offset + len(data))
            os.fsync(fd)
        finally:
            os.close(fd)

    async def size(self, key: str) -> int:
        path = self._path(key)
        try:
            return (await asyncio.to_thread(path.stat)).st_size
        except FileNotFoundError:
            return 0

    async def read_range(self, key: str, offset: int, length: int) -> bytes:
        return await asyncio.to_thread(self._read_range, self._path(key), offset, length)

    @staticmethod
    def _read_range(path: Path, offset: int, length: int) -> bytes:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(length)

    async def sha256(self, key: str) -> str:
        return await asyncio.to_thread(self._sha256, self._path(key))

    @staticmethod
    def _sha256(path: Path) -> str:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()

    async def stream(self, key: str, chunk_size: int = 64 * 1024) -> AsyncIterator[bytes]:
        path = self._path(key)
        f = await asyncio.to_thread(path.open, "rb")
        try:
            while chunk := await asyncio.to_thread(f.read, chunk_size):
                yield chunk
        finally:
            await asyncio.to_thread(f.close)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)
