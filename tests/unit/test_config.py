"""Settings come from a mapping or the environment; empty values mean the default."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import load_settings


def test_mapping_overrides_defaults() -> None:
    """Tests and tools pass settings as a plain mapping, names as in the environment."""
    s = load_settings(
        {"GANGWAY_PORT": "9100", "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t"}
    )
    assert s.gangway_port == 9100 and s.twilio_configured


def test_empty_values_fall_back_to_defaults() -> None:
    """A copied .env.example with blank lines does not blank out the database URL."""
    s = load_settings({"DATABASE_URL": "", "GANGWAY_PORT": ""})
    assert s.database_url.startswith("sqlite:///") and s.gangway_port == 8000


def test_env_file_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A .env file supplies values the environment does not."""
    monkeypatch.delenv("GANGWAY_PUBLIC_URL", raising=False)
    env = tmp_path / ".env"
    env.write_text("GANGWAY_PUBLIC_URL=https://gangway.example.com\nDATABASE_URL=\n")
    s = load_settings(env_file=env)
    assert s.gangway_public_url == "https://gangway.example.com"
    assert s.database_url.startswith("sqlite:///")


def test_auth_token_is_not_printed() -> None:
    """The Twilio auth token does not show up in the settings' repr (logs, tracebacks)."""
    s = load_settings({"TWILIO_AUTH_TOKEN": "very-secret-token"})
    assert "very-secret-token" not in repr(s)


def test_migration_url_is_not_printed() -> None:
    """The owner role's URL, password included, stays out of the settings' repr."""
    url = "postgresql+psycopg://gangway_owner:owner-password@db.example.com/gangway"
    s = load_settings({"GANGWAY_MIGRATION_DATABASE_URL": url})
    assert "owner-password" not in repr(s)
    assert s.migration_database_url == url
    assert load_settings({"GANGWAY_MIGRATION_DATABASE_URL": ""}).migration_database_url is None
