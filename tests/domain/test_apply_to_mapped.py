"""The "apply to mapped controls" direction rule (app.domain.catalogue.may_copy_answer), as a table.

An answer may flow only where meeting the source control means meeting the target
(contract-fidelity review section 10, item 10): equivalent either way; covers only from the
covering (declaring) control; related never."""

from __future__ import annotations

import pytest

from app.domain.catalogue import Relation, may_copy_answer

CASES = [
    # relation, answer comes from the declaring control?, may copy
    (Relation.EQUIVALENT, True, True),
    (Relation.EQUIVALENT, False, True),
    (Relation.COVERS, True, True),  # e.g. CPS-5.7 covers S24-A1-4.6a: CPS-5.7 met => 4.6(a) met
    (Relation.COVERS, False, False),  # S24-A1-4.6a met says nothing of CPS 5.7's monitoring
    (Relation.RELATED, True, False),
    (Relation.RELATED, False, False),
]


@pytest.mark.parametrize(("relation", "from_declaring", "allowed"), CASES)
def test_answers_flow_only_from_the_control_that_implies_the_other(
    relation: Relation, from_declaring: bool, allowed: bool
) -> None:
    assert may_copy_answer(relation, from_declaring) is allowed
