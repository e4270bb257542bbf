"""The approval workflow as a state machine, explored by hypothesis: no plan is approved
without a buyer advisor's decision, a supplier never decides, no transition skips a state."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from app.domain.access import Role
from app.domain.errors import Conflict, Forbidden
from app.domain.workflow import PROFILES, Case, Move, State, allowed_moves, profile, transition

# Every edge the contracts allow (Schedule 2.4 para 4; Call Off Schedule 7 para 4.3).
EDGES = {
    (State.DRAFT, State.SUBMITTED),
    (State.REJECTED, State.SUBMITTED),
    (State.APPROVED, State.SUBMITTED),
    (State.SUBMITTED, State.APPROVED),
    (State.SUBMITTED, State.REJECTED),
    (State.SUBMITTED, State.DISPUTE),
    (State.DISPUTE, State.REJECTED),
    (State.REJECTED, State.TERMINATED),
}
DECISIONS = {Move.APPROVE, Move.REJECT}


class Workflow(RuleBasedStateMachine):
    @initialize(profile_id=st.sampled_from(sorted(PROFILES)))
    def start(self, profile_id: str) -> None:
        self.profile = profile(profile_id)
        self.case = Case()
        self.approved_by: list[Role] = []

    @rule(move=st.sampled_from(Move), role=st.sampled_from(Role))
    def attempt(self, move: Move, role: Role) -> None:
        offered = move in allowed_moves(self.case, role, self.profile)
        before = self.case
        try:
            after = transition(before, move, role, self.profile)
        except (Conflict, Forbidden) as refusal:
            assert not offered
            if move in DECISIONS and role is not Role.BUYER_ADVISOR and before.state is State.SUBMITTED:
                assert isinstance(refusal, Forbidden)
            return
        assert offered
        assert (before.state, after.state) in EDGES
        if move in DECISIONS or move in (Move.RESOLVE_DISPUTE, Move.TERMINATE):
            assert role is Role.BUYER_ADVISOR
        if move is Move.SUBMIT:
            assert role is Role.SUPPLIER_LEAD
        if after.state is State.APPROVED:
            assert move is Move.APPROVE
            self.approved_by.append(role)
        if after.state is State.DISPUTE:
            assert self.profile.dispute_after_resubmission and after.rejections >= 2
        if after.material_default:
            assert self.profile.material_default_after is not None
            assert after.rejections >= self.profile.material_default_after
        self.case = after

    @invariant()
    def only_advisors_approve(self) -> None:
        assert all(role is Role.BUYER_ADVISOR for role in getattr(self, "approved_by", []))


TestWorkflow = Workflow.TestCase
TestWorkflow.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)


@pytest.mark.parametrize(
    ("profile_id", "moves", "state", "flag"),
    [
        ("schedule-2-4", ["submit", "reject", "submit", "reject"], State.REJECTED, True),
        ("schedule-2-4", ["submit", "reject", "submit", "approve"], State.APPROVED, False),
        ("schedule-2-4", ["submit", "approve", "submit", "reject"], State.REJECTED, False),  # new cycle
        ("call-off-schedule-7", ["submit", "reject", "submit", "reject"], State.DISPUTE, False),
        (
            "call-off-schedule-7",
            ["submit", "reject", "submit", "reject", "resolve_dispute"],
            State.REJECTED,
            False,
        ),
    ],
)
def test_stories(profile_id: str, moves: list[str], state: State, flag: bool) -> None:
    prof, case = profile(profile_id), Case()
    for move in moves:
        role = Role.SUPPLIER_LEAD if move == "submit" else Role.BUYER_ADVISOR
        case = transition(case, Move(move), role, prof)
    assert case.state is state and case.material_default is flag


def test_termination_needs_a_material_default() -> None:
    prof = profile("schedule-2-4")
    case = transition(Case(), Move.SUBMIT, Role.SUPPLIER_LEAD, prof)
    case = transition(case, Move.REJECT, Role.BUYER_ADVISOR, prof)
    with pytest.raises(Conflict, match="material Default"):
        transition(case, Move.TERMINATE, Role.BUYER_ADVISOR, prof)
