"""The set-based reads of many engagements (app.services.timelines, app.services.overview) give
exactly what the one-engagement paths give, and one engagement whose deadlines cannot be
computed is left out of the "due soon" panel (logged) and the others are listed."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from fastapi import FastAPI
from sqlmodel import Session, select

from app import clock
from app.db import session_scope
from app.domain import reminders as rules
from app.domain.access import Actor, Role
from app.models import Engagement
from app.services import notifications, overview, timelines
from app.services.certificates import Summaries, store_summaries
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


def test_due_soon_from_stored_summaries_lists_what_computing_every_item_lists(app: FastAPI, keys) -> None:
    """The panel reads each engagement's items from its stored summary (recomputed when stale);
    the list is the one `dated_items` computes over the window, less what is done, for an
    advisor and for a supplier lead, before and after the summaries are stored."""
    engine = app.state.engine
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    lead = make_person(engine, keys, "supplier_lead", supplier)
    grow(engine, buyer, supplier, 6, advisor.user.id)
    today = date(2025, 5, 20)  # seven weeks after the grown engagements took effect
    start, end = rules.due_soon_window(today)
    stored: list[Summaries] = []
    for person in (advisor, lead):
        actor = Actor(person.user.id, person.user.organisation_id, person.user.role)
        with session_scope(engine) as session:
            expected = [
                (i.kind, i.object_id, i.due_on, i.subject, i.link, i.supplier_org_id)
                for i in notifications.dated_items(session, actor, start=start, end=end, today=today)
                if not i.done
            ]

        def listed(session: Session) -> list[tuple[str, str, date, str, str, str]]:
            library = app.state.library
            found = notifications.due_soon(session, library, actor, today=today, store=stored.append)
            return [
                (i.kind, i.object_id, i.due_on, i.subject, i.link, i.supplier_org_id)
                for i in (d.item for d in found)
            ]

        with session_scope(engine) as session:
            first = listed(session)  # computed now, not yet stored; soonest first (ties: any order)
            assert sorted(first) == sorted(expected) and expected
            assert [(i[2], i[3]) for i in first] == sorted((i[2], i[3]) for i in first)
        with session_scope(engine, write=True) as session:
            for summaries in stored:
                store_summaries(session, summaries)
            session.commit()
        stored.clear()
        with session_scope(engine) as session:
            assert sorted(listed(session)) == sorted(expected)  # read from the stored summaries
            assert stored == [] or all(not s.rows for s in stored)  # nothing left to recompute
