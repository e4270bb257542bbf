"""Log lines: plain text (the default, for a terminal) or one JSON object per line
(ATTEST_LOG_FORMAT=json, for a log shipper).

`configure_logging` is what `create_app` calls; `uvicorn_log_config` is the same set-up as a
logging dictConfig for `attest serve`, so uvicorn's own lines (start-up, errors) come out in
the same format and every worker process configures itself the same way. The request line
itself is written by app.http.middleware (logger `attest.request`); uvicorn's access log is
switched off because it prints the concrete path and query string, which can carry tokens
(invitation and calendar-feed links).

While a request is handled, `request_context` holds its id (and the signed-in user's id, once
known), so every line an `attest.*` logger writes during it carries them without each call
passing them along.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any, Literal

from app.config import Settings

LogFormat = Literal["text", "json"]
REQUEST_LOGGER = "attest.request"
request_context: ContextVar[dict[str, Any] | None] = ContextVar("attest_request", default=None)

# Attributes every LogRecord has: anything else on a record came from `extra=` (uvicorn's
# `color_message` is its message again with terminal colour codes: left out too).
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}
# Loggers that say too much for a server's log at info: alembic names its dialect each time
# the readiness probe reads the schema revision.
QUIET = {"alembic": "WARNING"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    values = dict(request_context.get() or {})
    values.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")})
    return values


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, process id, then
    the request's fields and any `extra=` values, then the traceback as `exception`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,  # which worker, when uvicorn runs several
        }
        for key, value in _extras(record).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time level logger: message [request <id>, user <id>]`, the traceback on the lines after."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = _extras(record)
        tags = [f"{name} {extras[key]}" for key, name in _TEXT_TAGS if extras.get(key)]
        if not tags:
            return text
        first, newline, rest = text.partition("\n")
        return f"{first} [{', '.join(tags)}]{newline}{rest}"


_TEXT_TAGS = (("request_id", "request"), ("user_id", "user"))


def make_formatter(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


class AttestLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The one handler Attest installs on the root logger (to stderr unless given a stream).

    Without a stream it writes to whatever sys.stderr is when the line is written, so a
    replaced stderr (a test runner's capture) never leaves it writing to a closed file."""

    def __init__(self, stream: IO[str] | None = None, log_format: LogFormat = "text") -> None:
        super().__init__(stream or sys.stderr)
        self.follow_stderr = stream is None
        self.setFormatter(make_formatter(log_format))

    def emit(self, record: logging.LogRecord) -> None:
        if self.follow_stderr:
            self.stream = sys.stderr
        super().emit(record)


def make_handler(log_format: LogFormat = "text") -> AttestLogHandler:
    """The factory uvicorn's dictConfig calls (see `uvicorn_log_config`)."""
    return AttestLogHandler(log_format=log_format)


def configure_logging(settings: Settings, stream: IO[str] | None = None) -> None:
    """Send every logger's lines (attest.*, uvicorn.*, libraries) through Attest's handler in
    the configured format and level.

    Like logging.basicConfig, it leaves logging alone when something else (a test runner, an
    application embedding Attest) has already put handlers on the root logger; a handler of
    its own to stderr from an earlier call (or from `uvicorn_log_config`) is brought up to date
    instead of doubled."""
    root = logging.getLogger()
    level = settings.log_level.upper()
    ours = [h for h in root.handlers if isinstance(h, AttestLogHandler) and h.follow_stderr]
    if ours:
        for handler in ours:
            handler.setFormatter(make_formatter(settings.log_format))
    elif root.handlers:
        return
    else:
        root.addHandler(AttestLogHandler(stream, settings.log_format))
    root.setLevel(level)
    for name, quiet in QUIET.items():
        logging.getLogger(name).setLevel(quiet)


def uvicorn_log_config(settings: Settings) -> dict[str, Any]:
    """`attest serve`'s logging set-up for uvicorn (applied in every worker process): uvicorn's
    loggers go to the root logger's Attest handler; its access log is off, because
    app.http.middleware writes the one line per request."""
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"attest": {"()": f"{__name__}.make_handler", "log_format": settings.log_format}},
        "root": {"handlers": ["attest"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            **{name: {"level": quiet} for name, quiet in QUIET.items()},
        },
    }
