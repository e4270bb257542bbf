"""Stored engagement summaries are never stale as a user sees them (issue 18 item 6): after each
kind of write that can change an engagement's row on the portfolio (an answer, an evidence link,
an evidence item's expiry passing, a decision, a certificate added or expiring, a closure day,
an agreed variation, a register entry) and after the date moves on, the portfolio shows what a
from-scratch computation gives: the one-engagement readiness and deadlines
(app.services.readiness.engagement_readiness, app.services.deadlines.engagement_deadlines), the
trend replayed for that engagement alone, and the certificate lines of the whole-portfolio view
(app.services.certificates.portfolio). Runs on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import delete, event, update
from sqlmodel import col, select

from app.db import session_scope
from app.domain.access import Actor, Role
from app.domain.certificates import Scheme, Tier, default_expiry
from app.domain.variations import VariationKind
from app.models import (
    AgreedVariation,
    Certificate,
    ClosureDay,
    ControlResponse,
    Decision,
    Engagement,
    Evidence,
    EvidenceLink,
    PlanCase,
    RegisterEntry,
    Submission,
)
from app.services import overview
from app.services.certificates import PortfolioPage, glance, portfolio, store_summaries
from app.services.certificates.glance import Summaries
from app.services.deadlines import engagement_deadlines
from app.services.readiness import engagement_readiness
from app.services.stamps import WATCHED
from tests.api.test_statement_counts import grow
from tests.factories import make_org, make_person

TODAY = date.today()


def _setup(app: FastAPI, keys, n: int = 8) -> tuple[Actor, str]:
    engine = app.state.engine
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    grow(engine, buyer, supplier, n, advisor.user.id)
    return Actor(advisor.user.id, buyer.id, Role.BUYER_ADVISOR), advisor.user.id


def view(app: FastAPI, actor: Actor, today: date = TODAY, sort: str = "engagement") -> PortfolioPage:
    """The portfolio as the page reads it: stale summaries stored in a write of their own."""
    engine = app.state.engine
    with session_scope(engine, read_only=True) as session:

        def store(summaries: Summaries) -> None:
            session.commit()
            with session_scope(engine, write=True) as writer:
                store_summaries(writer, summaries)
                writer.commit()

        return glance(session, app.state.library, actor, today=today, store=store, sort=sort)


def from_scratch(app: FastAPI, actor: Actor, today: date) -> tuple[dict[str, tuple[object, ...]], dict]:
    """Each engagement's row computed the one-engagement way, and the certificate counts."""
    library = app.state.library
    out = {}
    with session_scope(app.state.engine, read_only=True) as session:
        whole = portfolio(session, actor, today=today)
        for supplier in whole.suppliers:
            for e in supplier.engagements:
                readiness = engagement_readiness(session, library, e, today=today)
                deadlines = engagement_deadlines(session, e, today=today)
                open_ = [d for d in deadlines if d.state in ("due", "overdue")]
                due = min(open_, key=lambda d: (d.due_on, d.kind), default=None)
                mine = re.compile(rf"(?<![\w]){re.escape(e.reference)}(?![\d])")
                states = {line.state for line in supplier.lines if mine.search(line.clause)}
                worst = next(
                    (
                        c
                        for c in ("missing", "expired", "expiring", "current")
                        if c in {s.value for s in states}
                    ),
                    None,
                )
                trend = overview.trends(session, {e.id: readiness}, today=today)[e.id]
                out[e.id] = (
                    readiness.score,
                    len(readiness.blockers),
                    (due.due_on, due.state, due.late, due.subject) if due else None,
                    worst,
                    trend,
                )
        return out, whole.counts


def shown(page: PortfolioPage) -> dict[str, tuple[object, ...]]:
    out = {}
    for row in page.rows:
        d = row.next_deadline
        out[row.engagement.id] = (
            row.score,
            row.blockers,
            (d.due_on, d.state, d.late, d.subject) if d else None,
            row.certificates.value if row.certificates else None,
            row.trend,
        )
    return out


def agrees(app: FastAPI, actor: Actor, today: date = TODAY) -> PortfolioPage:
    page = view(app, actor, today)
    expected, counts = from_scratch(app, actor, today)
    assert shown(page) == expected
    assert page.counts == counts
    return page


def _engagements(app: FastAPI) -> list[Engagement]:
    with session_scope(app.state.engine, read_only=True) as session:
        return list(session.exec(select(Engagement).order_by(Engagement.reference)))


def test_a_summary_is_stored_once_and_recomputed_only_where_a_write_touched(app: FastAPI, keys) -> None:
    actor, _user = _setup(app, keys)
    assert agrees(app, actor).refreshed == 8  # first sight: every summary computed and stored
    assert agrees(app, actor).refreshed == 0  # then read, not computed
    first = _engagements(app)[0]
    with session_scope(app.state.engine, write=True) as session:
        response = session.exec(
            select(ControlResponse).where(ControlResponse.engagement_id == first.id)
        ).first()
        assert response is not None
        response.status = "not_met" if response.status == "met" else "met"
        session.commit()
    assert agrees(app, actor).refreshed == 1  # only the engagement answered
    assert agrees(app, actor, TODAY + timedelta(days=1)).refreshed == 8  # a new day: every one


def test_every_kind_of_change_shows_at_once(app: FastAPI, keys) -> None:
    actor, user_id = _setup(app, keys)
    engine = app.state.engine
    agrees(app, actor)
    engagements = _engagements(app)
    e0, e1, e2 = engagements[0], engagements[1], engagements[2]

    # an answer saved the way app.services.versioning writes: a bulk UPDATE by condition
    with session_scope(engine, write=True) as session:
        session.execute(
            update(ControlResponse)
            .where(ControlResponse.engagement_id == e1.id, ControlResponse.control_id == "CPS-1.1")
            .values(status="not_met")
            .execution_options(synchronize_session=False)
        )
        session.commit()
    agrees(app, actor)

    # evidence unlinked (bulk DELETE), then linked again (ORM)
    with session_scope(engine, write=True) as session:
        link = session.exec(select(EvidenceLink).where(EvidenceLink.engagement_id == e0.id)).first()
        assert link is not None
        evidence_id, control_id = link.evidence_id, link.control_id
        session.execute(delete(EvidenceLink).where(EvidenceLink.engagement_id == e0.id))
        session.commit()
    agrees(app, actor)
    with session_scope(engine, write=True) as session:
        session.add(
            EvidenceLink(
                engagement_id=e0.id, control_id=control_id, evidence_id=evidence_id, linked_by_id=user_id
            )
        )
        session.commit()
    agrees(app, actor)

    # an evidence item's expiry, then the day it passes
    with session_scope(engine, write=True) as session:
        evidence = session.get(Evidence, evidence_id)
        assert evidence is not None
        evidence.expires_on = TODAY + timedelta(days=3)
        session.commit()
    agrees(app, actor)
    agrees(app, actor, TODAY + timedelta(days=5))

    # a decision approving a submitted plan (every third engagement has one)
    with session_scope(engine, write=True) as session:
        submission = session.exec(select(Submission)).first()
        assert submission is not None
        session.add(
            Decision(
                submission_id=submission.id,
                engagement_id=submission.engagement_id,
                number="ISAS-1",
                approved=True,
                decided_on=TODAY,
                advisor_id=user_id,
                advisor_name="Advisor",
                advisor_role="Security advisor",
            )
        )
        case = session.get(PlanCase, submission.engagement_id)
        assert case is not None
        case.state = "approved"
        session.commit()
    agrees(app, actor)

    # a certificate added for a supplier, then the day it expires
    with session_scope(engine, write=True) as session:
        issued = TODAY - timedelta(days=360)
        session.add(
            Certificate(
                supplier_org_id=e2.supplier_org_id,
                scheme=Scheme.CYBER_ESSENTIALS,
                number="CE-NEW",
                issued_on=issued,
                expires_on=default_expiry(Scheme.CYBER_ESSENTIALS, issued),
                created_by_id=user_id,
            )
        )
        session.commit()
    agrees(app, actor)
    agrees(app, actor, TODAY + timedelta(days=30))

    # an agreed calendar, then a closure day of the buyer
    with session_scope(engine, write=True) as session:
        session.add(
            AgreedVariation(
                engagement_id=e0.id,
                kind=VariationKind.CALENDAR,
                reference="Letter of 1 May",
                agreed_on=TODAY - timedelta(days=10),
                recorded_by_id=user_id,
                recorded_by_name="Advisor",
            )
        )
        session.commit()
    agrees(app, actor)
    with session_scope(engine, write=True) as session:
        for n in range(1, 6):
            session.add(
                ClosureDay(buyer_org_id=e0.buyer_org_id, day=TODAY + timedelta(days=n), reason="Closed")
            )
        session.commit()
    agrees(app, actor)

    # a register entry past its agreed date
    with session_scope(engine, write=True) as session:
        session.add(
            RegisterEntry(
                engagement_id=e2.id,
                title="Rotate keys",
                source="manual",
                agreed_on=TODAY - timedelta(days=40),
                updated_by_id=user_id,
            )
        )
        session.commit()
    agrees(app, actor)

    # a sub-contractor's certificate withdrawn (supplier-wide), a year on
    with session_scope(engine, write=True) as session:
        certificate = session.exec(
            select(Certificate).where(col(Certificate.subcontractor_id).is_not(None))
        ).first()
        assert certificate is not None
        certificate.withdrawn_at = datetime.now(UTC)
        session.commit()
    agrees(app, actor)
    agrees(app, actor, TODAY + timedelta(days=365))


def test_every_sort_pages_by_the_stored_values_as_the_rows_show_them(app: FastAPI, keys) -> None:
    actor, _user = _setup(app, keys, n=9)
    view(app, actor)
    for sort in ("supplier", "engagement", "readiness", "plan", "deadline", "blockers", "certificates"):
        rows = view(app, actor, sort=sort).rows
        if sort == "readiness":
            assert [r.score for r in rows] == sorted(r.score for r in rows)
        if sort == "blockers":
            assert [r.blockers for r in rows] == sorted(r.blockers for r in rows)
        if sort == "deadline":
            days = [r.next_deadline.due_on if r.next_deadline else date.max for r in rows]
            assert days == sorted(days)
        if sort == "engagement":
            assert [r.engagement.reference for r in rows] == sorted(r.engagement.reference for r in rows)


def test_the_watch_covers_every_table_a_summary_is_computed_from(app: FastAPI, keys) -> None:
    actor, _user = _setup(app, keys, n=3)
    statements: list[str] = []

    def on_execute(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(app.state.engine, "before_cursor_execute", on_execute)
    try:
        view(app, actor, TODAY + timedelta(days=2))  # every summary stale: all computed
    finally:
        event.remove(app.state.engine, "before_cursor_execute", on_execute)
    read = {
        name
        for sql in statements
        if sql.lstrip().upper().startswith("SELECT")
        for name in re.findall(r"\b(?:FROM|JOIN)\s+\"?(\w+)\"?", sql)
    }
    own = {"engagement_stamp", "engagement_summary", "engagement_need"}
    assert read - own - set(WATCHED) == set(), "a summary input the watch does not move the stamp for"
    assert {"control_response", "certificate", "closure_day", "evidence"} <= read  # the check sees them


def test_a_sub_contractor_name_is_a_supplier_write(app: FastAPI, keys) -> None:
    actor, _user = _setup(app, keys, n=2)
    agrees(app, actor)
    from app.models import Subcontractor

    with session_scope(app.state.engine, write=True) as session:
        supplier_id = _engagements(app)[0].supplier_org_id
        session.add(Subcontractor(supplier_org_id=supplier_id, name="New host", tier=Tier.HIGHER_RISK))
        session.commit()
    agrees(app, actor)


def test_the_due_soon_panel_lists_the_soonest_and_links_to_all(app: FastAPI, keys) -> None:
    from fastapi.testclient import TestClient

    from tests.factories import sign_in

    engine = app.state.engine
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    grow(engine, buyer, supplier, 36, advisor.user.id)  # every third awaits a decision: 12 targets
    with TestClient(app) as client:
        sign_in(app, client, advisor)
        panel = client.get("/").text.split('id="due-soon"', 1)[1].split("</section>", 1)[0]
        listed = panel.split("<ul", 1)[1].split("</ul>", 1)[0].count("<li>")
        total = int(re.search(r"Showing the first 10 of (\d+)", panel).group(1))  # type: ignore[union-attr]
        assert listed == 10 and total > 10
        assert "?due=all#due-soon" in panel
        everything = client.get("/?due=all").text.split('id="due-soon"', 1)[1].split("</section>", 1)[0]
        assert everything.split("<ul", 1)[1].split("</ul>", 1)[0].count("<li>") == total
        assert f"Showing all {total}." in everything
        assert client.get("/?due=some").status_code == 422
