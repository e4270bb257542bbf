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

from pathlib import Path
from typing import TYPE_CHECKING

from app.adapters.storage.base import (
    ASIDE_PREFIX,
    CHUNK,
    KEY_PATTERN,
    OBJECT_MODE,
    TMP_PREFIX,
    EmptyFile,
    EvidenceStore,
    StoredObject,
    TooLarge,
    Upload,
    check_key,
)
from app.adapters.storage.local import LocalEvidenceStore
from app.adapters.storage.s3 import S3EvidenceStore
from app.adapters.storage.spool import sniff_file

if TYPE_CHECKING:
    from app.config import Settings

__all__ = [
    "ASIDE_PREFIX",
    "CHUNK",
    "KEY_PATTERN",
    "OBJECT_MODE",
    "TMP_PREFIX",
    "EmptyFile",
    "EvidenceStore",
    "LocalEvidenceStore",
    "S3EvidenceStore",
    "StoredObject",
    "TooLarge",
    "Upload",
    "check_key",
    "make_store",
    "sniff_file",
]


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
