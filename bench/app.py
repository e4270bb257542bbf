"""A fresh Attest for a benchmark: a migrated SQLite database and evidence folder in a new
temporary folder, served in process (the one set-up every benchmark here starts from)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import FastAPI

from app import migrate
from app.config import Settings
from app.db import make_engine
from app.main import create_app

ROOT = Path(__file__).resolve().parents[1]


def fresh_app(prefix: str) -> FastAPI:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    url = f"sqlite:///{folder / 'bench.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    settings = Settings(
        _env_file=None,
        env="test",
        database_url=url,
        data_dir=folder / "var",  # type: ignore[call-arg]
        evidence_dir=folder / "evidence",
        controls_dir=ROOT / "controls",
        secret_key="b" * 40,
        log_level="warning",
    )
    return create_app(settings)
