"""Mail: a Mailer protocol, an SMTP mailer (stdlib smtplib) and a console mailer for development.

Messages have a plain-text and an HTML body rendered from `templates/emails/`; links in them are
absolute, built from ATTEST_BASE_URL, because a mail client has no page to be relative to.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import sys
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any, Protocol

from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.adapters import metrics
from app.config import Settings
from app.domain.dates import london

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
log = logging.getLogger("attest.mail")

_env = Environment(
    loader=FileSystemLoader(str(TEMPLATES_DIR)),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["london"] = london  # times in mail are London time, as on the pages


@dataclass(frozen=True, slots=True)
class Message:
    to: str
    subject: str
    text: str
    html: str
    message_id: str = ""  # stable per reminder, so a mail system can drop a repeat
    headers: dict[str, str] = field(default_factory=dict)


class Mailer(Protocol):
    def send(self, message: Message) -> None:
        """Hand the message to the mail system; raise if it was not accepted."""


def absolute(settings: Settings, link: str) -> str:
    return link if link.startswith(("http://", "https://")) else settings.base_url + "/" + link.lstrip("/")


def render(
    template: str, settings: Settings, *, to: str, subject: str, message_id: str = "", **context: Any
) -> Message:
    """Render `emails/<template>.txt` and `.html` into a message."""
    values = {"base_url": settings.base_url, "subject": subject, **context}
    text = _env.get_template(f"emails/{template}.txt").render(values)
    html = _env.get_template(f"emails/{template}.html").render(values)
    return Message(to=to, subject=subject, text=text, html=html, message_id=message_id)


def to_email(message: Message, sender: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Message-ID"] = message.message_id or make_msgid(domain="attest.invalid")
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
    for name, value in message.headers.items():
        mail[name] = value
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    return mail


class ConsoleMailer:
    """Prints each message to stderr (development and demos; stdout stays for --json output);
    nothing leaves the machine."""

    def __init__(self, sender: str, stream: Any = None) -> None:
        self.sender = sender
        self.stream = stream

    def send(self, message: Message) -> None:
        out = self.stream or sys.stderr
        out.write(f"--- mail to {message.to}: {message.subject}\n{message.text}\n---\n")
        out.flush()


class SmtpMailer:
    """Sends over SMTP; `tls` is "none", "starttls" or "ssl"; logs in when a username is set."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        tls: str = "none",
        username: str = "",
        password: str = "",
        timeout: float = 30.0,
        context: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.port, self.sender, self.tls = host, port, sender, tls
        self.username, self.password, self.timeout = username, password, timeout
        self.context = context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        if self.tls == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.context)
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.tls == "starttls":
            client.starttls(context=self.context)
        return client

    def send(self, message: Message) -> None:
        try:
            with self._connect() as client:
                if self.username:
                    client.login(self.username, self.password)
                client.send_message(to_email(message, self.sender))
        except Exception:  # refused, unreachable, timed out, TLS or login failure: counted, raised
            metrics.count_mail_failure()
            raise
        log.info("mail sent to %s: %s", message.to, message.subject)


def make_mailer(settings: Settings) -> Mailer:
    if settings.mail_backend == "smtp":
        return SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            settings.mail_from,
            tls=settings.smtp_tls,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout=settings.smtp_timeout_seconds,
        )
    return ConsoleMailer(settings.mail_from)
