"""`attest backup DIR` and `attest restore DIR` (app.services.backup): a consistent snapshot of
the database and the evidence store while Attest serves, and a fresh installation rebuilt from
one. The secret key is left out unless `--with-key` is given."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.adapters.storage import make_store
from app.cli.common import JsonFlag, emit, fail, settings_or_fail
from app.db import make_engine
from app.services import backup as backups
from app.services.health import check_database


def backup(
    folder: Annotated[Path, typer.Argument(help="A new (or empty) folder to write the backup into.")],
    with_key: Annotated[
        bool,
        typer.Option(
            "--with-key", help="Include the secret key (it decrypts TOTP secrets: keep the backup apart)."
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Back up the database, the evidence objects and a manifest of their hashes (while serving)."""
    settings = settings_or_fail()
    engine = make_engine(settings.effective_database_url)
    try:
        problem = check_database(engine)
        if problem:
            fail(problem)
        summary = backups.backup(settings, engine, make_store(settings), folder, with_key=with_key)
    except backups.BackupError as error:
        fail(str(error))
    finally:
        engine.dispose()
    text = (
        f"Backed up the {summary.database} database, {summary.objects} evidence objects "
        f"({summary.object_bytes} bytes) and {summary.named} named files to {folder}"
        + ("; the secret key is included" if summary.with_key else "; the secret key is not included")
    )
    if summary.missing:
        text += f". {len(summary.missing)} objects had gone since the snapshot (their rows were deleted)"
    emit(as_json, summary.as_dict() | {"folder": str(folder)}, text + ".")


def restore(
    folder: Annotated[Path, typer.Argument(help="A folder written by `attest backup`.")],
    as_json: JsonFlag = False,
) -> None:
    """Rebuild a fresh installation (empty database and store) from a backup, every hash checked."""
    settings = settings_or_fail()
    engine = make_engine(settings.effective_database_url)
    try:
        summary = backups.restore(settings, engine, make_store(settings), folder)
    except backups.BackupError as error:
        fail(str(error))
    finally:
        engine.dispose()
    text = (
        f"Restored the {summary.database} database, {summary.objects} evidence objects and "
        f"{summary.named} named files from {folder}."
    )
    if not summary.with_key:
        text += " The backup holds no secret key: set ATTEST_SECRET_KEY to the original installation's."
    emit(as_json, summary.as_dict(), text)
