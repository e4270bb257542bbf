"""Start-up and readiness checks. Each returns None when fine or one line naming the setting."""

from __future__ import annotations

import secrets
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import SQLAlchemyError

from app import migrate
from app.adapters.catalogue_files import CatalogueError, cached_library


def check_database(engine: Engine) -> str | None:
    """The database answers and is migrated to the latest revision."""
    safe_url = make_url(str(engine.url)).render_as_string(hide_password=True)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = migrate.current_revision(engine)
    except SQLAlchemyError as error:
        original = getattr(error, "orig", None)
        reason = str(original or error).splitlines()[0]
        return f"ATTEST_DATABASE_URL: cannot reach the database at {safe_url}: {reason}"
    head = migrate.head_revision()
    if current != head:
        return (
            f"ATTEST_DATABASE_URL: the database at {safe_url} is not migrated "
            f"(at {current or 'nothing'}, need {head}); run `attest db upgrade`"
        )
    return None


def check_writable_dir(path: Path, setting: str) -> str | None:
    """The folder exists (or can be made) and a file can be written in it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe-{secrets.token_hex(4)}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as error:
        return f"{setting}: {path} is not a writable folder ({error.strerror or error})"
    return None


def check_catalogues(path: Path) -> str | None:
    try:
        cached_library(str(path.resolve()))
    except CatalogueError as error:
        return f"ATTEST_CONTROLS_DIR: {error}"
    return None


def prepare_sqlite_folder(url: str) -> str | None:
    """Create the folder of a SQLite database file so a fresh checkout just works."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    folder = Path(parsed.database).parent
    return check_writable_dir(folder, "ATTEST_DATABASE_URL")
