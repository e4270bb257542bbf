"""The set-based reads of many engagements (app.services.timelines, app.services.overview) give
exactly what the one-engagement paths give, and one engagement whose deadlines cannot be
computed is left out of the "due soon" panel (logged) and the others are listed."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from fastapi import FastAPI
from sqlmodel import select

from app import clock
from app.db import session_scope
from app.domain.access import Actor, Role
from app.models import Engagement
from app.services import notifications, overview, timelines
from app.services.deadlines import engagement_deadlines
from app.services.readiness import engagement_readiness
from tests.api.test_statement_counts import grow
from tests.factories import make_certificate, make_org, make_person, make_subcontractor


def test_many_engagements_read_together_match_each_read_alone(app: FastAPI, keys) -> None:
    engine = app.state.engine
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    grow(engine, buyer, supplier, 12, advisor.user.id)
    sub = make_subcontractor(engine, supplier, "Removed later", "higher_risk")
    make_certificate(engine, supplier, "cyber_essentials_plus", subcontractor_id=sub)
    today = clock.today()
    library = app.state.library
    with session_scope(engine) as session:
        engagements = list(session.exec(select(Engagement).order_by(Engagement.reference)))
        together = timelines.timelines(session, engagements, today=today)
        found = overview.many(session, library, engagements, today=today)
        for e in engagements:
            alone = engagement_deadlines(session, e, today=today)
            assert list(together[e.id]) == list(alone)
            assert together[e.id].variations == alone.variations
            assert found.readiness[e.id] == engagement_readiness(session, library, e, today=today)
        kinds = {d.kind for t in together.values() for d in t}
        assert {"plan_due", "approval_target", "annual_review_due"} <= kinds  # both profiles' rules ran


def test_an_engagement_whose_deadlines_fail_is_left_out_of_due_soon_and_logged(
    app: FastAPI, keys, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    engine = app.state.engine
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    grow(engine, buyer, supplier, 3, advisor.user.id)
    with session_scope(engine) as session:
        broken = session.exec(select(Engagement).order_by(Engagement.reference)).first()
        assert broken is not None
    real = timelines.compute

    def compute(history, *args, **kwargs):
        if history.engagement_id == broken.id:
            raise ValueError("a history the rule cannot read")
        return real(history, *args, **kwargs)

    monkeypatch.setattr(timelines, "compute", compute)
    actor = Actor(advisor.user.id, buyer.id, Role.BUYER_ADVISOR)
    with session_scope(engine) as session, caplog.at_level(logging.ERROR, logger="app.services.timelines"):
        # Seven weeks after the grown engagements took effect, each has its plan or ISMS due (a
        # fixed day: what falls due near the real today depends on how many were grown before).
        due = notifications.due_soon(session, app.state.library, actor, today=date(2025, 5, 20))
        engagements = {i.item.engagement_id for i in due}
        assert broken.id not in engagements  # none of its items, not even the annual submission
        assert engagements  # the others still have theirs
        assert f"deadlines of engagement {broken.id} ({broken.reference}) skipped" in caplog.text
        with pytest.raises(ValueError, match="cannot read"):
            timelines.timelines(session, [broken], today=date.today())  # elsewhere the error is raised
