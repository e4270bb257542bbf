"""Checking the evidence store against the database, and cleaning up after a crash.

An upload stores its object first and commits its row second (conventions,
"Persistence"), so a crash in between leaves an object that no row refers to: an
orphan; a crash while the bytes stream leaves a temp file. Neither was ever
acknowledged. `sweep` removes orphans and temp files older than the grace period; an
object younger than that may belong to an upload about to commit and is kept. An
object that a committed row refers to is never removed: the rows are read first and
each candidate is looked up again, in a fresh snapshot, just before it goes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlmodel import Session, select

from app.models import Evidence
from app.storage import EvidenceStore


@dataclass(frozen=True, slots=True)
class Sweep:
    orphans: list[str] = field(default_factory=list)  # objects removed
    temp_files: list[str] = field(default_factory=list)  # temp file names removed
    complete: bool = True  # False when the time budget ran out before every object was seen


@dataclass(frozen=True, slots=True)
class Report:
    checked: int
    missing: list[str]
    corrupt: list[str]
    orphans: list[str]  # older than the grace period: left by a crash
    young_orphans: list[str]  # within the grace period: may still be committed
    stale_temp_files: int

    @property
    def ok(self) -> bool:
        return not (self.missing or self.corrupt or self.orphans or self.stale_temp_files)


def _referenced(session: Session) -> set[str]:
    return set(session.exec(select(Evidence.sha256)).all())


def _still_unreferenced(session: Session, key: str) -> bool:
    session.rollback()  # end the read snapshot: a row committed since must be seen
    return session.exec(select(Evidence.id).where(Evidence.sha256 == key)).first() is None


def sweep(
    session: Session,
    store: EvidenceStore,
    *,
    grace_seconds: float,
    now: float | None = None,
    budget_seconds: float | None = None,
) -> Sweep:
    """Remove orphans and temp files older than `grace_seconds`; report what went."""
    cutoff = (time.time() if now is None else now) - grace_seconds
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    temp_files = store.clean_tmp(older_than_seconds=grace_seconds)
    referenced = _referenced(session)
    removed: list[str] = []
    for key, stored_at in store.entries():
        if deadline is not None and time.monotonic() > deadline:
            return Sweep(removed, temp_files, complete=False)
        if key in referenced or stored_at >= cutoff:
            continue
        if _still_unreferenced(session, key) and store.remove_orphan(key, cutoff=cutoff):
            removed.append(key)
    return Sweep(removed, temp_files)


def check(
    session: Session, store: EvidenceStore, *, grace_seconds: float, now: float | None = None
) -> Report:
    """Re-hash every object a row refers to; list missing and corrupt objects and orphans."""
    cutoff = (time.time() if now is None else now) - grace_seconds
    referenced = _referenced(session)
    missing = sorted(k for k in referenced if not store.exists(k))
    corrupt = sorted(k for k in referenced - set(missing) if store.hash_of(k) != k)
    unreferenced = [(k, at) for k, at in store.entries() if k not in referenced]
    stale = store.stale_tmp(older_than_seconds=grace_seconds)
    return Report(
        checked=len(referenced),
        missing=missing,
        corrupt=corrupt,
        orphans=sorted(k for k, at in unreferenced if at < cutoff),
        young_orphans=sorted(k for k, at in unreferenced if at >= cutoff),
        stale_temp_files=len(stale),
    )
