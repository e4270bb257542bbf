"""Evidence bytes, stored once under their SHA-256: on a local disk or in an S3 bucket.

An upload streams to a temporary file while it is hashed, counted (TooLarge as soon
as it passes the limit) and checked for text; nothing is ever held whole in memory.
`finish()` sniffs the real media type from the bytes (app.domain.files), then makes
the object durable under its digest and only then returns, so the caller can commit
its database row and acknowledge. Paths and keys come from the hex digest alone,
never from a client's file name.

Local order (conventions, "Persistence"): write the temp file in <root>/tmp, fsync it,
rename it to <root>/objects/ab/cd/<sha256>, fsync the directory. A crash before the
rename leaves only a temp file (see `clean_tmp`); after it and before the caller's
commit, a complete object that no row refers to: an orphan.

Orphans are removed only once they are older than a grace period
(`remove_orphan(key, cutoff=...)`), so an object whose upload is about to commit is
never touched. Storing bytes that are already there refreshes the object's time
(local: its mtime; S3: a copy onto itself), so an old orphan that a new upload is
about to claim becomes young again. The local store moves a candidate aside first
and looks at its time again after the move, so a refresh that raced the removal
wins; the S3 store checks the time just before deleting (S3 has no conditional
delete: a refresh in the milliseconds between the two requests would be lost).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

from app.domain.errors import InvalidInput

if TYPE_CHECKING:
    pass

CHUNK = 64 * 1024
OBJECT_MODE = 0o440
TMP_PREFIX = "upload-"
ASIDE_PREFIX = TMP_PREFIX + "orphan-"  # an orphan moved aside while it is removed
KEY_PATTERN = re.compile(r"[0-9a-f]{64}")
# A named object (not evidence): "<folder>/<file>", e.g. "audit-checkpoints/20261214T090000Z.json".
NAME_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,62}/[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
RESERVED_FOLDERS = frozenset({"objects", "tmp"})  # where evidence and uploads live


class EmptyFile(InvalidInput):
    """The upload has no bytes at all (refused before its type is even considered)."""

    def __init__(self) -> None:
        super().__init__("The file is empty.", details={"file": "empty"})


class TooLarge(Exception):
    """The upload passed the size limit; what was written so far has been discarded."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than the limit of {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class StoredObject:
    key: str  # the SHA-256 of the bytes, lower-case hex
    size: int
    media_type: str | None  # sniffed from the content; None: not an allowed type


class Upload(Protocol):
    """One incoming file. Use as a context manager: leaving it unfinished aborts it."""

    @property
    def size(self) -> int: ...
    @property
    def head(self) -> bytes: ...
    def write(self, chunk: bytes) -> None: ...
    def sniff(self) -> str | None: ...
    def finish(self) -> StoredObject: ...
    def abort(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class EvidenceStore(Protocol):
    max_bytes: int

    def begin(self, *, filename: str = "") -> Upload: ...
    def open(self, key: str) -> Iterator[bytes]: ...
    def exists(self, key: str) -> bool: ...
    def size(self, key: str) -> int: ...
    def delete(self, key: str) -> None: ...
    def keys(self) -> Iterator[str]: ...
    def entries(self) -> Iterator[tuple[str, float]]: ...
    def remove_orphan(self, key: str, *, cutoff: float) -> bool: ...
    def hash_of(self, key: str) -> str: ...
    def stale_tmp(self, older_than_seconds: float) -> list[str]: ...
    def clean_tmp(self, older_than_seconds: float = 24 * 3600) -> list[str]: ...
    def put_bytes(self, name: str, data: bytes) -> None: ...
    def get_bytes(self, name: str) -> bytes: ...
    def list_names(self, folder: str) -> list[str]: ...


def check_name(name: str) -> str:
    """The name itself if it is "<folder>/<file>" outside the evidence and upload folders (a
    small named object such as an audit checkpoint); ValueError otherwise."""
    if not NAME_PATTERN.fullmatch(name) or ".." in name or name.split("/")[0] in RESERVED_FOLDERS:
        raise ValueError(f"not a name for a stored object: {name!r}")
    return name


def check_folder(folder: str) -> str:
    """The folder itself if it is "<folder>/" as in `check_name`; ValueError otherwise."""
    check_name(folder + "x")
    if not folder.endswith("/") or folder.count("/") != 1:
        raise ValueError(f"not a folder of stored objects: {folder!r}")
    return folder


def check_key(key: str) -> str:
    """The key itself if it is a lower-case SHA-256 hex digest; ValueError otherwise."""
    if not KEY_PATTERN.fullmatch(key):
        raise ValueError("an evidence key is a SHA-256 hex digest")
    return key
