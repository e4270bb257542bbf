"""The Security Management Plan approval workflow: profiles as data, one transition table.

Profiles (product brief "Workflow profiles"), each period with the clause that sets it and
whether that clause lets the parties agree another one ("or such other timescale/period as
agreed": app.domain.variations):

- Schedule 2.4 (IMS4), seed 001: plan within 30 Working Days of the Effective Date (para 4.4);
  the Authority decides within 20 Working Days of receipt (4.5), issuing an ISAS (4.5(a)) or a
  rejection notice (4.5(b)); the supplier revises within 10 Working Days "or such other
  timescale as agreed" (4.6); two or more rejection notices are a material Default and the
  Authority may terminate (4.7); the cycle repeats until an ISAS or termination (4.8); the plan
  is reviewed each Contract Year (5.1); change notices within 2 Working Days (5.2), the Required
  Changes Register within 10 Working Days "or such other timescale as may be agreed" (5.3); loss
  of certification notified within 2 Working Days (6.6). Paras 4.4 and 4.5 allow no agreed
  other timescale.
- Call Off Schedule 7, seed 002, which has two forms with different numbers; the engagement
  records which (`CallOffForm`):
  - short form: plan within 20 Working Days after the Call Off Commencement Date "or such other
    period agreed by the Parties in writing" (para 4.3.1); amended within 10 Working Days of a
    notice of non-approval "or such other period as the Parties may agree in writing", and the
    Parties use all reasonable endeavours to finish the approval within 15 Working Days (or an
    agreed period) of its first submission; a plan not approved after resubmission goes to the
    Dispute Resolution Procedure (4.3.2); reviewed at least annually (4.4.1).
  - long form: the ISMS within 20 Working Days after the Call Off Commencement Date "or such
    other date as agreed between the Parties" (para 3.1), amended within 10 Working Days of a
    notice of non-approval with the same 15 Working Day target (3.6); the plan within 20 Working
    Days after the Call Off Commencement Date (4.1, no agreed other period); amended within 10
    Working Days of a notice of non-approval (4.3, no agreed other period), the approval within
    15 Working Days of the first submission (or an agreed period) as a shared target, dispute
    after a failed resubmission (4.3); ISMS and plan reviewed at least annually (5.1).
  Under both forms the 15 Working Days bind neither party alone: they are a target for the
  approval cycle (`approval_target`), not a deadline of the buyer.

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


class Consequence(StrEnum):
    """What a decision led to, as the decision records it: nothing, a dispute (Call Off Schedule 7
    para 4.3.2) or a material Default (Schedule 2.4 para 4.7)."""

    NONE = ""
    DISPUTE = "dispute"
    MATERIAL_DEFAULT = "material_default"


@dataclass(frozen=True, slots=True)
class Period:
    """A number of Working Days counted from an event, with the clause that sets it.
    `may_vary`: the clause itself lets the parties agree another timescale (then an agreed
    variation may replace the date it gives)."""

    working_days: int
    counted_from: str
    clause: str
    may_vary: bool = False


@dataclass(frozen=True, slots=True)
class Profile:
    id: str
    title: str
    source: str
    first_plan: Period
    decision: Period | None  # a deadline of the buyer for each submission (Schedule 2.4 para 4.5)
    approval_target: Period | None  # a shared target for each cycle (Call Off Schedule 7)
    revision: Period
    material_default_after: int | None  # rejection notices that make a material Default
    dispute_after_resubmission: bool
    review: str  # how often the plan must be reviewed, with its clause
    review_clause: str
    change_notice: Period | None
    register_update: Period | None
    consequence: str  # what repeated rejection leads to, in words
    form: str = ""  # Call Off Schedule 7: "short" or "long" (CallOffForm); "" otherwise
    certification_notice: Period | None = None  # loss of certification (Schedule 2.4 para 6.6)
    isms: Period | None = None  # the ISMS submission (Call Off Schedule 7 long form para 3.1)
    isms_revision: str = ""  # what happens after the ISMS is not approved (long form para 3.6)

    @property
    def decision_from_first_submission(self) -> bool:
        """Call Off Schedule 7: one clock (a target) for the whole approval of a cycle."""
        return self.approval_target is not None


SCHEDULE_2_4 = Profile(
    id="schedule-2-4",
    title="Schedule 2.4 (IMS4)",
    source="001_7d77124de15f7d1c.txt, Schedule 2.4 Security Management",
    first_plan=Period(30, "the Effective Date", "Schedule 2.4 para 4.4"),
    decision=Period(20, "receipt of the plan", "Schedule 2.4 para 4.5"),
    approval_target=None,
    revision=Period(10, "the rejection notice", "Schedule 2.4 para 4.6", may_vary=True),
    material_default_after=2,
    dispute_after_resubmission=False,
    review="at least once each Contract Year",
    review_clause="Schedule 2.4 para 5.1",
    change_notice=Period(2, "becoming aware of the change", "Schedule 2.4 para 5.2"),
    register_update=Period(10, "the change notice", "Schedule 2.4 para 5.3", may_vary=True),
    consequence=(
        "Two or more rejection notices are a material Default; the Authority may terminate (para 4.7)."
    ),
    certification_notice=Period(2, "the day compliance ceased", "Schedule 2.4 para 6.6"),
)
CALL_OFF_SCHEDULE_7_SHORT = Profile(
    id="call-off-schedule-7",
    title="Call Off Schedule 7 (Security), short form",
    source="002_e7f4c131fc912dac.txt, Call Off Schedule 7 Security, short form (paragraphs 1 to 5)",
    first_plan=Period(
        20, "the Call Off Commencement Date", "Call Off Schedule 7 short form para 4.3.1", may_vary=True
    ),
    decision=None,
    approval_target=Period(
        15, "the first submission", "Call Off Schedule 7 short form para 4.3.2", may_vary=True
    ),
    revision=Period(
        10, "the notice of non-approval", "Call Off Schedule 7 short form para 4.3.2", may_vary=True
    ),
    material_default_after=None,
    dispute_after_resubmission=True,
    review="at least annually",
    review_clause="Call Off Schedule 7 short form para 4.4.1",
    change_notice=None,
    register_update=None,
    consequence=(
        "A plan not approved after resubmission goes to the Dispute Resolution Procedure (para 4.3.2)."
    ),
    form="short",
)
CALL_OFF_SCHEDULE_7_LONG = Profile(
    id="call-off-schedule-7",
    title="Call Off Schedule 7 (Security), long form",
    source="002_e7f4c131fc912dac.txt, Call Off Schedule 7 Security, long form (paras 1 to 9, Annex 1)",
    first_plan=Period(20, "the Call Off Commencement Date", "Call Off Schedule 7 long form para 4.1"),
    decision=None,
    approval_target=Period(
        15, "the first submission", "Call Off Schedule 7 long form para 4.3", may_vary=True
    ),
    revision=Period(10, "the notice of non-approval", "Call Off Schedule 7 long form para 4.3"),
    material_default_after=None,
    dispute_after_resubmission=True,
    review="at least annually",
    review_clause="Call Off Schedule 7 long form para 5.1",
    change_notice=None,
    register_update=None,
    consequence=(
        "A plan not approved after resubmission goes to the Dispute Resolution Procedure (para 4.3)."
    ),
    form="long",
    isms=Period(
        20, "the Call Off Commencement Date", "Call Off Schedule 7 long form para 3.1", may_vary=True
    ),
    isms_revision=(
        "if it is not Approved, amended within 10 Working Days of the notice of non-approval and"
        " resubmitted, the Approval taking no longer than 15 Working Days from its first submission"
        " as far as reasonable endeavours allow; a resubmission not Approved goes to the Dispute"
        " Resolution Procedure (para 3.6)"
    ),
)
CALL_OFF_SCHEDULE_7 = CALL_OFF_SCHEDULE_7_LONG  # the form engagements get unless they record another
# One profile per id, the form engagements get by default (Call Off Schedule 7: the long form).
PROFILES: dict[str, Profile] = {p.id: p for p in (SCHEDULE_2_4, CALL_OFF_SCHEDULE_7_LONG)}
CALL_OFF_FORMS: dict[str, Profile] = {
    "short": CALL_OFF_SCHEDULE_7_SHORT,
    "long": CALL_OFF_SCHEDULE_7_LONG,
}


def profile(profile_id: str, form: str | None = None) -> Profile:
    """The profile `profile_id`, for Call Off Schedule 7 in its `form` ("short" or "long";
    None: the long form). The form is ignored for Schedule 2.4, which has one."""
    if profile_id == CALL_OFF_SCHEDULE_7_LONG.id and form is not None:
        try:
            return CALL_OFF_FORMS[str(form)]
        except KeyError:
            raise InvalidInput(
                f"Unknown form {form!r} of Call Off Schedule 7; choose short or long."
            ) from None
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


def consequence_of(after: Case) -> Consequence:
    """The consequence a decision records, from the case it moved the plan to."""
    if after.state is State.DISPUTE:
        return Consequence.DISPUTE
    if after.material_default:
        return Consequence.MATERIAL_DEFAULT
    return Consequence.NONE
