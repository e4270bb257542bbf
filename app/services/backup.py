"""Backup and restore of one installation (issue 19 item 6): `attest backup DIR` and
`attest restore DIR`.

A backup is a folder:

- `database.sqlite3` (SQLite's online backup API: a consistent snapshot taken while Attest
  serves) or `database.pgdump` (`pg_dump --format=custom`: one snapshot transaction);
- `objects/<sha256>`: every evidence object the snapshot's rows refer to, copied after the
  snapshot (objects are stored once under their hash and never change, so each one the
  snapshot names is still there unless its row was deleted since, which is reported);
- `named/<name>`: the store's named files (statement PDFs, audit checkpoints, prepared exports);
- `audit-checkpoints.log` from the data folder, when there is one;
- `secret_key` only with `--with-key` (it decrypts TOTP secrets: keep such a backup apart);
- `manifest.json`: what is in it, with the SHA-256 and size of every file.

`restore` checks every hash in the manifest before it writes anything, refuses a target that
is not fresh (a database with tables, or a store with objects), then loads the database,
re-stores every object (the store checks each object's hash again), writes the named files and
upgrades the database to this version's schema.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Engine, make_url

from app import __version__, migrate
from app.adapters.storage import EvidenceStore
from app.config import SECRET_FILE_NAME, Settings

FORMAT = "attest-backup-1"
MANIFEST = "manifest.json"
NAMED_FOLDERS = ("statements/", "audit-checkpoints/", "downloads/")
CHUNK = 1024 * 1024


class BackupError(Exception):
    """The backup or restore cannot go on; the message says why and what to do."""


@dataclass
class Summary:
    folder: Path
    database: str
    objects: int = 0
    object_bytes: int = 0
    named: int = 0
    with_key: bool = False
    missing: list[str] = field(default_factory=list)  # objects a row named that had gone

    def as_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "database": self.database,
            "objects": self.objects,
            "object_bytes": self.object_bytes,
            "named_files": self.named,
            "secret_key_included": self.with_key,
            "missing_objects": self.missing,
        }


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URL without its password, and the environment that carries it (so no
    password appears in a process listing)."""
    parsed = make_url(url)
    env = {"PGPASSWORD": parsed.password} if parsed.password else {}
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str]) -> None:
    try:
        done = subprocess.run(  # noqa: S603 - fixed programs, arguments from the settings
            command, capture_output=True, text=True, env={**os.environ, **env}, check=False
        )
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is not installed (Debian: postgresql-client).") from None
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[-500:]}")


def _referenced_keys(database: Path | None, engine: Engine, settings: Settings) -> list[str]:
    """The evidence objects the snapshot's rows refer to (read from the snapshot itself on
    SQLite; on PostgreSQL from the live database just after the dump, a superset)."""
    if database is not None:
        with sqlite3.connect(database) as connection:
            rows = connection.execute("SELECT DISTINCT sha256 FROM evidence").fetchall()
        return sorted(r[0] for r in rows)
    with engine.connect() as connection:
        result = connection.exec_driver_sql("SELECT DISTINCT sha256 FROM evidence")
        return sorted(str(r[0]) for r in result)


def _write_object(store: EvidenceStore, key: str, target: Path) -> int:
    size = 0
    with target.open("wb") as out:
        for chunk in store.open(key):
            out.write(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return size


def backup(
    settings: Settings, engine: Engine, store: EvidenceStore, folder: Path, *, with_key: bool
) -> Summary:
    """Make a backup of the installation in `folder` (which must not exist or be empty)."""
    if folder.exists() and any(folder.iterdir()):
        raise BackupError(f"{folder} is not empty: back up into a new folder.")
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, Any]] = {}
    snapshot: Path | None = None
    if settings.is_sqlite:
        source = Path(make_url(settings.effective_database_url).database or "")
        snapshot = folder / "database.sqlite3"
        with sqlite3.connect(source) as live, sqlite3.connect(snapshot) as copy:
            live.backup(copy)  # SQLite's online backup: one consistent snapshot, writers carry on
        summary = Summary(folder, "sqlite")
        files["database.sqlite3"] = {}
    else:
        url, env = _libpq(settings.effective_database_url)
        dump = folder / "database.pgdump"
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={dump}", url], env)
        summary = Summary(folder, "postgresql")
        files["database.pgdump"] = {}
    (folder / "objects").mkdir()
    for key in _referenced_keys(snapshot, engine, settings):
        if not store.exists(key):
            summary.missing.append(key)
            continue
        size = _write_object(store, key, folder / "objects" / key)
        summary.objects += 1
        summary.object_bytes += size
        files[f"objects/{key}"] = {}
    named = folder / "named"
    for prefix in NAMED_FOLDERS:
        for name in store.list_names(prefix):
            target = named / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(store.get_bytes(name))
            files[f"named/{name}"] = {}
            summary.named += 1
    checkpoints = settings.audit_checkpoint_file
    if checkpoints.exists():
        shutil.copyfile(checkpoints, folder / "audit-checkpoints.log")
        files["audit-checkpoints.log"] = {}
    if with_key:
        key_file = folder / SECRET_FILE_NAME
        key_file.touch(mode=0o600)
        key_file.write_text(settings.resolved_secret_key(), encoding="utf-8")
        files[SECRET_FILE_NAME] = {}
        summary.with_key = True
    for name in files:
        path = folder / name
        files[name] = {"sha256": _sha256_file(path), "size": path.stat().st_size}
    manifest = {
        "format": FORMAT,
        "attest_version": __version__,
        "made_at": datetime.now(UTC).isoformat(),
        "database": summary.database,
        "schema_revision": migrate.current_revision(engine),
        "secret_key_included": with_key,
        "missing_objects": summary.missing,
        "files": files,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    return summary


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest, once every file it lists is there with its size and SHA-256 (and nothing
    else is claimed); refused with the first file that differs."""
    path = folder / MANIFEST
    if not path.exists():
        raise BackupError(f"{folder} holds no {MANIFEST}: it is not an Attest backup.")
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: format {manifest.get('format')!r} is not {FORMAT!r}.")
    for name, expected in manifest["files"].items():
        file = folder / name
        if not file.is_file():
            raise BackupError(f"The backup is incomplete: {name} is missing.")
        if file.stat().st_size != expected["size"] or _sha256_file(file) != expected["sha256"]:
            raise BackupError(f"The backup is damaged: {name} does not match its SHA-256 in the manifest.")
    return manifest


def _fresh(settings: Settings, engine: Engine, store: EvidenceStore) -> None:
    tables = sa_inspect(engine).get_table_names()
    if tables:
        raise BackupError("The target database is not empty: restore into a fresh installation.")
    if next(iter(store.keys()), None) is not None:
        raise BackupError("The target evidence store is not empty: restore into a fresh installation.")


def restore(settings: Settings, engine: Engine, store: EvidenceStore, folder: Path) -> Summary:
    """Rebuild a fresh installation from the backup in `folder` (see the module docstring)."""
    manifest = read_manifest(folder)
    kind = "sqlite" if settings.is_sqlite else "postgresql"
    if manifest["database"] != kind:
        raise BackupError(
            f"The backup holds a {manifest['database']} database; this installation uses {kind}."
        )
    _fresh(settings, engine, store)
    summary = Summary(folder, kind, with_key=bool(manifest.get("secret_key_included")))
    if kind == "sqlite":
        target = Path(make_url(settings.effective_database_url).database or "")
        engine.dispose()
        target.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(folder / "database.sqlite3") as copy, sqlite3.connect(target) as live:
            copy.backup(live)
    else:
        url, env = _libpq(settings.effective_database_url)
        _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", f"--dbname={url}",
              str(folder / "database.pgdump")], env)  # fmt: skip
    for name in _names(manifest["files"], "objects/"):
        with store.begin() as upload, (folder / "objects" / name).open("rb") as source:
            while chunk := source.read(CHUNK):
                upload.write(chunk)
            stored = upload.finish()
        if stored.key != name:
            raise BackupError(f"objects/{name} does not hash to its name: the backup is damaged.")
        summary.objects += 1
        summary.object_bytes += stored.size
    for name in _names(manifest["files"], "named/"):
        store.put_bytes(name, (folder / "named" / name).read_bytes())
        summary.named += 1
    if "audit-checkpoints.log" in manifest["files"]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / "audit-checkpoints.log", settings.audit_checkpoint_file)
    if summary.with_key and not settings.existing_secret_key():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        key_file = settings.data_dir / SECRET_FILE_NAME
        key_file.touch(mode=0o600)
        key_file.write_text((folder / SECRET_FILE_NAME).read_text(encoding="utf-8"), encoding="utf-8")
    migrate.upgrade(engine)
    return summary


def _names(files: Iterable[str], prefix: str) -> list[str]:
    return sorted(name.removeprefix(prefix) for name in files if name.startswith(prefix))
