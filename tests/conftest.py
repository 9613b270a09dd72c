"""Shared fixtures: a migrated database per test (SQLite always, PostgreSQL when
GANGWAY_TEST_DATABASE_URL is set), a controllable clock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bot.adapters.db import SessionFactory, make_engine, make_session_factory, normalise_url
from bot.adapters.migrate import upgrade
from bot.adapters.vault import Vault
from tests.fakes.clock import FakeClock
from tests.fakes.keys import fake_vault

PG_URL = os.environ.get("GANGWAY_TEST_DATABASE_URL")


def reset_postgres(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


def _database_params() -> list[object]:
    params: list[object] = [pytest.param("sqlite", id="sqlite")]
    params.append(
        pytest.param(
            "postgresql",
            id="postgresql",
            marks=pytest.mark.skipif(not PG_URL, reason="GANGWAY_TEST_DATABASE_URL is not set"),
        )
    )
    return params


@pytest.fixture(params=_database_params())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty, migrated database of each kind under test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'gangway.db'}"
    else:
        assert PG_URL
        url = normalise_url(PG_URL)
        reset_postgres(url)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def vault() -> Vault:
    return fake_vault()


@pytest.fixture
def sessions(engine: Engine, vault: Vault) -> SessionFactory:
    return make_session_factory(engine, vault)


@pytest.fixture(autouse=True)
def own_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test's commands and processes keep their state (keys, checkpoints, logs)
    in the test's own directory, never in the checkout's var/."""
    monkeypatch.setenv("GANGWAY_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
