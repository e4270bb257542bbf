"""The evidence store: `make_store` picks the local folder (app.adapters.storage.local) or an S3
bucket (app.adapters.storage.s3) from the settings. What every store guarantees (bytes stored
once under their SHA-256, durable before the caller commits, orphans removed only after a grace
period) is written once, in app.adapters.storage.base.
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
