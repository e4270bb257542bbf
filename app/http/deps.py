"""Typed dependencies: each loads what a route needs or refuses the request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends
from sqlmodel import Session
from starlette.requests import Request

from app.adapters.mail import Mailer
from app.config import Settings
from app.db import session_scope, takes_write_lock
from app.domain.catalogue import Library
from app.services import catalogue_imports
from app.services.certificates.glance import Store, Summaries
from app.services.certificates.glance import store as store_summaries

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    """A session per request.

    The rule (README, "Security"): unsafe methods take the SQLite write lock up front, so they
    never upgrade a read; safe methods are read-only (a write raises), and whatever a read must
    record (an audited download, a session touch, a refusal) goes through `writer`, a short
    write transaction of its own. Uploads end their transaction before the body streams
    (`app.http.uploads.receive_file`), so no lock is held across the network.
    """
    write = request.method not in SAFE_METHODS
    with session_scope(request.app.state.engine, write=write, read_only=not write) as session:
        yield session


@contextmanager
def writer(request: Request, db: Session) -> Iterator[Session]:
    """The session to write in now, for something the request must record while it reads.

    A request that holds the write lock already (`db` is a write session) writes in `db`, and
    that commits with its work: a second writer would wait for the first, its own request,
    until the busy timeout. Any other request ends its read transaction (rows loaded stay
    usable; its connection goes back to the pool, so a request never holds two and parallel
    reads cannot exhaust the pool) and gets a short write transaction of its own, committed
    when the block ends (before a single byte of a download leaves).
    """
    if takes_write_lock(db):
        yield db
        return
    db.commit()
    with session_scope(request.app.state.engine, write=True) as session:
        yield session
        session.commit()


def summary_store(request: Request, db: Session) -> Store:
    """Where a read stores the engagement summaries it recomputed (app.services.certificates
    .glance): a short write of their own, through `writer`."""

    def store(summaries: Summaries) -> None:
        with writer(request, db) as session:
            store_summaries(session, summaries)

    return store


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_library(request: Request, db: Annotated[Session, Depends(get_session)]) -> Library:
    """The catalogue files plus the catalogues imported from OSCAL (one small query: imports
    live in the database so every worker serves the same list; app.services.catalogue_imports)."""
    files: Library = request.app.state.library
    return catalogue_imports.library(db, files)


def get_mailer(request: Request) -> Mailer:
    mailer: Mailer = request.app.state.mailer
    return mailer


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
LibraryDep = Annotated[Library, Depends(get_library)]
MailerDep = Annotated[Mailer, Depends(get_mailer)]
