"""`gangway up --replicas N --rasa-replicas M`: what it plans to start, and with what."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.adapters.rasa_stores import rasa_stores
from bot.config import MissingConfiguration, load_settings
from bot.entrypoints.supervisor import RASA_BIN, Scale, plan_stack
from bot.rasa_project import shared_endpoints

REPO = Path(__file__).resolve().parents[2]
POSTGRES = "postgresql+psycopg://gw@db.example.com:5433/gangway"


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"")
    return {
        "PATH": "/usr/bin",
        "GANGWAY_RASA_MODEL": str(model),
        "DATABASE_URL": POSTGRES,
        "RASA_URL": "http://127.0.0.1:5105",
        "GANGWAY_REDIS_URL": "redis://:lock-secret@redis.example.com:6380/3",
    }


needs_rasa = pytest.mark.skipif(not RASA_BIN.exists(), reason="Rasa is not installed")


@needs_rasa
def test_rasa_replicas_listen_on_consecutive_ports_and_the_service_knows_them_all(
    environ: dict[str, str], tmp_path: Path
) -> None:
    """Three replicas from RASA_URL's port on; gangway's RASA_URL lists the three."""
    settings = load_settings(environ)
    endpoints = tmp_path / "endpoints.yml"
    scale = Scale(rasa_replicas=3, stores=rasa_stores(settings), endpoints=endpoints)
    plan = plan_stack(settings, environ, scale)
    rasas = [c for c in plan.children if c.name.startswith("rasa")]
    assert [c.name for c in rasas] == ["rasa-1", "rasa-2", "rasa-3"]
    ports = [c.argv[c.argv.index("--port") + 1] for c in rasas]
    assert ports == ["5105", "5106", "5107"]
    assert all(c.argv[c.argv.index("--endpoints") + 1] == str(endpoints) for c in rasas)
    gangway = next(c for c in plan.children if c.name == "gangway")
    assert gangway.env["RASA_URL"] == ",".join(f"http://127.0.0.1:{p}" for p in ports)


@needs_rasa
def test_rasa_gets_its_own_tracker_database_never_gangways(environ: dict[str, str]) -> None:
    """The tracker store is <database>_rasa; Rasa sees neither DATABASE_URL nor the keys,
    and the service does not see the lock store's password."""
    settings = load_settings(environ)
    plan = plan_stack(settings, environ, Scale(rasa_replicas=2, stores=rasa_stores(settings)))
    rasa = next(c for c in plan.children if c.name == "rasa-1").env
    assert rasa["GANGWAY_RASA_TRACKER_DB"] == "gangway_rasa"
    assert (rasa["GANGWAY_RASA_TRACKER_HOST"], rasa["GANGWAY_RASA_TRACKER_PORT"]) == (
        "db.example.com",
        "5433",
    )
    assert (rasa["GANGWAY_RASA_LOCK_HOST"], rasa["GANGWAY_RASA_LOCK_DB"]) == (
        "redis.example.com",
        "3",
    )
    assert not any("DATABASE_URL" in name or "KEY" in name for name in rasa)
    gangway = next(c for c in plan.children if c.name == "gangway").env
    assert not any(name.startswith("GANGWAY_RASA_LOCK") for name in gangway)


@needs_rasa
def test_service_replicas_run_as_one_serve_with_workers(environ: dict[str, str]) -> None:
    """`--replicas 2` is one child, `gangway serve --workers 2`."""
    plan = plan_stack(load_settings(environ), environ, Scale(service_processes=2))
    gangway = [c for c in plan.children if c.name == "gangway"]
    assert len(gangway) == 1
    assert gangway[0].argv[-3:] == ["serve", "--workers", "2"]
    assert [c.name for c in plan.children if c.name.startswith("rasa")] == ["rasa"]


def test_a_configured_tracker_database_wins_and_must_be_postgresql() -> None:
    """GANGWAY_RASA_TRACKER_DATABASE_URL, e.g. with a role of its own, is used as given."""
    own = "postgresql://rasa:tracker-secret@db.example.com/rasa_trackers"
    stores = rasa_stores(load_settings({"GANGWAY_RASA_TRACKER_DATABASE_URL": own}))
    assert stores.environment()["GANGWAY_RASA_TRACKER_USER"] == "rasa"
    assert stores.environment()["GANGWAY_RASA_TRACKER_DB"] == "rasa_trackers"
    with pytest.raises(MissingConfiguration, match="must be PostgreSQL"):
        rasa_stores(load_settings({"GANGWAY_RASA_TRACKER_DATABASE_URL": "sqlite:///r.db"}))


def test_gangways_password_is_never_handed_to_rasa() -> None:
    """With a password in DATABASE_URL, Rasa's trackers need a URL of their own."""
    settings = load_settings({"DATABASE_URL": "postgresql://gw:service-secret@db.example.com/gw"})
    with pytest.raises(MissingConfiguration, match="GANGWAY_RASA_TRACKER_DATABASE_URL"):
        rasa_stores(settings)


def test_without_postgresql_rasa_replicas_are_refused_with_a_plain_reason() -> None:
    """SQLite has nowhere for Rasa's shared trackers."""
    with pytest.raises(MissingConfiguration, match="share their conversations in PostgreSQL"):
        rasa_stores(load_settings({"DATABASE_URL": "sqlite:///var/gangway.db"}))


def test_the_shared_endpoints_file_adds_the_stores_rasa_36_reads(tmp_path: Path) -> None:
    """The project's endpoints plus `SQL` tracker store and `redis` lock store sections."""
    written = yaml.safe_load(
        shared_endpoints(REPO, tmp_path / "rasa" / "endpoints.yml").read_text()
    )
    base = yaml.safe_load((REPO / "bot" / "rasa" / "endpoints.yml").read_text())
    assert {k: written[k] for k in base} == base
    assert written["tracker_store"] == {
        "type": "SQL",
        "dialect": "postgresql",
        "url": "${GANGWAY_RASA_TRACKER_HOST}",
        "port": "${GANGWAY_RASA_TRACKER_PORT}",
        "db": "${GANGWAY_RASA_TRACKER_DB}",
        "username": "${GANGWAY_RASA_TRACKER_USER}",
        "password": "${GANGWAY_RASA_TRACKER_PASSWORD}",
    }
    assert written["lock_store"]["type"] == "redis"
    assert written["lock_store"]["db"] == "${GANGWAY_RASA_LOCK_DB}"
