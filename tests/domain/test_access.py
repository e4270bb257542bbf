"""Pure access rules (moved out of the web tenant matrix: they need no database)."""

from __future__ import annotations

from app.domain.access import Action, Actor, Parties, Role, can


def test_a_buyer_advisor_is_never_a_party_for_the_supplier_side() -> None:
    # An organisation cannot be buyer and supplier of one engagement for deciding purposes.
    same = Parties("org", "org")
    advisor = Actor("u", "org", Role.BUYER_ADVISOR)
    assert not can(advisor, Action.DECIDE_SUBMISSION, same)
    assert not can(Actor("u", "s", Role.SUPPLIER_LEAD), Action.DECIDE_SUBMISSION, Parties("b", "s"))
