"""The part every store shares: an upload spooled to a temporary file while it is hashed, counted
and checked, its real type sniffed from the bytes, and the spool folder's durability helpers."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Self

from app.domain import files

if TYPE_CHECKING:
    pass
from app.adapters.storage.base import (
    TMP_PREFIX,
    EmptyFile,
    StoredObject,
    TooLarge,
)


class SpooledUpload(ABC):
    """Streams to a temp file while hashing and counting; subclasses make it durable."""

    def __init__(self, spool_dir: Path, max_bytes: int, filename: str) -> None:
        self._max_bytes = max_bytes
        self._filename = filename
        self._hash = hashlib.sha256()
        self._text = files.TextProbe()
        self._head = bytearray()
        self._size = 0
        self._media_type: str | None = None
        self._sniffed = False
        self._finished = False
        fd, name = tempfile.mkstemp(dir=spool_dir, prefix=TMP_PREFIX)
        self.path = Path(name)
        self._file: IO[bytes] | None = os.fdopen(fd, "wb")

    @property
    def size(self) -> int:
        return self._size

    @property
    def head(self) -> bytes:
        return bytes(self._head)

    def write(self, chunk: bytes) -> None:
        if self._file is None or self._sniffed:
            raise RuntimeError("this upload is no longer open for writing")
        self._size += len(chunk)
        if self._size > self._max_bytes:
            self.abort()
            raise TooLarge(self._max_bytes)
        if len(self._head) < files.HEAD_BYTES:
            self._head += chunk[: files.HEAD_BYTES - len(self._head)]
        self._hash.update(chunk)
        self._text.feed(chunk)
        self._file.write(chunk)

    def sniff(self) -> str | None:
        """End writing (the temp file is flushed, fsynced, closed) and sniff the media type.

        Callers may check the type and abort before anything is stored; `finish` sniffs
        if they have not. An upload without a single byte raises EmptyFile.
        """
        if not self._sniffed:
            if self._file is None:
                raise RuntimeError("this upload has been finished or aborted")
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
            self._sniffed = True
            if self._size > 0:
                self._media_type = sniff_file(self.path, self.head, self._filename, self._text.is_text())
        if self._size == 0:
            raise EmptyFile  # "not an accepted type" would send people looking for the wrong fix
        return self._media_type

    def finish(self) -> StoredObject:
        """Make the object durable under its SHA-256 (once for identical bytes), then return."""
        if self._finished or (self._file is None and not self._sniffed):
            raise RuntimeError("this upload has been finished or aborted")
        media_type = self.sniff()
        stored = StoredObject(key=self._hash.hexdigest(), size=self._size, media_type=media_type)
        try:
            self._commit(stored)
        finally:
            self.abort()  # the temp file, if it was not moved into place
        self._finished = True
        return stored

    @abstractmethod
    def _commit(self, stored: StoredObject) -> None:
        """Make the finished temp file durable under its key (each store's own way)."""

    def abort(self) -> None:
        """Discard the temp file; safe to call more than once, and when closing fails (a full
        disk fails the flush of the last buffered bytes: the file is removed all the same)."""
        try:
            if self._file is not None:
                with contextlib.suppress(OSError):
                    self._file.close()
        finally:
            self._file = None
            self._sniffed = False
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._finished:
            self.abort()


def sniff_file(path: Path, head: bytes, filename: str, text: bool) -> str | None:
    """The media type of a complete file on disk (zip and OLE2 directories read from it)."""
    zip_names: list[str] | None = None
    ole_names: list[str] | None = None
    content_types: list[bytes] | None = []
    with path.open("rb") as handle:
        if files.is_zip(head):
            zip_names, content_types = _zip_listing(handle)
        elif files.is_ole(head):
            ole_names = files.ole_entry_names(lambda offset, length: _read_at(handle, offset, length))
    return files.sniff_media_type(
        head,
        filename=filename,
        text=text,
        zip_names=zip_names,
        ole_names=ole_names,
        content_types=content_types,
    )


def _read_at(handle: IO[bytes], offset: int, length: int) -> bytes:
    handle.seek(offset)
    return handle.read(length)


def _zip_listing(handle: IO[bytes]) -> tuple[list[str] | None, list[bytes] | None]:
    """A zip's entry names and the contents of its [Content_Types].xml entries (each None
    when it cannot be read within the limits of app.domain.files)."""
    end = handle.seek(0, os.SEEK_END)
    tail = _read_at(handle, max(0, end - files.ZIP_TAIL_BYTES), files.ZIP_TAIL_BYTES)
    if not files.zip_directory_acceptable(files.zip_directory(tail)):
        return None, None
    handle.seek(0)
    try:
        with zipfile.ZipFile(handle) as archive:
            names = archive.namelist()
            content_types = []
            for info in archive.infolist():
                if files.is_content_types_part(info.filename):
                    with archive.open(info) as part:
                        document = part.read(files.MAX_CONTENT_TYPES_BYTES + 1)
                    if len(document) > files.MAX_CONTENT_TYPES_BYTES:
                        return names, None
                    content_types.append(document)
            return names, content_types
    except Exception:  # a hostile or broken archive is refused, whatever zipfile makes of it
        return None, None


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stale_spool(spool: Path, older_than_seconds: float) -> list[Path]:
    """Temp files not written to for `older_than_seconds` (an upload in progress writes)."""
    cutoff = time.time() - older_than_seconds
    stale = []
    for path in sorted(spool.glob(TMP_PREFIX + "*")):
        with contextlib.suppress(FileNotFoundError):
            if path.is_file() and path.stat().st_mtime < cutoff:
                stale.append(path)
    return stale


def clean_spool(spool: Path, older_than_seconds: float) -> list[str]:
    removed = []
    for path in stale_spool(spool, older_than_seconds):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path.name)
    return removed


def hash_chunks(chunks: Iterator[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()
