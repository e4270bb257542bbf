"""Big named objects in the evidence store, written and read in chunks (prepared downloads).

The stores' own `put_bytes` / `get_bytes` take a small named object whole (an audit
checkpoint, a statement PDF). A prepared download can be an evidence bundle of a gigabyte, so
here it is written from an iterator of chunks and read back as one, never held whole in
memory: on a local disk through a temporary file that is fsynced and renamed into place (the
same order as `put_bytes`), on S3 spooled to a local temporary file first and then sent with
boto3's multipart upload (one object appears whole or not at all). The names follow the
stores' rule for named objects (app.adapters.storage.base.check_name).

A store of another kind (a test double) falls back to its `put_bytes` / `get_bytes`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from app.adapters.storage import EvidenceStore
from app.adapters.storage.base import CHUNK, TMP_PREFIX, check_name
from app.adapters.storage.local import LocalEvidenceStore
from app.adapters.storage.s3 import S3EvidenceStore
from app.adapters.storage.spool import fsync_dir


def put_chunks(store: EvidenceStore, name: str, chunks: Iterable[bytes]) -> int:
    """Store the chunks as the named object `name` (replacing one of that name); its size."""
    check_name(name)
    if isinstance(store, LocalEvidenceStore):
        target = store.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=TMP_PREFIX + "named-", dir=store.tmp_dir)
        return _spooled(fd, temp, chunks, lambda: _replace(temp, target))
    if isinstance(store, S3EvidenceStore):
        fd, temp = tempfile.mkstemp(prefix=TMP_PREFIX + "named-", dir=store.spool_dir)
        s3 = store

        def send() -> None:
            try:
                s3.client.upload_file(temp, s3.bucket, name)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)

        return _spooled(fd, temp, chunks, send)
    data = b"".join(chunks)
    store.put_bytes(name, data)
    return len(data)


def _spooled(fd: int, temp: str, chunks: Iterable[bytes], commit: Callable[[], None]) -> int:
    size = 0
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
                size += len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        commit()
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return size


def _replace(temp: str, target: Path) -> None:
    os.replace(temp, target)
    fsync_dir(target.parent)


def open_chunks(store: EvidenceStore, name: str) -> Iterator[bytes]:
    """The named object's bytes in chunks; FileNotFoundError (now, not on the first read) when
    there is none."""
    check_name(name)
    if isinstance(store, LocalEvidenceStore):
        handle = (store.root / name).open("rb")

        def local() -> Iterator[bytes]:
            with handle:
                while chunk := handle.read(CHUNK):
                    yield chunk

        return local()
    if isinstance(store, S3EvidenceStore):
        from botocore.exceptions import ClientError

        try:
            body = store.client.get_object(Bucket=store.bucket, Key=name)["Body"]
        except ClientError as error:
            if str(error.response.get("Error", {}).get("Code")) in {"404", "NoSuchKey", "NotFound"}:
                raise FileNotFoundError(name) from None
            raise

        def remote() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(CHUNK)
            finally:
                body.close()

        return remote()
    return iter([store.get_bytes(name)])


def remove(store: EvidenceStore, name: str) -> None:
    """Remove the named object (nothing happens when there is none)."""
    check_name(name)
    if isinstance(store, LocalEvidenceStore):
        path = store.root / name
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            fsync_dir(path.parent)
        return
    if isinstance(store, S3EvidenceStore):
        store.client.delete_object(Bucket=store.bucket, Key=name)  # S3: no error when absent
        return
    delete = getattr(store, "delete_name", None)
    if callable(delete):
        delete(name)
