"""Generative API testing (issue 19 item 1): schemathesis reads Attest's OpenAPI schema and sends
generated requests to every /api operation in-process, as a supplier lead, a supplier
contributor, a buyer advisor and an administrator of one tenant, with path ids drawn from their
own tenant, from a second tenant and at random. Every answer must be documented (status code,
content type, response schema, `Allow` on 405) and none may be a server error; no one of the
first tenant may read the second tenant's objects.

HARDENING_EXAMPLES sets the examples per operation and role (default 2 here, so the default
suite stays inside about a minute; `make test-hardening` runs 100). The counts of the run are
written to HARDENING_REPORT (a JSON file) when it is set, for the table `make test-hardening`
prints.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks as st_checks
from schemathesis.core.failures import FailureGroup

from tests.api.test_tokens import new_token
from tests.conftest import built_app, make_settings
from tests.factories import (
    Person,
    make_certificate,
    make_decided_submission,
    make_engagement,
    make_evidence,
    make_org,
    make_person,
    make_register_entry,
    make_risk,
    make_subcontractor,
)

EXAMPLES = int(os.environ.get("HARDENING_EXAMPLES", "2"))
ROLES = ("supplier_lead", "supplier_contributor", "buyer_advisor", "administrator")
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_schema_conformance,
    st_checks.allow_header_conformance,
]


@dataclass
class Tenant:
    people: dict[str, Person]
    ids: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Tally:
    calls: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    foreign_calls: int = 0
    failures: list[str] = field(default_factory=list)


def tenant(app: FastAPI, *, with_admin: bool) -> Tenant:
    engine, keys = app.state.engine, app.state.keys
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    people = {
        "supplier_lead": make_person(engine, keys, "supplier_lead", supplier),
        "supplier_contributor": make_person(engine, keys, "supplier_contributor", supplier),
        "buyer_advisor": make_person(engine, keys, "buyer_advisor", buyer),
    }
    if with_admin:
        people["administrator"] = make_person(engine, keys, "administrator", make_org(engine, "operator"))
    engagement = make_engagement(engine, buyer, supplier)
    evidence = make_evidence(
        app, engagement, people["supplier_lead"], data=b"%PDF-1.4\n% " + os.urandom(8).hex().encode()
    )
    submission = make_decided_submission(engine, engagement)
    certificate = make_certificate(engine, supplier, "iso27001")
    subcontractor = make_subcontractor(engine, supplier, "Hosting Ltd")
    found = Tenant(people)
    found.ids = {
        "engagement_id": [engagement.id],
        "evidence_id": [evidence],
        "submission_id": [submission],
        "certificate_id": [certificate],
        "subcontractor_id": [subcontractor],
        "risk_id": [make_risk(engine, engagement)],
        "entry_id": [make_register_entry(engine, engagement)],
    }
    return found


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[tuple[FastAPI, Tenant, Tenant]]:
    app = built_app(make_settings(tmp_path, database_url))
    yield app, tenant(app, with_admin=True), tenant(app, with_admin=False)
    app.state.engine.dispose()


def summary(failure: BaseException) -> str:
    """One line: the check's title and the first line of what it found."""
    title = getattr(failure, "title", type(failure).__name__)
    message = str(getattr(failure, "message", "") or failure).strip().splitlines()
    return f"{title}: {message[0][:300] if message else ''}"


def _report(tallies: dict[str, Tally], operations: int, backend: str) -> None:
    target = os.environ.get("HARDENING_REPORT")
    if not target:
        return
    calls = sum(t.calls for t in tallies.values())
    entry = {
        "check": "Generative API (schemathesis)",
        "tried": f"{backend}: {operations} operations x {len(tallies)} roles x {EXAMPLES} examples: "
        f"{calls} requests, "
        f"{sum(t.foreign_calls for t in tallies.values())} with a second tenant's ids",
        "result": "pass" if not any(t.failures for t in tallies.values()) else "FAIL",
    }
    with open(target, "a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")


def exercise(
    operation: Any,
    token: str,
    role: str,
    pools: dict[str, list[str | None]],
    examples: int,
    foreign: set[str],
    tally: Tally,
) -> None:
    """`examples` generated calls of one operation as one role, path ids drawn from `pools`."""

    @given(data=st.data())
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(data: st.DataObject) -> None:
        chosen = {
            name: value
            for name, pool in pools.items()
            if (value := data.draw(st.sampled_from(pool), label=name)) is not None
        }
        case = data.draw(operation.as_strategy(path_parameters=chosen))
        response = case.call(headers={"Authorization": f"Bearer {token}"})
        tally.calls += 1
        tally.statuses[response.status_code] += 1
        crossing = any(value in foreign for value in chosen.values())
        tally.foreign_calls += crossing
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            for failure in group.exceptions:
                tally.failures.append(
                    f"{role} {operation.label} -> {response.status_code}: {summary(failure)}"
                )
            return
        if crossing and role != "administrator" and response.status_code < 300:
            # the operator's administrator spans tenants; nobody else reaches another tenant's object
            what = "read" if case.method == "GET" else "changed"
            tally.failures.append(
                f"{role} {what} another tenant's object: {case.method} {case.formatted_path}"
            )

    run()


def test_every_operation_answers_only_documented_statuses_and_never_crosses_tenants(world) -> None:
    app, own, other = world
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30
    tokens = {role: new_token(app, own.people[role])[1] for role in ROLES}
    foreign = {value for values in other.ids.values() for value in values}
    tallies = {role: Tally() for role in ROLES}

    for operation in operations:
        names = [p.name for p in operation.iter_parameters() if p.location == "path" and p.name in own.ids]
        for role in ROLES:
            # Generated ids mixed with both tenants' (None: let schemathesis generate one) ...
            mixed = {name: [*own.ids[name], *other.ids[name], None] for name in names}
            exercise(operation, tokens[role], role, mixed, EXAMPLES, foreign, tallies[role])
            if names:  # ... and always once with nothing but the second tenant's ids
                only_foreign = {name: list(other.ids[name]) for name in names}
                exercise(operation, tokens[role], role, only_foreign, 1, foreign, tallies[role])

    _report(tallies, len(operations), app.state.engine.dialect.name)
    failures = [f for t in tallies.values() for f in t.failures]
    assert not failures, "\n".join(sorted(set(failures))[:60])
    assert all(t.statuses.get(500, 0) == 0 for t in tallies.values())
    assert sum(t.foreign_calls for t in tallies.values()) > 0  # the second tenant's ids were tried
