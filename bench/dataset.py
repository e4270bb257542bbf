"""The benchmark's data set, built from a fixed seed straight into the tables (bulk inserts), at a
named size: one buyer with its advisors, suppliers each with a lead and a certificate, and
engagements holding the CPS security policy and ISO/IEC 27001 catalogues, about 60% of the
controls answered, a year of answer history, five evidence files each (real files in the local
store) linked to answered controls, every fifth engagement with a submitted plan awaiting a
decision, and a notification per engagement for one of the advisors.

The same seed and size give the same rows (ids included) on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, text

from app.adapters.catalogue_files import load_library
from app.adapters.crypto import hash_password
from app.domain.certificates import Scheme, default_expiry
from app.domain.submissions import canonical, fingerprint
from app.models import (
    Certificate,
    ControlResponse,
    Engagement,
    EngagementCatalogue,
    Evidence,
    EvidenceLink,
    Notification,
    Organisation,
    PlanCase,
    ResponseChange,
    Submission,
    User,
)

ROOT = Path(__file__).resolve().parents[1]
SEED = 18  # issue 18
CATALOGUES = ("cps-security-policy", "iso27001-2022")
ANSWERED = 0.6
EVIDENCE_PER_ENGAGEMENT = 5
SUBMITTED_EVERY = 5
PASSWORD = "bench passphrase, never used to sign in"  # noqa: S105 - a benchmark's throwaway


@dataclass(frozen=True)
class Size:
    name: str
    engagements: int
    suppliers: int
    advisors: int


SIZES = {
    "small": Size("small", 50, 25, 30),
    "large": Size("large", 2000, 1000, 30),
    "tiny": Size("tiny", 6, 3, 2),  # tests/test_bench.py only
}


@dataclass
class Built:
    """What the benchmark needs to find again in the data set it built."""

    size: Size
    buyer_id: str
    advisor_ids: list[str]
    lead_ids: list[str]  # one per supplier, in supplier order
    engagement_ids: list[str]
    supplier_of: dict[str, str]  # engagement id -> supplier org id
    lead_of: dict[str, str]  # supplier org id -> lead's user id
    submission_ids: list[str]
    answered_control: str  # an answered ISO control of engagement_ids[0]
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows inserted
    evidence_bytes: int = 0
    seconds: float = 0.0


def _ids(rng: random.Random) -> Iterator[str]:
    while True:
        yield f"{rng.getrandbits(128):032x}"


def catalogue_controls(controls_dir: Path = ROOT / "controls") -> dict[str, list[str]]:
    library = load_library(controls_dir)
    return {c.id: [control.id for control in c.controls] for c in library.catalogues if c.id in CATALOGUES}


def _pdf(text: str) -> bytes:
    return f"%PDF-1.4\n% {text}\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n".encode()


def _store(objects_dir: Path, data: bytes) -> str:
    key = hashlib.sha256(data).hexdigest()
    target = objects_dir / key[:2] / key[2:4] / key
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    target.chmod(0o440)
    return key


def _snapshot(engagement_id: str, answers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "engagement": {"id": engagement_id},
        "scoping": {},
        "responses": answers,
        "risks": [],
        "register": [],
        "incident": {
            "document": "Triage within an hour.",
            "contacts": [],
            "report_loss_hours": None,
            "trace_loss_hours": None,
        },
        "roles": [],
    }


def build(
    engine: Engine, evidence_dir: Path, size: Size, *, seed: int = SEED, now: datetime | None = None
) -> Built:
    """Insert the data set into a migrated, empty database; evidence files under `evidence_dir`."""
    import time

    started = time.perf_counter()
    rng = random.Random(seed)  # noqa: S311 - a benchmark's data, not a secret
    ids = _ids(rng)
    now = now or datetime.now(UTC)
    today = now.date()
    objects_dir = evidence_dir / "objects"
    controls = catalogue_controls()
    password_hash = hash_password(PASSWORD)

    tables: dict[Any, list[dict[str, Any]]] = {
        m: []
        for m in (
            Organisation,
            User,
            Engagement,
            EngagementCatalogue,
            Certificate,
            Evidence,
            ControlResponse,
            EvidenceLink,
            ResponseChange,
            Submission,
            PlanCase,
            Notification,
        )
    }

    def user(name: str, email: str, org: str, role: str) -> str:
        uid = next(ids)
        tables[User].append(
            dict(
                id=uid,
                email=email,
                name=name,
                organisation_id=org,
                role=role,
                created_at=now - timedelta(days=400),
                password_hash=password_hash,
                mfa_enrolled_at=now - timedelta(days=400),
                totp_last_step=0,
            )
        )
        return uid

    buyer = next(ids)
    tables[Organisation].append(dict(id=buyer, name="Bench Department", kind="buyer", created_at=now))
    advisors = [
        user(f"Advisor {i + 1}", f"advisor{i + 1}@dept.bench.example", buyer, "buyer_advisor")
        for i in range(size.advisors)
    ]
    suppliers, leads, lead_of = [], [], {}
    for s in range(size.suppliers):
        org = next(ids)
        suppliers.append(org)
        tables[Organisation].append(
            dict(id=org, name=f"Supplier {s + 1:04d} Ltd", kind="supplier", created_at=now)
        )
        lead = user(f"Lead {s + 1}", f"lead{s + 1}@supplier{s + 1}.bench.example", org, "supplier_lead")
        leads.append(lead)
        lead_of[org] = lead
        issued = today - timedelta(days=rng.randrange(30, 700))
        tables[Certificate].append(
            dict(
                id=next(ids),
                supplier_org_id=org,
                scheme=Scheme.ISO27001,
                body="Bench Certification",
                number=f"ISO-{s + 1:05d}",
                issued_on=issued,
                expires_on=default_expiry(Scheme.ISO27001, issued),
                created_by_id=lead,
                created_at=now,
                updated_at=now,
            )
        )

    engagements, supplier_of, submissions = [], {}, []
    evidence_bytes = 0
    first_answered = ""
    statuses = ("met", "met", "partially_met", "not_met")
    for e in range(size.engagements):
        eid = next(ids)
        supplier = suppliers[e % size.suppliers]
        lead = lead_of[supplier]
        engagements.append(eid)
        supplier_of[eid] = supplier
        tables[Engagement].append(
            dict(
                id=eid,
                reference=f"BENCH {e + 1:05d}",
                title=f"Managed service {e + 1}",
                buyer_org_id=buyer,
                supplier_org_id=supplier,
                effective_on=today - timedelta(days=rng.randrange(200, 365)),
                workflow_profile="schedule-2-4" if e % 3 else "call-off-schedule-7",
                created_at=now - timedelta(days=365),
            )
        )
        answered: list[str] = []
        answers: list[dict[str, Any]] = []
        for catalogue, control_ids in controls.items():
            tables[EngagementCatalogue].append(dict(engagement_id=eid, catalogue_id=catalogue))
            for control_id in control_ids:
                if rng.random() >= ANSWERED:
                    continue
                status = rng.choice(statuses)
                statement = f"{control_id} is in place for service {e + 1}; owned by the security lead." * 2
                changes = rng.randrange(1, 5)  # a year of history: answered, then changed
                days = sorted(rng.sample(range(1, 365), changes), reverse=True)
                tables[ControlResponse].append(
                    dict(
                        id=next(ids),
                        engagement_id=eid,
                        control_id=control_id,
                        status=status,
                        statement=statement,
                        justification="",
                        planned_change="" if status == "met" else "Close the gap this quarter.",
                        version=changes,
                        updated_by_id=lead,
                        updated_at=now - timedelta(days=days[-1]),
                    )
                )
                before: dict[str, str] = {}
                for n, day in enumerate(days):
                    after = {
                        "status": status if n == changes - 1 else rng.choice(statuses),
                        "statement": statement,
                    }
                    tables[ResponseChange].append(
                        dict(
                            engagement_id=eid,
                            control_id=control_id,
                            changed_by_id=lead,
                            changed_at=now - timedelta(days=day),
                            before=json.dumps(before),
                            after=json.dumps(after),
                        )
                    )
                    before = after
                answered.append(control_id)
                answers.append(
                    {
                        "control_id": control_id,
                        "title": control_id,
                        "status": status,
                        "statement": statement,
                        "justification": "",
                        "planned_change": "",
                        "target_date": None,
                        "evidence": [],
                    }
                )
        if e == 0:
            first_answered = next(c for c in answered if c.startswith("ISO"))
        for f in range(EVIDENCE_PER_ENGAGEMENT):
            data = _pdf(f"bench evidence {e + 1}.{f + 1} seed {seed} " + "x" * rng.randrange(200, 4000))
            key = _store(objects_dir, data)
            evidence_bytes += len(data)
            vid = next(ids)
            tables[Evidence].append(
                dict(
                    id=vid,
                    supplier_org_id=supplier,
                    family_id=vid,
                    version=1,
                    title=f"Policy {e + 1}.{f + 1}",
                    kind=rng.choice(("policy", "procedure", "report")),
                    marking="OFFICIAL",
                    file_name=f"policy-{e + 1}-{f + 1}.pdf",
                    media_type="application/pdf",
                    size=len(data),
                    sha256=key,
                    uploaded_by_id=lead,
                    uploaded_at=now - timedelta(days=rng.randrange(1, 365)),
                )
            )
            for control_id in rng.sample(answered, min(3, len(answered))):
                tables[EvidenceLink].append(
                    dict(
                        engagement_id=eid,
                        control_id=control_id,
                        evidence_id=vid,
                        linked_by_id=lead,
                        linked_at=now - timedelta(days=1),
                    )
                )
        if e % SUBMITTED_EVERY == 0:
            snapshot = _snapshot(eid, answers)
            sid = next(ids)
            submissions.append(sid)
            tables[Submission].append(
                dict(
                    id=sid,
                    engagement_id=eid,
                    version=1,
                    cycle=1,
                    snapshot=canonical(snapshot).decode(),
                    sha256=fingerprint(snapshot),
                    officer_name="Dana Chief",
                    officer_role="COO",
                    submitted_by_id=lead,
                    submitted_on=today - timedelta(days=rng.randrange(1, 10)),
                    submitted_at=now - timedelta(days=1),
                )
            )
            tables[PlanCase].append(dict(engagement_id=eid, state="submitted", cycle=1, updated_at=now))
        tables[Notification].append(
            dict(
                id=next(ids),
                user_id=advisors[e % len(advisors)],
                category="workflow_deadline",
                subject=f"BENCH {e + 1:05d}: a deadline is near",
                link=f"/engagements/{eid}",
                created_at=now - timedelta(days=rng.randrange(0, 30)),
            )
        )

    rows: dict[str, int] = {}
    with engine.begin() as connection:
        for model, batch in tables.items():
            for start in range(0, len(batch), 5000):
                connection.execute(insert(model), batch[start : start + 5000])
            rows[model.__tablename__] = len(batch)
    return Built(
        size=size,
        buyer_id=buyer,
        advisor_ids=advisors,
        lead_ids=leads,
        engagement_ids=engagements,
        supplier_of=supplier_of,
        lead_of=lead_of,
        submission_ids=submissions,
        answered_control=first_answered,
        rows=rows,
        evidence_bytes=evidence_bytes,
        seconds=time.perf_counter() - started,
    )


def widen(engine: Engine, built: Built, controls_dir: Path = ROOT / "controls") -> int:
    """The export's engagement (the second one): every catalogue, every control answered; returns
    its number of controls (issue 17's export of a 400-control engagement, as near as the
    shipped catalogues come)."""
    engagement_id = built.engagement_ids[1]
    lead = built.lead_of[built.supplier_of[engagement_id]]
    now = datetime.now(UTC)
    library = load_library(controls_dir)
    with engine.begin() as connection:
        answered = {
            row[0]
            for row in connection.execute(
                text("SELECT control_id FROM control_response WHERE engagement_id = :e"), {"e": engagement_id}
            )
        }
        extra = [c for c in library.catalogues if c.id not in CATALOGUES]
        if extra:
            connection.execute(
                insert(EngagementCatalogue),
                [dict(engagement_id=engagement_id, catalogue_id=c.id) for c in extra],
            )
        every = [control.id for c in library.catalogues for control in c.controls]
        missing = [c for c in dict.fromkeys(every) if c not in answered]
        if missing:
            connection.execute(
                insert(ControlResponse),
                [
                    dict(
                        id=f"w{i:031d}",
                        engagement_id=engagement_id,
                        control_id=control_id,
                        status="met",
                        statement=f"{control_id} is in place and reviewed every year by the security lead.",
                        justification="",
                        planned_change="",
                        version=1,
                        updated_by_id=lead,
                        updated_at=now,
                    )
                    for i, control_id in enumerate(missing)
                ],
            )
    return len(set(every))
