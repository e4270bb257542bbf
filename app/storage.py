"""Evidence bytes, stored once under their SHA-256: on a local disk or in an S3 bucket.

An upload streams to a temporary file while it is hashed, counted (TooLarge as soon
as it passes the limit) and checked for text; nothing is ever held whole in memory.
`finish()` sniffs the real media type from the bytes (app.domain.files), then makes
the object durable under its digest and only then returns, so the caller can commit
its database row and acknowledge. Paths and keys come from the hex digest alone,
never from a client's file name.

Local order (conventions, "Persistence"): write the temp file in <root>/tmp, fsync it,
rename it to <root>/objects/ab/cd/<sha256>, fsync the directory. A crash before the
rename leaves only a temp file (see `clean_tmp`); after it, a complete object.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import time
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Protocol, Self

from app.domain import files

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from app.config import Settings

CHUNK = 64 * 1024
OBJECT_MODE = 0o440
TMP_PREFIX = "upload-"
_KEY = re.compile(r"[0-9a-f]{64}")


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
    def hash_of(self, key: str) -> str: ...
    def clean_tmp(self, older_than_seconds: float = 24 * 3600) -> int: ...


def check_key(key: str) -> str:
    """The key itself if it is a lower-case SHA-256 hex digest; ValueError otherwise."""
    if not _KEY.fullmatch(key):
        raise ValueError("an evidence key is a SHA-256 hex digest")
    return key


class _SpooledUpload(ABC):
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
        if they have not.
        """
        if not self._sniffed:
            if self._file is None:
                raise RuntimeError("this upload has been finished or aborted")
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
            self._sniffed = True
            self._media_type = sniff_file(self.path, self.head, self._filename, self._text.is_text())
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
        """Discard the temp file; safe to call more than once."""
        if self._file is not None:
            self._file.close()
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
    with path.open("rb") as handle:
        if files.is_zip(head):
            zip_names = _zip_names(handle)
        elif files.is_ole(head):
            ole_names = files.ole_entry_names(lambda offset, length: _read_at(handle, offset, length))
    return files.sniff_media_type(
        head, filename=filename, text=text, zip_names=zip_names, ole_names=ole_names
    )


def _read_at(handle: IO[bytes], offset: int, length: int) -> bytes:
    handle.seek(offset)
    return handle.read(length)


def _zip_names(handle: IO[bytes]) -> list[str] | None:
    end = handle.seek(0, os.SEEK_END)
    tail = _read_at(handle, max(0, end - files.ZIP_TAIL_BYTES), files.ZIP_TAIL_BYTES)
    if not files.zip_directory_acceptable(files.zip_directory(tail)):
        return None
    handle.seek(0)
    try:
        with zipfile.ZipFile(handle) as archive:
            return archive.namelist()
    except Exception:  # a hostile or broken archive is refused, whatever zipfile makes of it
        return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _clean_spool(spool: Path, older_than_seconds: float) -> int:
    cutoff = time.time() - older_than_seconds
    removed = 0
    for path in spool.glob(TMP_PREFIX + "*"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed


def _hash_chunks(chunks: Iterator[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


class _LocalUpload(_SpooledUpload):
    def __init__(self, store: LocalEvidenceStore, filename: str) -> None:
        super().__init__(store.tmp_dir, store.max_bytes, filename)
        self._store = store

    def _commit(self, stored: StoredObject) -> None:
        target = self._store.path_for(stored.key)
        if target.is_file() and target.stat().st_size == stored.size:
            return  # identical bytes are already stored (a wrong size is healed below)
        _make_dirs(self._store.objects_dir, target.parent)
        os.chmod(self.path, OBJECT_MODE)
        os.replace(self.path, target)
        _fsync_dir(target.parent)


def _make_dirs(base: Path, leaf: Path) -> None:
    """Create leaf below base, fsyncing each parent whose entries changed."""
    missing = [leaf, *leaf.parents]
    missing = [path for path in missing[: missing.index(base)] if not path.exists()]
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        _fsync_dir(path.parent)


class LocalEvidenceStore:
    """Objects at <root>/objects/ab/cd/<sha256>, read-only; uploads spool in <root>/tmp."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.objects_dir = root / "objects"
        self.tmp_dir = root / "tmp"
        self.objects_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def path_for(self, key: str) -> Path:
        check_key(key)
        return self.objects_dir / key[:2] / key[2:4] / key

    def begin(self, *, filename: str = "") -> Upload:
        return _LocalUpload(self, filename)

    def open(self, key: str) -> Iterator[bytes]:
        handle = self.path_for(key).open("rb")  # FileNotFoundError now, not on first read
        return _file_chunks(handle)

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def size(self, key: str) -> int:
        return self.path_for(key).stat().st_size

    def delete(self, key: str) -> None:
        path = self.path_for(key)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            _fsync_dir(path.parent)

    def keys(self) -> Iterator[str]:
        for first in sorted(self.objects_dir.iterdir()):
            for second in sorted(first.iterdir()) if first.is_dir() else ():
                for path in sorted(second.iterdir()) if second.is_dir() else ():
                    if _KEY.fullmatch(path.name) and path.name.startswith(first.name + second.name):
                        yield path.name

    def hash_of(self, key: str) -> str:
        return _hash_chunks(self.open(key))

    def clean_tmp(self, older_than_seconds: float = 24 * 3600) -> int:
        """Remove temp files left by uploads interrupted by a crash; returns how many."""
        return _clean_spool(self.tmp_dir, older_than_seconds)


def _file_chunks(handle: IO[bytes]) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK):
            yield chunk


class _S3Upload(_SpooledUpload):
    def __init__(self, store: S3EvidenceStore, filename: str) -> None:
        super().__init__(store.spool_dir, store.max_bytes, filename)
        self._store = store

    def _commit(self, stored: StoredObject) -> None:
        store = self._store
        if store.remote_size(stored.key) == stored.size:
            return  # identical bytes are already stored
        extra = {"ContentType": stored.media_type or "application/octet-stream"}
        store.client.upload_file(str(self.path), store.bucket, store.object_key(stored.key), ExtraArgs=extra)


class S3EvidenceStore:
    """Objects at s3://<bucket>/objects/<sha256>; uploads spool to local temp files first."""

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None,
        access_key: str | None,
        secret_key: str | None,
        region: str | None,
        max_bytes: int,
        spool_dir: Path | None = None,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.max_bytes = max_bytes
        self.spool_dir = spool_dir or Path(tempfile.gettempdir())
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        # Path-style addressing for S3-compatible servers, which rarely have per-bucket DNS.
        config = Config(
            s3={"addressing_style": "path" if endpoint_url else "auto"}, retries={"mode": "standard"}
        )
        self.client: S3Client = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None,
            region_name=region or None,
            config=config,
        )

    @staticmethod
    def object_key(key: str) -> str:
        return "objects/" + check_key(key)

    def begin(self, *, filename: str = "") -> Upload:
        return _S3Upload(self, filename)

    def remote_size(self, key: str) -> int | None:
        """The stored object's size, or None when there is no such object."""
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))["ContentLength"]
        except ClientError as error:
            if _missing(error):
                return None
            raise

    def open(self, key: str) -> Iterator[bytes]:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"]
        except ClientError as error:
            if _missing(error):
                raise FileNotFoundError(key) from None
            raise
        return _body_chunks(body)

    def exists(self, key: str) -> bool:
        return self.remote_size(key) is not None

    def size(self, key: str) -> int:
        size = self.remote_size(key)
        if size is None:
            raise FileNotFoundError(key)
        return size

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))

    def keys(self) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix="objects/")
        for page in pages:
            for item in page.get("Contents", []):
                name = item.get("Key", "").removeprefix("objects/")
                if _KEY.fullmatch(name):
                    yield name

    def hash_of(self, key: str) -> str:
        return _hash_chunks(self.open(key))

    def clean_tmp(self, older_than_seconds: float = 24 * 3600) -> int:
        """Remove spool files left by uploads interrupted by a crash; returns how many."""
        return _clean_spool(self.spool_dir, older_than_seconds)


def _missing(error: Any) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in {"404", "NoSuchKey", "NotFound"}


def _body_chunks(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


def make_store(settings: Settings) -> EvidenceStore:
    """The store that the settings choose: ATTEST_EVIDENCE_BACKEND=local (default) or s3."""
    from app.config import ConfigError

    backend = str(getattr(settings, "evidence_backend", "local"))
    max_bytes = int(settings.max_upload_mb) * 1024 * 1024
    if backend == "local":
        return LocalEvidenceStore(Path(settings.evidence_dir), max_bytes)
    if backend != "s3":
        raise ConfigError(f"ATTEST_EVIDENCE_BACKEND: must be 'local' or 's3' (got {backend!r})")
    bucket = str(getattr(settings, "s3_bucket", "") or "")
    if not bucket:
        raise ConfigError("ATTEST_S3_BUCKET: set the bucket name to use the s3 evidence backend")
    return S3EvidenceStore(
        bucket=bucket,
        endpoint_url=_setting(settings, "s3_endpoint_url"),
        access_key=_setting(settings, "s3_access_key"),
        secret_key=_setting(settings, "s3_secret_key"),
        region=_setting(settings, "s3_region"),
        max_bytes=max_bytes,
        spool_dir=Path(settings.data_dir) / "upload-spool",
    )


def _setting(settings: Settings, name: str) -> str | None:
    value = getattr(settings, name, None)
    if value is not None and hasattr(value, "get_secret_value"):
        value = value.get_secret_value()  # a pydantic SecretStr
    return str(value) if value else None
