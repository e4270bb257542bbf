from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ConfigError, Settings, load_settings


def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("ATTEST_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_laptop_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env(monkeypatch, tmp_path)
    settings = load_settings()
    assert settings.effective_database_url == "sqlite:///var/attest.db"
    assert settings.evidence_dir == Path("evidence")
    assert settings.controls_dir == Path("controls")
    assert settings.mail_backend == "console"
    assert settings.base_url == "http://127.0.0.1:8000"


def test_secret_key_is_generated_once_and_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env(monkeypatch, tmp_path)
    first = load_settings().resolved_secret_key()
    second = load_settings().resolved_secret_key()
    assert first == second and len(first) >= 48
    key_file = tmp_path / "var" / "secret_key"
    assert key_file.read_text() == first
    assert key_file.stat().st_mode & 0o077 == 0


def test_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env(monkeypatch, tmp_path)
    (tmp_path / ".env").write_text("ATTEST_MAX_UPLOAD_MB=12\n")
    assert load_settings().max_upload_mb == 12


def test_postgres_urls_use_psycopg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env(monkeypatch, tmp_path)
    monkeypatch.setenv("ATTEST_DATABASE_URL", "postgresql://u@db/attest")
    assert load_settings().effective_database_url == "postgresql+psycopg://u@db/attest"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ATTEST_MAX_UPLOAD_MB", "lots"),
        ("ATTEST_ENV", "staging"),
        ("ATTEST_BASE_URL", "ftp://example"),
        ("ATTEST_MAIL_BACKEND", "pigeon"),
    ],
)
def test_malformed_setting_names_itself_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str
) -> None:
    clean_env(monkeypatch, tmp_path)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"{name}: ")
    assert "\n" not in message


def test_production_refuses_development_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env(monkeypatch, tmp_path)
    monkeypatch.setenv("ATTEST_ENV", "production")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "ATTEST_SECRET_KEY" in message
    assert "ATTEST_BASE_URL" in message
    assert "ATTEST_MAIL_BACKEND" in message


def test_production_accepts_a_real_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env(monkeypatch, tmp_path)
    monkeypatch.setenv("ATTEST_ENV", "production")
    monkeypatch.setenv("ATTEST_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("ATTEST_BASE_URL", "https://attest.example.gov.uk")
    monkeypatch.setenv("ATTEST_MAIL_BACKEND", "smtp")
    settings = load_settings()
    assert isinstance(settings, Settings) and settings.https
