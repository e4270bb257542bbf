"""Evidence bundles for auditors (issue 17 item 7): the evidence linked to an engagement, or the
evidence one submission was decided on, as one zip with a manifest.

`plan_engagement_bundle` / `plan_submission_bundle` decide what goes in (in a fixed number of
queries) and audit the export; the zip itself is written by `zip_chunks` as it is sent, one file
after another straight from the evidence store, so neither the whole bundle nor a whole file is
ever held in memory or written to disk. Each file is named `<control>/<sha256 prefix>-<file
name>` (a file linked to several controls appears once, under the first, and the manifest
names them all). The manifest (CSV and JSON) lists each file's controls, SHA-256, version,
effective and expiry dates, kind, marking and uploader, so the auditor can check every byte.
"""

from __future__ import annotations

import json
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

from sqlmodel import Session, col, select

from app.adapters.spreadsheets import Sheet, csv_text
from app.adapters.storage.base import EvidenceStore
from app.domain.audit import AuditAction
from app.models import Engagement, Evidence, EvidenceLink, Submission, User
from app.services import approvals, scanning
from app.services.caller import Caller

MANIFEST_HEADERS = (
    "file", "controls", "title", "sha256", "size", "version", "effective_on", "expires_on", "kind",
    "marking", "uploaded_by", "uploaded_at",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Entry:
    file: str  # the path inside the zip
    controls: str  # space-separated control ids
    title: str
    sha256: str
    size: int
    version: int
    effective_on: str
    expires_on: str
    kind: str
    marking: str
    uploaded_by: str
    uploaded_at: str


@dataclass(frozen=True, slots=True)
class Bundle:
    name: str  # the zip's file name, without extension
    entries: list[Entry]
    extra: list[tuple[str, bytes]]  # further files (the statement), written after the evidence


def _safe(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._- " else "_" for c in name).strip(" .")
    return cleaned[:120] or "file"


def _entries(session: Session, by_evidence: dict[str, list[str]]) -> list[Entry]:
    if not by_evidence:
        return []
    rows = list(session.exec(select(Evidence).where(col(Evidence.id).in_(list(by_evidence)))))
    held = scanning.withheld(session, [r.sha256 for r in rows])  # quarantined or not yet checked
    rows = [r for r in rows if r.sha256 not in held]
    uploaders = {r.uploaded_by_id for r in rows}
    names = {u.id: u.name for u in session.exec(select(User).where(col(User.id).in_(uploaders)))}
    entries = []
    for row in sorted(rows, key=lambda r: (sorted(by_evidence[r.id])[0], r.title, r.id)):
        controls = sorted(set(by_evidence[row.id]))
        entries.append(
            Entry(
                file=f"{_safe(controls[0])}/{row.sha256[:12]}-{_safe(row.file_name)}",
                controls=" ".join(controls),
                title=row.title,
                sha256=row.sha256,
                size=row.size,
                version=row.version,
                effective_on=row.effective_on.isoformat() if row.effective_on else "",
                expires_on=row.expires_on.isoformat() if row.expires_on else "",
                kind=str(row.kind),
                marking=str(row.marking),
                uploaded_by=names.get(row.uploaded_by_id, ""),
                uploaded_at=row.uploaded_at.isoformat(),
            )
        )
    return entries


def _audit(session: Session, caller: Caller, engagement: Engagement, what: str, count: int) -> None:
    caller.record(
        session,
        AuditAction.ENGAGEMENT_EXPORTED,
        object_type="engagement",
        object_id=engagement.id,
        engagement_id=engagement.id,
        details={"what": what, "files": count},
    )


def plan_engagement_bundle(session: Session, caller: Caller, engagement: Engagement) -> Bundle:
    """Every piece of evidence linked to the engagement now (the loader checked the caller may
    view it, and whoever may view an engagement may read the evidence linked into it)."""
    by_evidence: dict[str, list[str]] = defaultdict(list)
    links = session.exec(
        select(EvidenceLink.evidence_id, EvidenceLink.control_id).where(
            EvidenceLink.engagement_id == engagement.id
        )
    )
    for evidence_id, control_id in links:
        by_evidence[evidence_id].append(control_id)
    entries = _entries(session, by_evidence)
    _audit(session, caller, engagement, "evidence_bundle", len(entries))
    return Bundle(f"attest-evidence-{_safe(engagement.reference).replace(' ', '-')}", entries, [])


def plan_submission_bundle(
    session: Session, caller: Caller, engagement: Engagement, submission: Submission
) -> Bundle:
    """The evidence the submission's snapshot names (the versions it was decided on); the caller
    adds the ISAS or rejection notice once the submission is decided (`with_statement`)."""
    by_evidence: dict[str, list[str]] = defaultdict(list)
    for response in approvals.data_of(submission).get("responses", []):
        for item in response.get("evidence", []):
            by_evidence[item["id"]].append(response["control_id"])
    entries = _entries(session, by_evidence)
    _audit(session, caller, engagement, "submission_bundle", len(entries))
    reference = _safe(engagement.reference).replace(" ", "-")
    return Bundle(f"attest-{reference}-plan-v{submission.version}-evidence", entries, [])


def with_statement(bundle: Bundle, pdf: bytes, name: str) -> Bundle:
    return Bundle(bundle.name, bundle.entries, [*bundle.extra, (f"statement/{_safe(name)}", pdf)])


class _Sink:
    """Where zipfile writes: it keeps what was written until the response takes it."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out, self.parts = b"".join(self.parts), []
        return out


def manifest_files(bundle: Bundle) -> list[tuple[str, bytes]]:
    rows = [list(asdict(e).values()) for e in bundle.entries]
    csv_body = csv_text(Sheet("manifest", MANIFEST_HEADERS, rows)).encode("utf-8-sig")
    json_body = json.dumps(
        {"files": [asdict(e) for e in bundle.entries]}, indent=2, ensure_ascii=False
    ).encode()
    return [("manifest.csv", csv_body), ("manifest.json", json_body)]


def zip_chunks(store: EvidenceStore, bundle: Bundle) -> Iterator[bytes]:
    """The zip, chunk by chunk, as it is written: manifests first, then each file from the store."""
    sink = _Sink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:  # type: ignore[call-overload]
        for name, body in manifest_files(bundle):
            archive.writestr(name, body)
            yield sink.take()
        for entry in bundle.entries:
            info = zipfile.ZipInfo(entry.file)
            info.compress_type = zipfile.ZIP_STORED if _compressed(entry.file) else zipfile.ZIP_DEFLATED
            info.file_size = entry.size  # lets zipfile choose ZIP64 for files over 2 GiB
            with archive.open(info, mode="w") as out:
                for chunk in _chunks(store, entry.sha256):
                    out.write(chunk)
                    if sum(len(p) for p in sink.parts) >= 1 << 20:
                        yield sink.take()
            yield sink.take()
        for name, body in bundle.extra:
            archive.writestr(name, body)
            yield sink.take()
    yield sink.take()


# Formats that are compressed already (deflating them again costs the CPU and saves nothing):
# stored as they are. Everything else (text, CSV, logs, XML, ...) is deflated.
ALREADY_COMPRESSED = frozenset(
    [
        ".pdf",
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".webp",
        ".zip",
        ".gz",
        ".tgz",
        ".bz2",
        ".xz",
        ".7z",
        ".docx",
        ".xlsx",
        ".pptx",
        ".odt",
        ".ods",
        ".odp",
        ".mp4",
        ".mov",
    ]
)


def _compressed(name: str) -> bool:
    dot = name.rfind(".")
    return dot >= 0 and name[dot:].lower() in ALREADY_COMPRESSED


def _chunks(store: EvidenceStore, key: str) -> Iterable[bytes]:
    return store.open(key)
