"""Checking the evidence store against the database, and cleaning up after a crash.

An upload stores its object first and commits its row second (conventions,
"Persistence"), so a crash in between leaves an object that no row refers to: an
orphan; a crash while the bytes stream leaves a temp file. Neither was ever
acknowledged. `sweep` removes orphans and temp files older than the grace period; an
object younger than that may belong to an upload about to commit and is kept. An
object that a committed row refers to is never removed: the rows are read first and
each candidate is looked up again, in a fresh snapshot, just before it goes.

`check` re-hashes the whole store in one process. `check_shard` does the same for the keys
that start with one hex prefix (keys are SHA-256 digests, so 16 or 256 prefixes split a store
evenly), so several workers can verify one store in parallel (jobs `attest.evidence.verify_*`);
`merge` adds the shards' reports up to the report `check` would have given.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlmodel import Session, select

from app.adapters.storage import EvidenceStore
from app.models import Evidence


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

    def as_dict(self) -> dict[str, Any]:
        """Plain data (a job's result crosses the queue as this)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        return cls(
            checked=int(data["checked"]),
            missing=list(data["missing"]),
            corrupt=list(data["corrupt"]),
            orphans=list(data["orphans"]),
            young_orphans=list(data["young_orphans"]),
            stale_temp_files=int(data["stale_temp_files"]),
        )


HEX = "0123456789abcdef"
SHARD_COUNTS = (1, 16, 256)  # prefixes of 0, 1 or 2 hex digits


def shard_prefixes(shards: int) -> list[str]:
    """The key prefixes that split the store into `shards` parts (one of SHARD_COUNTS)."""
    if shards not in SHARD_COUNTS:
        raise ValueError(f"shards must be one of {', '.join(map(str, SHARD_COUNTS))}")
    prefixes = [""]
    while len(prefixes) < shards:
        prefixes = [p + digit for p in prefixes for digit in HEX]
    return prefixes


def _referenced(session: Session, prefix: str = "") -> set[str]:
    query = select(Evidence.sha256)
    if prefix:
        query = query.where(Evidence.sha256.startswith(prefix))
    return set(session.exec(query).all())


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
    whole = check_shard(session, store, prefix="", grace_seconds=grace_seconds, now=now)
    return merge([whole], stale_temp_files=len(store.stale_tmp(older_than_seconds=grace_seconds)))


def check_shard(
    session: Session, store: EvidenceStore, *, prefix: str, grace_seconds: float, now: float | None = None
) -> Report:
    """`check` for the objects whose keys start with `prefix` ("" for all), without the temp
    files (they belong to no shard: `merge` counts them once)."""
    if prefix.strip(HEX) or len(prefix) > 2:
        raise ValueError("a shard prefix is at most two lower-case hex digits")
    cutoff = (time.time() if now is None else now) - grace_seconds
    referenced = _referenced(session, prefix)
    missing = sorted(k for k in referenced if not store.exists(k))
    corrupt = sorted(k for k in referenced - set(missing) if store.hash_of(k) != k)
    unreferenced = [(k, at) for k, at in store.entries() if k.startswith(prefix) and k not in referenced]
    return Report(
        checked=len(referenced),
        missing=missing,
        corrupt=corrupt,
        orphans=sorted(k for k, at in unreferenced if at < cutoff),
        young_orphans=sorted(k for k, at in unreferenced if at >= cutoff),
        stale_temp_files=0,
    )


def merge(reports: list[Report], *, stale_temp_files: int) -> Report:
    """One report for the whole store from the reports of disjoint shards."""
    return Report(
        checked=sum(r.checked for r in reports),
        missing=sorted(k for r in reports for k in r.missing),
        corrupt=sorted(k for r in reports for k in r.corrupt),
        orphans=sorted(k for r in reports for k in r.orphans),
        young_orphans=sorted(k for r in reports for k in r.young_orphans),
        stale_temp_files=stale_temp_files,
    )
