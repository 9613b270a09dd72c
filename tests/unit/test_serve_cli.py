"""`gangway serve --workers N`: several processes need PostgreSQL, and each its own id."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from bot.config import load_settings
from bot.entrypoints.cli import app, one_process_only
from bot.entrypoints.service_process import process_settings

TWILIO = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "f" * 32}


def test_several_service_processes_on_sqlite_are_refused_with_a_plain_reason(
    tmp_path: Path,
) -> None:
    """Exit 2 before anything starts or migrates: SQLite is for one process."""
    database = tmp_path / "gangway.db"
    env = {**TWILIO, "DATABASE_URL": f"sqlite:///{database}", "GANGWAY_STATE_DIR": str(tmp_path)}
    result = CliRunner().invoke(app, ["serve", "--workers", "2"], env=env)
    assert result.exit_code == 2
    assert "2 service processes need PostgreSQL: SQLite is for one process" in result.output
    assert not database.exists()


def test_one_process_on_sqlite_and_several_on_postgresql_are_fine() -> None:
    """Only the combination of SQLite and more than one process is refused."""
    sqlite = load_settings({"DATABASE_URL": "sqlite:///var/x.db"})
    postgres = load_settings({"DATABASE_URL": "postgresql+psycopg://gw@db.example.com/gw"})
    assert one_process_only(sqlite, 1) is None
    assert one_process_only(postgres, 4) is None
    assert one_process_only(sqlite, 3) is not None


def test_each_service_process_holds_leases_under_its_own_instance_id() -> None:
    """Two workers of one service never share a lease owner, configured id or not."""
    for environ in ({}, {"GANGWAY_INSTANCE_ID": "eu-1"}):
        settings = load_settings(environ)
        ids = {process_settings(settings, pid).instance_id for pid in (4101, 4102)}
        assert len(ids) == 2
        assert all(i.startswith(settings.instance_id + ":") for i in ids)
