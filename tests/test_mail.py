"""Mail over real SMTP (aiosmtpd on 127.0.0.1): recipients, subjects, both bodies, absolute links, auth."""

from __future__ import annotations

import io
import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.adapters.mail import ConsoleMailer, Message, SmtpMailer, absolute, make_mailer, render
from tests.conftest import make_settings
from tests.smtp import Inbox, password_check, serve, start


@pytest.fixture
def smtp_server() -> Iterator[Inbox]:
    yield from serve()


def settings_for(tmp_path: Path, inbox: Inbox, **overrides: object):  # type: ignore[no-untyped-def]
    return make_settings(
        tmp_path,
        "sqlite:///unused.db",
        base_url="https://attest.example.gov.uk",
        mail_backend="smtp",
        smtp_host=inbox.host,
        smtp_port=inbox.port,
        mail_from="Attest <noreply@attest.example.gov.uk>",
        **overrides,
    )


def test_smtp_mailer_delivers_text_and_html_with_absolute_links(tmp_path: Path, smtp_server: Inbox) -> None:
    settings = settings_for(tmp_path, smtp_server)
    mailer = make_mailer(settings)
    assert isinstance(mailer, SmtpMailer)
    message = render(
        "reminder",
        settings,
        to="lead@northwind.example",
        subject="Attest reminder: certificate expires in 30 days",
        message_id="<reminder-abc@attest.invalid>",
        name="Sam <Lead>",
        text="The ISO/IEC 27001 certificate of Northwind expires in 30 days (2026-06-30)",
        link=absolute(settings, "/certificates/abc"),
        why="Certificates must be held for the whole contract.",
        category="Certificate expiry",
    )
    mailer.send(message)
    (got,) = smtp_server.to("lead@northwind.example")
    assert got.sender == "noreply@attest.example.gov.uk"
    assert got.subject == "Attest reminder: certificate expires in 30 days"
    assert got.message["Message-ID"] == "<reminder-abc@attest.invalid>"
    assert got.message["Auto-Submitted"] == "auto-generated"
    assert "https://attest.example.gov.uk/certificates/abc" in got.body("plain")
    assert 'href="https://attest.example.gov.uk/certificates/abc"' in got.body("html")
    assert "Sam &lt;Lead&gt;" in got.body("html")  # HTML is escaped
    assert "Sam <Lead>" in got.body("plain")


def test_smtp_login_when_a_username_is_set(tmp_path: Path) -> None:
    inbox = Inbox()
    controller = start(inbox, authenticator=password_check("attest", "s3cret"), auth_require_tls=False)
    try:
        good = SmtpMailer(inbox.host, inbox.port, "a@example.com", username="attest", password="s3cret")
        good.send(Message(to="b@example.com", subject="hi", text="t", html="<p>t</p>"))
        assert [m.subject for m in inbox.to("b@example.com")] == ["hi"]
        bad = SmtpMailer(inbox.host, inbox.port, "a@example.com", username="attest", password="wrong")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            bad.send(Message(to="c@example.com", subject="no", text="t", html="t"))
        assert inbox.to("c@example.com") == []
    finally:
        controller.stop()


def test_an_unreachable_server_raises(tmp_path: Path) -> None:
    from tests.smtp import free_port

    mailer = SmtpMailer("127.0.0.1", free_port(), "a@example.com", timeout=2)
    with pytest.raises(OSError):
        mailer.send(Message(to="b@example.com", subject="x", text="t", html="t"))


def test_console_mailer_prints(tmp_path: Path) -> None:
    out = io.StringIO()
    ConsoleMailer("a@example.com", stream=out).send(
        Message(to="b@example.com", subject="Hello", text="Body", html="")
    )
    assert "b@example.com" in out.getvalue() and "Hello" in out.getvalue() and "Body" in out.getvalue()


def test_console_is_the_default_backend(tmp_path: Path) -> None:
    assert isinstance(make_mailer(make_settings(tmp_path, "sqlite:///x.db")), ConsoleMailer)
