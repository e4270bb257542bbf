"""The Security Management Plan approval workflow: profiles as data, one transition table.

Profiles (product brief "Workflow profiles"):

- Schedule 2.4 (IMS4): plan within 30 Working Days of the Effective Date (para 4.4); the
  Authority decides within 20 Working Days of receipt (4.5), issuing an ISAS (4.5(a)) or a
  rejection notice (4.5(b)); the supplier revises within 10 Working Days (4.6); two or more
  rejection notices are a material Default and the Authority may terminate (4.7); the cycle
  repeats until an ISAS or termination (4.8); the plan is reviewed each Contract Year (5.1).
- Call Off Schedule 7: plan within 20 Working Days of the Call Off Commencement Date
  (para 4.3.1); amend within 10 Working Days of a notice of non-approval, the whole
  approval taking no longer than 15 Working Days from the first submission; a plan not
  approved after resubmission goes to the Dispute Resolution Procedure (4.3.2); reviewed
  at least annually (4.4.1).

States: draft (never submitted) -> submitted (awaiting the buyer) -> approved (ISAS issued)
or rejected (revision due) -> submitted ... ; dispute (Call Off, after a resubmission is
not approved); terminated (the buyer recorded termination after a material Default).
An approved plan re-enters the cycle when the supplier submits its annual review or an
update (Schedule 2.4 5.1, 5.3): a new cycle starts and its rejection count restarts.

Only a supplier lead submits; only a buyer security advisor decides, resolves a dispute
or records termination. No transition skips a state: `transition()` is the only way to
move, and it refuses anything the table does not list.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from app.domain.access import Role
from app.domain.errors import Conflict, Forbidden, InvalidInput


class State(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    DISPUTE = "dispute"
    TERMINATED = "terminated"


class Move(StrEnum):
    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    RESOLVE_DISPUTE = "resolve_dispute"
    TERMINATE = "terminate"


@dataclass(frozen=True, slots=True)
class Period:
    """A number of Working Days counted from an event, with the clause that sets it."""

    working_days: int
    counted_from: str
    clause: str


@dataclass(frozen=True, slots=True)
class Profile:
    id: str
    title: str
    source: str
    first_plan: Period
    decision: Period
    decision_from_first_submission: bool  # Call Off: one clock for the whole approval
    revision: Period
    material_default_after: int | None  # rejection notices that make a material Default
    dispute_after_resubmission: bool
    review: str  # how often the plan must be reviewed, with its clause
    review_clause: str
    change_notice: Period | None
    register_update: Period | None
    consequence: str  # what repeated rejection leads to, in words


SCHEDULE_2_4 = Profile(
    id="schedule-2-4",
    title="Schedule 2.4 (IMS4)",
    source="001_7d77124de15f7d1c.txt, Schedule 2.4 Security Management",
    first_plan=Period(30, "the Effective Date", "Schedule 2.4 para 4.4"),
    decision=Period(20, "receipt of the plan", "Schedule 2.4 para 4.5"),
    decision_from_first_submission=False,
    revision=Period(10, "the rejection notice", "Schedule 2.4 para 4.6"),
    material_default_after=2,
    dispute_after_resubmission=False,
    review="at least once each Contract Year",
    review_clause="Schedule 2.4 para 5.1",
    change_notice=Period(2, "becoming aware of the change", "Schedule 2.4 para 5.2"),
    register_update=Period(10, "the change notice", "Schedule 2.4 para 5.3"),
    consequence=(
        "Two or more rejection notices are a material Default; the Authority may terminate (para 4.7)."
    ),
)
CALL_OFF_SCHEDULE_7 = Profile(
    id="call-off-schedule-7",
    title="Call Off Schedule 7 (Security)",
    source="002_e7f4c131fc912dac.txt, Call Off Schedule 7 Security",
    first_plan=Period(20, "the Call Off Commencement Date", "Call Off Schedule 7 para 4.3.1"),
    decision=Period(15, "the first submission", "Call Off Schedule 7 para 4.3.2"),
    decision_from_first_submission=True,
    revision=Period(10, "the notice of non-approval", "Call Off Schedule 7 para 4.3.2"),
    material_default_after=None,
    dispute_after_resubmission=True,
    review="at least annually",
    review_clause="Call Off Schedule 7 para 4.4.1",
    change_notice=None,
    register_update=None,
    consequence=(
        "A plan not approved after resubmission goes to the Dispute Resolution Procedure (para 4.3.2)."
    ),
)
PROFILES: dict[str, Profile] = {p.id: p for p in (SCHEDULE_2_4, CALL_OFF_SCHEDULE_7)}


def profile(profile_id: str) -> Profile:
    try:
        return PROFILES[profile_id]
    except KeyError:
        raise InvalidInput(f"Unknown workflow profile {profile_id!r}.") from None


@dataclass(frozen=True, slots=True)
class Case:
    """Where one engagement's plan stands. `cycle` counts approval cycles (annual reviews
    start a new one); `rejections` counts rejection notices within the current cycle."""

    state: State = State.DRAFT
    cycle: int = 0
    rejections: int = 0
    material_default: bool = False


ADVISOR = frozenset({Role.BUYER_ADVISOR})
LEAD = frozenset({Role.SUPPLIER_LEAD})

# (move, from state) -> roles allowed. The target state is decided by `transition`.
TABLE: dict[tuple[Move, State], frozenset[Role]] = {
    (Move.SUBMIT, State.DRAFT): LEAD,
    (Move.SUBMIT, State.REJECTED): LEAD,
    (Move.SUBMIT, State.APPROVED): LEAD,  # annual review or update: a new cycle
    (Move.APPROVE, State.SUBMITTED): ADVISOR,
    (Move.REJECT, State.SUBMITTED): ADVISOR,
    (Move.RESOLVE_DISPUTE, State.DISPUTE): ADVISOR,
    (Move.TERMINATE, State.REJECTED): ADVISOR,
}


def allowed_moves(case: Case, role: Role, prof: Profile) -> list[Move]:
    """The moves `role` may make now (what the pages offer)."""
    return [m for m in Move if _refusal(case, m, role, prof) is None]


def _refusal(case: Case, move: Move, role: Role, prof: Profile) -> Exception | None:
    roles = TABLE.get((move, case.state))
    if roles is None:
        return Conflict(f"Cannot {move.value.replace('_', ' ')} a plan that is {case.state.value}.")
    if role not in roles:
        who = "a buyer security advisor" if roles == ADVISOR else "the supplier's security lead"
        return Forbidden(f"Only {who} may {move.value.replace('_', ' ')} a plan.")
    if move is Move.TERMINATE and not case.material_default:
        return Conflict("Termination may be recorded only after a material Default (Schedule 2.4 para 4.7).")
    return None


def transition(case: Case, move: Move, role: Role, prof: Profile) -> Case:
    """The one guarded function that moves a plan. Raises Conflict or Forbidden."""
    refusal = _refusal(case, move, role, prof)
    if refusal is not None:
        raise refusal
    if move is Move.SUBMIT:
        if case.state in (State.DRAFT, State.APPROVED):
            return Case(State.SUBMITTED, cycle=case.cycle + 1)
        return replace(case, state=State.SUBMITTED)
    if move is Move.APPROVE:
        return replace(case, state=State.APPROVED, material_default=False)
    if move is Move.REJECT:
        rejections = case.rejections + 1
        if prof.dispute_after_resubmission and rejections >= 2:
            return replace(case, state=State.DISPUTE, rejections=rejections)
        default = prof.material_default_after is not None and rejections >= prof.material_default_after
        return replace(case, state=State.REJECTED, rejections=rejections, material_default=default)
    if move is Move.RESOLVE_DISPUTE:
        return replace(case, state=State.REJECTED)
    return replace(case, state=State.TERMINATED)
