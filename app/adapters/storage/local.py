"""Evidence objects in a local folder: <root>/objects/ab/cd/<sha256>, written via <root>/tmp with
fsync before and after the rename (see app.adapters.storage for the order and orphan rules)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    pass
from app.adapters.storage.base import (
    ASIDE_PREFIX,
    CHUNK,
    KEY_PATTERN,
    OBJECT_MODE,
    TMP_PREFIX,
    StoredObject,
    Upload,
    check_folder,
    check_key,
    check_name,
)
from app.adapters.storage.spool import SpooledUpload, clean_spool, fsync_dir, hash_chunks, stale_spool


class _LocalUpload(SpooledUpload):
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
        fsync_dir(target.parent)


def _make_dirs(base: Path, leaf: Path) -> None:
    """Create leaf below base, fsyncing each parent whose entries changed."""
    missing = [leaf, *leaf.parents]
    missing = [path for path in missing[: missing.index(base)] if not path.exists()]
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        fsync_dir(path.parent)


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
            fsync_dir(path.parent)

    def _paths(self) -> Iterator[Path]:
        for first in sorted(self.objects_dir.iterdir()):
            for second in sorted(first.iterdir()) if first.is_dir() else ():
                for path in sorted(second.iterdir()) if second.is_dir() else ():
                    if KEY_PATTERN.fullmatch(path.name) and path.name.startswith(first.name + second.name):
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
        fsync_dir(path.parent)
        fsync_dir(self.tmp_dir)
        return True

    def hash_of(self, key: str) -> str:
        return hash_chunks(self.open(key))

    def clean_tmp(self, older_than_seconds: float = 24 * 3600) -> list[str]:
        """Remove temp files left by uploads interrupted by a crash; returns their names."""
        return clean_spool(self.tmp_dir, older_than_seconds)

    def stale_tmp(self, older_than_seconds: float) -> list[str]:
        """Names of temp files that `clean_tmp(older_than_seconds)` would remove."""
        return [path.name for path in stale_spool(self.tmp_dir, older_than_seconds)]

    def put_bytes(self, name: str, data: bytes) -> None:
        """Store a small named object at <root>/<folder>/<file> (written whole to a temp file,
        fsynced, renamed into place, the folder fsynced), replacing one of that name."""
        target = self.root / check_name(name)
        _make_dirs(self.root, target.parent)
        fd, temp = tempfile.mkstemp(prefix=TMP_PREFIX + "named-", dir=self.tmp_dir)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        fsync_dir(target.parent)

    def get_bytes(self, name: str) -> bytes:
        return (self.root / check_name(name)).read_bytes()  # FileNotFoundError when there is none

    def list_names(self, folder: str) -> list[str]:
        """The names of the objects in `folder` ("<folder>/"), sorted."""
        path = self.root / check_folder(folder).rstrip("/")
        if not path.is_dir():
            return []
        return sorted(folder + entry.name for entry in path.iterdir() if entry.is_file())


def _file_chunks(handle: IO[bytes]) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK):
            yield chunk
