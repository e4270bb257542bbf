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
from app.domain.errors import InvalidInput

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from app.config import Settings

CHUNK = 64 * 1024
OBJECT_MODE = 0o440
TMP_PREFIX = "upload-"
ASIDE_PREFIX = TMP_PREFIX + "orphan-"  # an orphan moved aside while it is removed
_KEY = re.compile(r"[0-9a-f]{64}")


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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _stale_spool(spool: Path, older_than_seconds: float) -> list[Path]:
    """Temp files not written to for `older_than_seconds` (an upload in progress writes)."""
    cutoff = time.time() - older_than_seconds
    stale = []
    for path in sorted(spool.glob(TMP_PREFIX + "*")):
        with contextlib.suppress(FileNotFoundError):
            if path.is_file() and path.stat().st_mtime < cutoff:
                stale.append(path)
    return stale


def _clean_spool(spool: Path, older_than_seconds: float) -> list[str]:
    removed = []
    for path in _stale_spool(spool, older_than_seconds):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path.name)
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
            # Identical bytes are already stored (a wrong size is healed below). They may be an
            # old orphan: make them young, so the orphan sweep leaves them to this upload's row.
            try:
                os.utime(target)
                return
            except (FileNotFoundError, PermissionError):
                pass  # removed a moment ago by the sweep (or not ours to touch): store this copy
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

    def _paths(self) -> Iterator[Path]:
        for first in sorted(self.objects_dir.iterdir()):
            for second in sorted(first.iterdir()) if first.is_dir() else ():
                for path in sorted(second.iterdir()) if second.is_dir() else ():
                    if _KEY.fullmatch(path.name) and path.name.startswith(first.name + second.name):
                        yield path

    def keys(self) -> Iterator[str]:
        for path in self._paths():
            yield path.name

    def entries(self) -> Iterator[tuple[str, float]]:
        """Each object's key and when it was last stored (Unix time), in key order."""
        for path in self._paths():
            with contextlib.suppress(FileNotFoundError):
                yield path.name, path.stat().st_mtime

    def remove_orphan(self, key: str, *, cutoff: float) -> bool:
        """Remove the object if it was last stored before `cutoff` (Unix time); True if removed.

        The object is first moved aside and its time read again: an upload of the same
        bytes that refreshed it before the move has made it young, and it goes back.
        """
        path = self.path_for(key)
        aside = self.tmp_dir / (ASIDE_PREFIX + key)
        try:
            if path.stat().st_mtime >= cutoff:
                return False
            os.replace(path, aside)
        except FileNotFoundError:
            return False
        if aside.stat().st_mtime >= cutoff:
            os.replace(aside, path)  # claimed by an upload meanwhile: keep it
            return False
        aside.unlink()
        _fsync_dir(path.parent)
        _fsync_dir(self.tmp_dir)
        return True

    def hash_of(self, key: str) -> str:
        return _hash_chunks(self.open(key))

    def clean_tmp(self, older_than_seconds: float = 24 * 3600) -> list[str]:
        """Remove temp files left by uploads interrupted by a crash; returns their names."""
        return _clean_spool(self.tmp_dir, older_than_seconds)

    def stale_tmp(self, older_than_seconds: float) -> list[str]:
        """Names of temp files that `clean_tmp(older_than_seconds)` would remove."""
        return [path.name for path in _stale_spool(self.tmp_dir, older_than_seconds)]


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
            store.refresh(stored.key)  # identical bytes are already stored; see the module notes
            return
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

    def refresh(self, key: str) -> None:
        """Give an existing object a new LastModified without sending its bytes again."""
        name = self.object_key(key)
        head = self.client.head_object(Bucket=self.bucket, Key=name)
        self.client.copy_object(
            Bucket=self.bucket,
            Key=name,
            CopySource={"Bucket": self.bucket, "Key": name},
            MetadataDirective="REPLACE",
            ContentType=head.get("ContentType") or "application/octet-stream",
            Metadata={"stored-at": str(time.time())},
        )

    def keys(self) -> Iterator[str]:
        for key, _ in self.entries():
            yield key

    def entries(self) -> Iterator[tuple[str, float]]:
        """Each object's key and LastModified (Unix time), from the list-objects API."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix="objects/")
        for page in pages:
            for item in page.get("Contents", []):
                name = item.get("Key", "").removeprefix("objects/")
                if _KEY.fullmatch(name) and "LastModified" in item:
                    yield name, item["LastModified"].timestamp()

    def remove_orphan(self, key: str, *, cutoff: float) -> bool:
        """Delete the object if it was last stored before `cutoff` (Unix time); True if removed."""
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as error:
            if _missing(error):
                return False
            raise
        if head["LastModified"].timestamp() >= cutoff:
            return False
        self.delete(key)
        return True

    def hash_of(self, key: str) -> str:
        return _hash_chunks(self.open(key))

    def clean_tmp(self, older_than_seconds: float = 24 * 3600) -> list[str]:
        """Remove spool files left by uploads interrupted by a crash; returns their names."""
        return _clean_spool(self.spool_dir, older_than_seconds)

    def stale_tmp(self, older_than_seconds: float) -> list[str]:
        """Names of temp files that `clean_tmp(older_than_seconds)` would remove."""
        return [path.name for path in _stale_spool(self.spool_dir, older_than_seconds)]


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
