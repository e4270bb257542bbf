"""`/verify`: anyone holding a statement checks that it was issued and whether it still stands.

Public (no sign-in), so guessing is limited: each failed check is counted per client address in
the sign-in throttle's table, and an address with VERIFY_FAILURES_ALLOWED failures in the
throttle window (15 minutes) is told to wait before any further lookup is made. A malformed
number or hash is explained and counts nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.domain.credentials import THROTTLE_WINDOW_SECONDS
from app.domain.statements import Decided, Verdict, input_problems, normalised, standing_of
from app.domain.workflow import State
from app.models import Decision, Engagement, LoginAttempt, Organisation, PlanCase, Submission

VERIFY_FAILURES_ALLOWED = 30
TOO_MANY = "Too many statements that could not be verified from your network. Wait 15 minutes and try again."


@dataclass(frozen=True, slots=True)
class Verified:
    decision: Decision
    submission: Submission
    engagement: Engagement
    buyer: str
    supplier: str
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class Check:
    """The answer to one verification request: at most one of these is set."""

    verified: Verified | None = None
    problems: dict[str, str] | None = None  # malformed input, by field
    not_found: bool = False
    throttled: bool = False


def _key(address: str) -> str:
    return f"verify:{address}"


def _failures(session: Session, address: str, now: datetime) -> int:
    since = now - timedelta(seconds=THROTTLE_WINDOW_SECONDS)
    query = (
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.key == _key(address), col(LoginAttempt.at) >= since)
    )
    return int(session.exec(query).one())


def _decided(decision: Decision) -> Decided:
    return Decided(decision.number, decision.approved, decision.decided_on, decision.decided_at)


def lookup(session: Session, number: str, sha256: str) -> Verified | None:
    """The decision with this number over a plan with this hash, and how it stands."""
    number, sha256 = normalised(number, sha256)
    decision = session.exec(select(Decision).where(Decision.number == number)).first()
    if decision is None:
        return None
    submission = session.get(Submission, decision.submission_id)
    engagement = session.get(Engagement, decision.engagement_id)
    if submission is None or submission.sha256 != sha256 or engagement is None:
        return None
    others = session.exec(
        select(Decision).where(Decision.engagement_id == engagement.id, Decision.id != decision.id)
    ).all()
    case = session.exec(select(PlanCase).where(PlanCase.engagement_id == engagement.id)).first()
    verdict = standing_of(
        _decided(decision),
        [_decided(d) for d in others],
        terminated=case is not None and case.state == State.TERMINATED,
    )
    buyer = session.get(Organisation, engagement.buyer_org_id)
    supplier = session.get(Organisation, engagement.supplier_org_id)
    return Verified(
        decision,
        submission,
        engagement,
        buyer.name if buyer else "",
        supplier.name if supplier else "",
        verdict,
    )


def check(session: Session, number: str, sha256: str, *, address: str, now: datetime) -> Check:
    """Verify, in the caller's write transaction (a failure is recorded for the throttle)."""
    problems = input_problems(number, sha256)
    if problems:
        return Check(problems=problems)
    if _failures(session, address, now) >= VERIFY_FAILURES_ALLOWED:
        return Check(throttled=True)
    found = lookup(session, number, sha256)
    if found is None:
        session.add(LoginAttempt(key=_key(address), at=now))
        session.flush()
        return Check(not_found=True)
    return Check(verified=found)
