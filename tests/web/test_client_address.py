"""The sign-in throttle and the audit log count by the address Attest is configured to trust."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import col, select

from app.config import ConfigError, Settings, load_settings
from app.db import session_scope
from app.domain.credentials import ADDRESS_FAILURE_LIMIT
from app.main import create_app
from app.models import AuditEvent
from tests.conftest import make_settings
from tests.factories import csrf_token


def make_app(tmp_path: Path, database_url: str, trusted: str) -> Iterator[FastAPI]:
    app = create_app(make_settings(tmp_path, database_url, trusted_proxies=trusted))
    yield app
    app.state.engine.dispose()


@pytest.fixture
def plain_app(tmp_path: Path, database_url: str) -> Iterator[FastAPI]:
    yield from make_app(tmp_path, database_url, "")


@pytest.fixture
def proxied_app(tmp_path: Path, database_url: str) -> Iterator[FastAPI]:
    yield from make_app(tmp_path, database_url, "10.0.0.0/8")


def attempt(app: FastAPI, peer: str, email: str, forwarded_for: str = "", forwarded: str = "") -> int:
    with TestClient(app, base_url="http://127.0.0.1:8000", client=(peer, 40000)) as client:
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        if forwarded:
            headers["Forwarded"] = forwarded
        form = {"email": email, "password": "wrong", "csrf_token": csrf_token(app, client)}
        return client.post("/sign-in", data=form, headers=headers).status_code


def sign_in_addresses(app: FastAPI) -> list[str]:
    with session_scope(app.state.engine) as session:
        query = select(AuditEvent.address).where(AuditEvent.action == "sign_in").order_by(col(AuditEvent.seq))
        return list(session.exec(query))


def test_an_untrusted_forwarded_for_neither_dodges_nor_frames(plain_app: FastAPI) -> None:
    statuses = [
        attempt(plain_app, "203.0.113.1", f"n{n}@example.org", f"198.51.100.{n}, 203.0.113.2")
        for n in range(ADDRESS_FAILURE_LIMIT + 1)
    ]
    assert statuses[-1] == 429 and 429 not in statuses[:ADDRESS_FAILURE_LIMIT]
    assert attempt(plain_app, "203.0.113.2", "victim@example.org") == 422  # not locked out
    assert set(sign_in_addresses(plain_app)) == {"203.0.113.1", "203.0.113.2"}


def test_a_trusted_proxys_forwarded_for_names_the_client(proxied_app: FastAPI) -> None:
    for n in range(ADDRESS_FAILURE_LIMIT):
        assert attempt(proxied_app, "10.1.1.1", f"n{n}@example.org", "6.6.6.6, 203.0.113.5") == 422
    assert attempt(proxied_app, "10.2.2.2", "x@example.org", "7.7.7.7, 203.0.113.5") == 429  # same client
    assert attempt(proxied_app, "10.1.1.1", "y@example.org", "203.0.113.6") == 422  # another client
    assert attempt(proxied_app, "203.0.113.5", "z@example.org", "10.9.9.9") == 429  # untrusted peer: itself
    assert sign_in_addresses(proxied_app)[-2:] == ["203.0.113.6", "203.0.113.5"]


def test_a_trusted_proxys_forwarded_header_names_the_client(proxied_app: FastAPI) -> None:
    """RFC 7239 Forwarded from a trusted proxy: its last `for=` is the client, quoted IPv6 with a
    port included; an X-Forwarded-For beside it is not read."""
    client = 'for="[2001:db8::7]:4711"'
    for n in range(ADDRESS_FAILURE_LIMIT):
        forged = f"for=198.51.100.{n}, {client};proto=https"  # the client's own entry on the left
        assert attempt(proxied_app, "10.1.1.1", f"n{n}@example.org", f"198.51.100.{n}", forged) == 422
    assert attempt(proxied_app, "10.2.2.2", "x@example.org", "203.0.113.5", 'for="[2001:db8::7]"') == 429
    assert attempt(proxied_app, "10.1.1.1", "y@example.org", forwarded="for=203.0.113.6") == 422
    assert sign_in_addresses(proxied_app)[-3:] == ["2001:db8::7", "2001:db8::7", "203.0.113.6"]


def test_an_untrusted_peers_forwarded_header_is_not_believed(plain_app: FastAPI) -> None:
    statuses = [
        attempt(
            plain_app, "203.0.113.1", f"n{n}@example.org", forwarded=f"for=198.51.100.{n}, for=203.0.113.2"
        )
        for n in range(ADDRESS_FAILURE_LIMIT + 1)
    ]
    assert statuses[-1] == 429 and 429 not in statuses[:ADDRESS_FAILURE_LIMIT]  # counted as the peer
    assert attempt(plain_app, "203.0.113.2", "victim@example.org") == 422  # the named address: not locked
    assert set(sign_in_addresses(plain_app)) == {"203.0.113.1", "203.0.113.2"}


def test_a_malformed_trusted_proxies_setting_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTEST_TRUSTED_PROXIES", "10.0.0.1, proxy.internal")
    with pytest.raises(ConfigError, match="ATTEST_TRUSTED_PROXIES"):
        load_settings()
    assert Settings(_env_file=None, trusted_proxies="").trusted_networks == ()
