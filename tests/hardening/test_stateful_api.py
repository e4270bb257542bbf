"""The stateful phase of generative API testing (issue 19 item 1): schemathesis builds a state
machine from the OpenAPI links Attest declares (app/api/links.py: list or create an engagement,
then create its risks, register entries and evidence, read, update and delete them; certificates,
sub-contractors, variations, submissions, closure days) and walks sequences of calls through it in
process, as a supplier lead, a supplier contributor, a buyer advisor and an administrator of one
tenant. Only the declared links are followed (schemathesis' own link inference is switched off),
so the run tests the links as well as the operations.

Every answer gets the checks of test_generative_api.py (no server error, a documented status and
content type, the response schema, `Allow` on 405). Every fourth call that names an id of a kind
the second tenant also has is sent with the second tenant's id instead; no one of the first
tenant may get a success for it, and no success answered to them may carry a second-tenant id
they did not send (the administrator spans tenants and is exempt).

HARDENING_STATEFUL_SCENARIOS sets the scenarios per role and HARDENING_STATEFUL_STEPS the most
steps per scenario (defaults 4 and 6 here; `make test-hardening` runs more). The counts of the
run go to HARDENING_REPORT when it is set.
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
from hypothesis import HealthCheck, settings
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.stateful import run_state_machine_as_test

from app.api.links import LINKS
from tests.api.test_tokens import new_token
from tests.conftest import built_app, make_settings
from tests.hardening.test_generative_api import CHECKS, ROLES, Tenant, summary, tenant

SCENARIOS = int(os.environ.get("HARDENING_STATEFUL_SCENARIOS", "4"))
STEPS = int(os.environ.get("HARDENING_STATEFUL_STEPS", "6"))
SWAP_EVERY = 4


@dataclass
class Walk:
    steps: int = 0
    linked: int = 0
    links: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    swapped: int = 0
    failures: list[str] = field(default_factory=list)


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[tuple[FastAPI, Tenant, Tenant]]:
    app = built_app(make_settings(tmp_path, database_url))
    yield app, tenant(app, with_admin=True), tenant(app, with_admin=False)
    app.state.engine.dispose()


CONTROL = dict.fromkeys(c for c in range(32) if chr(c) not in "\t\n\r") | {0x7F: None}
NAMED = ("title", "name")


def plausible(value: Any, key: str = "") -> Any:
    """Generated data with the control characters Attest refuses taken out, and a name or title
    that is not blank: the generative test sends those raw, and every one is refused (422) before
    anything is created, so here they would stop a walk at its first step."""
    if isinstance(value, str):
        value = value.translate(CONTROL)
        return value if value.strip() or key not in NAMED else f"generated {key}"
    if isinstance(value, dict):
        return {plausible(k): plausible(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [plausible(v) for v in value]
    return value


def map_body(context: Any, body: Any) -> Any:
    return plausible(body)


def machine(app: FastAPI, token: str, role: str, own: Tenant, other: Tenant, walk: Walk) -> type[Any]:
    """The schema's state machine for one role, checking and counting each step."""
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    schema.config.phases.stateful.inference.algorithms = []  # follow the declared links only
    schema.hook(map_body)

    def map_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> dict[str, Any] | None:
        # A first call starts from the tenant's own objects (a random id only answers 404, which
        # the generative test tries); the ids a link carries are put in after this.
        if not path_parameters:
            return path_parameters
        return {name: own.ids[name][0] if name in own.ids else v for name, v in path_parameters.items()}

    schema.hook(map_path_parameters)
    base = schema.as_state_machine()
    foreign = {value for values in other.ids.values() for value in values}
    foreign_bytes = [value.encode() for value in foreign]

    class Walker(base):  # type: ignore[misc, valid-type]
        def step(self, input: Any) -> Any:
            if input.transition is not None and input.is_applied:
                walk.linked += 1
                walk.links[f"{input.case.operation.label} <- {input.transition.id}"] += 1
            return super().step(input)

        def before_call(self, case: Any) -> None:
            names = [name for name in (case.path_parameters or {}) if name in other.ids]
            if names and walk.steps % SWAP_EVERY == SWAP_EVERY - 1:
                case.path_parameters[names[-1]] = other.ids[names[-1]][0]
                walk.swapped += 1

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": {"Authorization": f"Bearer {token}"}}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            walk.steps += 1
            walk.statuses[response.status_code] += 1
            where = f"{role} {case.method} {case.formatted_path} -> {response.status_code}"
            try:
                case.validate_response(response, checks=CHECKS)
            except FailureGroup as group:
                walk.failures.extend(f"{where}: {summary(failure)}" for failure in group.exceptions)
                return
            if role == "administrator" or response.status_code >= 300:
                return
            sent = {str(v) for v in [*(case.path_parameters or {}).values(), *(case.query or {}).values()]}
            if sent & foreign:
                walk.failures.append(f"{where}: reached another tenant's object")
            carried = [value for value in foreign_bytes if value in response.content]
            if any(value.decode() not in sent for value in carried):
                walk.failures.append(f"{where}: the answer carries another tenant's id")

    Walker.__name__ = f"Walker_{role}"
    return Walker


def _report(walks: dict[str, Walk], backend: str) -> None:
    target = os.environ.get("HARDENING_REPORT")
    if not target:
        return
    steps = sum(w.steps for w in walks.values())
    linked = sum(w.linked for w in walks.values())
    distinct = len({name for w in walks.values() for name in w.links})
    entry = {
        "check": "Generative API, stateful (schemathesis links)",
        "tried": f"{backend}: {len(LINKS)} declared links, {len(walks)} roles x {SCENARIOS} scenarios "
        f"of up to {STEPS} steps: {steps} calls, {linked} by a link ({distinct} distinct links followed), "
        f"{sum(w.swapped for w in walks.values())} with a second tenant's id",
        "result": "pass" if not any(w.failures for w in walks.values()) else "FAIL",
    }
    with open(target, "a", encoding="utf-8") as out:
        out.write(json.dumps(entry) + "\n")


def test_the_schema_declares_links_schemathesis_can_follow(world) -> None:
    app, _, _ = world
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    schema.config.phases.stateful.inference.algorithms = []
    schema.as_state_machine()  # raises when no declared link can be followed
    assert schema.statistic.transitions.total == len(LINKS)
    assert schema.statistic.transitions.selected == len(LINKS)


def test_sequences_along_the_links_answer_as_documented_and_never_cross_tenants(world) -> None:
    app, own, other = world
    walks = {role: Walk() for role in ROLES}
    for role in ROLES:
        token = new_token(app, own.people[role])[1]
        walker = machine(app, token, role, own, other, walks[role])
        run_state_machine_as_test(
            walker,
            settings=settings(
                max_examples=SCENARIOS,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            ),
        )
    _report(walks, app.state.engine.dialect.name)
    failures = [f for w in walks.values() for f in w.failures]
    assert not failures, "\n".join(sorted(set(failures))[:60])
    assert all(w.statuses.get(500, 0) == 0 for w in walks.values())
    assert sum(w.linked for w in walks.values()) > 0  # links were followed, not only first calls
    assert sum(w.swapped for w in walks.values()) > 0  # the second tenant's ids were tried
