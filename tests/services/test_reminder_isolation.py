"""One engagement whose dated items cannot be computed never stops the reminders of the others
(issue 11, item 5): it is logged, named in the run's `skipped`, and every other tenant is reminded.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from fastapi import FastAPI
from sqlmodel import select

from app.adapters.mail import Message
from app.db import session_scope
from app.domain.deadlines import Deadline, History
from app.models import Notification
from app.services import reminders, timelines
from tests.factories import make_certificate, make_engagement, make_org, make_person


class Mailer:
    def __init__(self) -> None:
        self.sent: list[Message] = []

    def send(self, message: Message) -> None:
        self.sent.append(message)


def test_a_failing_engagement_is_skipped_and_logged_and_the_other_tenants_are_reminded(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    engine, keys = app.state.engine, app.state.keys
    broken_buyer, broken_supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    broken = make_engagement(engine, broken_buyer, broken_supplier)
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    make_engagement(engine, buyer, supplier)  # effective 2024-07-30: plan due 2024-09-10
    lead = make_person(engine, keys, "supplier_lead", supplier)
    make_certificate(
        engine, supplier, "cyber_essentials_plus", issued_on=date(2025, 3, 1)
    )  # expires 2026-03-01
    real = timelines.compute

    def compute(history: History, *args: object, **kwargs: object) -> list[Deadline]:
        if history.engagement_id == broken.id:
            raise ValueError("year 10000 is out of range")
        return real(history, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(timelines, "compute", compute)
    with caplog.at_level(logging.ERROR, logger="attest.reminders"):
        result = reminders.run(engine, Mailer(), app.state.settings, as_of=date(2026, 3, 1))
    assert result.ran and result.recorded > 0
    assert result.skipped == [f"engagement {broken.reference} ({broken.id})"]
    assert result.to_dict()["skipped"] == result.skipped
    assert any(broken.id in r.getMessage() and r.exc_info for r in caplog.records)
    with session_scope(engine) as session:
        subjects = [
            n.subject for n in session.exec(select(Notification).where(Notification.user_id == lead.user.id))
        ]
    assert any("expires today" in s for s in subjects)
