"""Typed dependencies: each loads what a route needs or refuses the request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends
from sqlmodel import Session
from starlette.requests import Request

from app.config import Settings
from app.db import session_scope
from app.domain.catalogue import Library

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[Session]:
    """A session per request; unsafe methods take the SQLite write lock up front."""
    write = request.method not in SAFE_METHODS
    with session_scope(request.app.state.engine, write=write) as session:
        yield session


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_library(request: Request) -> Library:
    library: Library = request.app.state.library
    return library


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
LibraryDep = Annotated[Library, Depends(get_library)]
