"""Settings from ATTEST_* environment variables (and an optional .env file)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.domain.addresses import Network, parse_networks
from app.domain.scanning import parse_address

DEV_BASE_URL = "http://127.0.0.1:8000"
SECRET_FILE_NAME = "secret_key"  # noqa: S105 - a file name, not a secret


class ConfigError(Exception):
    """A setting is missing, malformed or unusable; the message names the setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ATTEST_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    evidence_dir: Path = Path("evidence")
    controls_dir: Path = Path("controls")
    secret_key: str = ""
    base_url: str = DEV_BASE_URL
    mail_backend: Literal["console", "smtp"] = "console"
    mail_from: str = "Attest <attest@localhost>"
    smtp_host: str = "localhost"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_tls: Literal["none", "starttls", "ssl"] = "none"
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    max_upload_mb: int = Field(default=200, ge=1, le=10_240)
    # An upload that sends nothing for this long, or (after the grace period) less than the
    # minimum rate on average, is cut with 408 and nothing is stored (0 turns the rate check off).
    upload_idle_seconds: float = Field(default=30.0, gt=0, le=3600)
    upload_min_bytes_per_second: int = Field(default=1024, ge=0, le=100 * 1024 * 1024)
    upload_rate_grace_seconds: float = Field(default=60.0, ge=0, le=3600)
    # Every request body except multipart uploads (JSON, url-encoded forms): 413 above this.
    max_body_kb: int = Field(default=1024, ge=1, le=1_048_576)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # "text" for a terminal; "json": one object per line (app/adapters/logs.py).
    log_format: Literal["text", "json"] = "text"
    # The bearer token /metrics asks for; empty: /metrics answers 404 (app/web/routes/health.py).
    metrics_token: str = ""
    # OTLP/HTTP traces endpoint of an OpenTelemetry collector (app/adapters/tracing.py); empty: no traces.
    traces_endpoint: str = ""
    cookie_secure: bool | None = None
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_absolute_hours: int = Field(default=12, ge=1, le=24 * 14)
    audit_key: str = ""
    # Key rotation (README "Rotating the secret and audit keys"): earlier values, comma-separated,
    # newest first. They are only read with (old TOTP keys, recovery codes, CSRF tokens, audit
    # records); everything new is written under ATTEST_SECRET_KEY / ATTEST_AUDIT_KEY.
    previous_secret_keys: str = ""
    previous_audit_keys: str = ""
    evidence_backend: Literal["local", "s3"] = "local"
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = ""
    # An object with no row younger than this may belong to an upload about to commit.
    orphan_grace_minutes: int = Field(default=60, ge=5, le=7 * 24 * 60)
    # Proxies whose X-Forwarded-For is believed (addresses or networks); empty: none.
    trusted_proxies: str = ""
    # The job queue (app/adapters/jobs.py): empty: a SQLite file in the data folder (jobs.db);
    # redis://host:port/db for workers on several machines.
    queue_url: str = ""
    # Threads each `attest worker` runs jobs on.
    worker_threads: int = Field(default=2, ge=1, le=64)
    # How long a write waits for another's lock before the request answers 503 "try again"
    # (SQLite's busy timeout; PostgreSQL's lock_timeout).
    database_busy_seconds: float = Field(default=30.0, ge=0.1, le=600.0)
    # Malware scanning of uploads with ClamAV's clamd (app/services/scanning.py): a Unix socket
    # path or host:port; empty: scanning is off. A file over the size limit is never "clean".
    clamav_socket: str = ""
    clamav_timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    clamav_max_mb: int = Field(default=100, ge=1, le=10_240)

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token_is_long(cls, value: str) -> str:
        # /metrics has no sign-in throttle: a short token could be guessed.
        if value and (len(value) < 16 or value != value.strip()):
            raise ValueError("must be at least 16 characters, without surrounding spaces")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies_are_networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @field_validator("queue_url")
    @classmethod
    def _queue_url_is_redis(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be empty (a SQLite file in the data folder) or a redis:// URL")
        return value

    @field_validator("clamav_socket")
    @classmethod
    def _clamav_socket_is_an_address(cls, value: str) -> str:
        if value.strip():
            parse_address(value)
        return value.strip()

    @property
    def trusted_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data folder."""
        if not self.database_url:
            return f"sqlite:///{(self.data_dir / 'attest.db').as_posix()}"
        url = self.database_url
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def secure_cookies(self) -> bool:
        """Secure (and __Host- prefixed) cookies, on by default when served over https."""
        return self.https if self.cookie_secure is None else self.cookie_secure

    @property
    def audit_checkpoint_file(self) -> Path:
        return self.data_dir / "audit-checkpoints.log"

    def production_problems(self) -> list[str]:
        """Development defaults that production mode refuses, one line each."""
        problems: list[str] = []
        if self.env != "production":
            return problems
        if len(self.secret_key) < 32:
            problems.append("ATTEST_SECRET_KEY: set a random key of at least 32 characters")
        if not self.https:
            problems.append("ATTEST_BASE_URL: production must be served over https://")
        if not self.secure_cookies:
            problems.append("ATTEST_COOKIE_SECURE: production cookies must be Secure")
        if self.mail_backend == "console":
            problems.append("ATTEST_MAIL_BACKEND: production needs 'smtp', not 'console'")
        return problems

    def existing_secret_key(self) -> str:
        """The secret key if it is set or kept in the data folder; "" otherwise (none is made)."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / SECRET_FILE_NAME
        return path.read_text(encoding="utf-8").strip() if path.exists() else ""

    def resolved_secret_key(self) -> str:
        """The secret key; in development one is generated once and kept in the data folder."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / SECRET_FILE_NAME
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.touch(mode=0o600)
        path.write_text(key, encoding="utf-8")
        return key


def describe_validation_error(error: ValidationError) -> str:
    """One line naming the first bad setting, e.g. 'ATTEST_MAX_UPLOAD_MB: ...'."""
    first = error.errors()[0]
    name = "ATTEST_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
    return f"{name}: {first['msg']} (got {first.get('input')!r})"


def load_settings() -> Settings:
    """Read the settings, raising ConfigError with one clear line when they are wrong."""
    try:
        settings = Settings()
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from None
    problems = settings.production_problems()
    if problems:
        raise ConfigError("; ".join(problems))
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
