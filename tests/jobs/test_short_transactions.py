"""Issue 14 item 3: no sweep holds a write transaction longer than one engagement. The reminder
sweep over 400 engagements runs while 8 suppliers' leads save answers through the API: no save
fails and none takes longer than 1 s. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import date

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.db import session_scope
from app.models import Engagement, EngagementCatalogue
from app.services import reminders
from tests.factories import Person, make_org, make_person, sign_in

ENGAGEMENTS = 400
CLIENTS = 8
THINK_SECONDS = 0.2  # each client saves up to five times a second (a person saves far less often)
AS_OF = date(2026, 7, 30)  # every engagement's contract-year anniversary (effective 2024-07-30)


@dataclass
class Saves:
    durations: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def bulk_engagements(app: FastAPI) -> tuple[list[Person], dict[str, str]]:
    """8 suppliers (a lead each) and 2 buyers (an advisor each); 400 engagements between them,
    inserted in one bulk write. Returns the leads and the first engagement of each supplier."""
    engine, keys = app.state.engine, app.state.keys
    buyers = [make_org(engine, "buyer") for _ in range(2)]
    for buyer in buyers:
        make_person(engine, keys, "buyer_advisor", buyer)
    leads = [make_person(engine, keys, "supplier_lead", make_org(engine, "supplier")) for _ in range(CLIENTS)]
    rows = [
        Engagement(
            reference=f"PR {n:04d}",
            title="Secure transfer",
            buyer_org_id=buyers[n % 2].id,
            supplier_org_id=leads[n % CLIENTS].organisation.id,
            effective_on=date(2024, 7, 30),
            workflow_profile="schedule-2-4",
        )
        for n in range(ENGAGEMENTS)
    ]
    with session_scope(engine, write=True) as session:
        session.add_all(rows)
        session.flush()
        session.add_all(
            EngagementCatalogue(engagement_id=e.id, catalogue_id="cps-security-policy") for e in rows
        )
        session.commit()
    first = {}
    for e in rows:
        first.setdefault(e.supplier_org_id, e.id)
    return leads, first


def test_the_sweep_over_400_engagements_never_blocks_answer_saves(app: FastAPI) -> None:
    leads, first = bulk_engagements(app)
    clients = [sign_in(app, TestClient(app, base_url="http://127.0.0.1:8000"), lead) for lead in leads]
    saves = Saves()
    sweep_done = threading.Event()
    started = threading.Barrier(CLIENTS + 1)
    result: list[int] = []

    def save_answers(client: TestClient, engagement_id: str) -> None:
        url = f"/api/engagements/{engagement_id}/responses/CPS-1.1"
        version = 0
        started.wait()
        while not sweep_done.is_set() or version < 3:
            body: dict[str, object] = {
                "status": ("met", "partially_met")[version % 2],
                "statement": f"v{version}",
            }
            if version:
                body["expected_version"] = version
            begin = time.perf_counter()
            response = client.put(url, json=body)
            took = time.perf_counter() - begin
            with saves.lock:
                saves.durations.append(took)
                if response.status_code != 200:
                    saves.failures.append(f"{response.status_code} {response.text[:200]}")
                    return
            version = response.json()["version"]
            time.sleep(THINK_SECONDS)

    def sweep() -> None:
        started.wait()
        try:
            # The sweep proper: every engagement's due reminders recorded, one engagement per
            # write transaction (sending them is one short job per mail, tested elsewhere).
            window, recorded = reminders.record_due(app.state.engine, as_of=AS_OF)
            result.append(recorded if window else -1)
        finally:
            sweep_done.set()

    threads = [
        threading.Thread(target=save_answers, args=(c, first[lead.organisation.id]))
        for c, lead in zip(clients, leads, strict=True)
    ]
    threads.append(threading.Thread(target=sweep))
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    # Every engagement's anniversary reached its supplier's lead: 400 reminders at least.
    assert result and result[0] >= ENGAGEMENTS
    assert saves.failures == []
    assert len(saves.durations) >= CLIENTS * 3
    # No save slower than 1 s. The suite shares two cores with another worker (Chromium, served
    # processes), so a save may be descheduled past it: at most one in a hundred, none past 2 s.
    # A save that waited on the sweep's lock would wait for the whole sweep (about 20 s), and
    # every save made meanwhile would.
    slow = sorted(d for d in saves.durations if d >= 1.0)
    assert len(slow) <= max(1, len(saves.durations) // 100) and max(saves.durations) < 2.0, (
        f"saves of 1 s or more: {[f'{d:.2f}' for d in slow]} of {len(saves.durations)} "
        f"during {time.monotonic() - began:.1f}s"
    )
