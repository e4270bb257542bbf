"""Information-only controls (criticality `information`: a buyer preference, fact or right, e.g.
CPS Security Policy 1.4 "keen to appoint", 3.2 "The CPS shall carry out periodic spot checks")
are never scored and never block, whatever their answer."""

from __future__ import annotations

from datetime import date

import pytest

from app.domain.catalogue import Criticality
from app.domain.readiness import Status, compute
from tests.domain.test_readiness import ctl

TODAY = date(2026, 12, 1)


@pytest.mark.parametrize("status", [None, Status.MET, Status.NOT_MET, Status.NOT_APPLICABLE])
def test_information_controls_carry_no_weight_and_block_nothing(status: Status | None) -> None:
    info = ctl("CPS-3.2", status, criticality=Criticality.INFORMATION, required=False)
    result = compute([info, ctl("CPS-3.1", Status.MET, required=False)], today=TODAY)
    assert (result.possible, result.earned, result.score) == (1, 1.0, 100.0)
    assert result.blockers == ()
    scored = next(c for c in result.controls if c.control_id == "CPS-3.2")
    assert (scored.weight, scored.status) == (0, "out_of_scope")
    assert scored.reason == "information only: not a supplier obligation"
