"""Evidence objects in an S3-compatible bucket under objects/<sha256>, spooled locally first."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

from app.adapters.storage.base import (
    CHUNK,
    KEY_PATTERN,
    StoredObject,
    Upload,
    check_folder,
    check_key,
    check_name,
)
from app.adapters.storage.spool import SpooledUpload, clean_spool, hash_chunks, stale_spool


class _S3Upload(SpooledUpload):
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
                if KEY_PATTERN.fullmatch(name) and "LastModified" in item:
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
        return hash_chunks(self.open(key))

    def clean_tmp(self, older_than_seconds: float = 24 * 3600) -> list[str]:
        """Remove spool files left by uploads interrupted by a crash; returns their names."""
        return clean_spool(self.spool_dir, older_than_seconds)

    def stale_tmp(self, older_than_seconds: float) -> list[str]:
        """Names of temp files that `clean_tmp(older_than_seconds)` would remove."""
        return [path.name for path in stale_spool(self.spool_dir, older_than_seconds)]

    def put_bytes(self, name: str, data: bytes) -> None:
        """Store a small named object at s3://<bucket>/<folder>/<file> (one PUT: every node sees
        the whole object or none), replacing one of that name."""
        self.client.put_object(Bucket=self.bucket, Key=check_name(name), Body=data)

    def get_bytes(self, name: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=check_name(name))["Body"]
        except ClientError as error:
            if _missing(error):
                raise FileNotFoundError(name) from None
            raise
        try:
            data: bytes = body.read()
        finally:
            body.close()
        return data

    def list_names(self, folder: str) -> list[str]:
        """The names of the objects in `folder` ("<folder>/"), sorted."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=check_folder(folder)
        )
        names = [item.get("Key", "") for page in pages for item in page.get("Contents", [])]
        return sorted(name for name in names if name.count("/") == 1 and name != folder)


def _missing(error: Any) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in {"404", "NoSuchKey", "NotFound"}


def _body_chunks(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()
