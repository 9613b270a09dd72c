"""Shared fixtures: a migrated database per test (SQLite always, PostgreSQL when
GANGWAY_TEST_DATABASE_URL is set), a controllable clock.

Migrating takes longer than most tests, so each run migrates once into a template and
every test gets a fresh copy of it: a file copy on SQLite, ``CREATE DATABASE … TEMPLATE``
on PostgreSQL. Where the PostgreSQL role may not create databases, every test resets and
migrates the given database instead, as before.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bot.adapters.db import SessionFactory, make_engine, make_session_factory, normalise_url
from bot.adapters.migrate import upgrade
from bot.adapters.vault import Vault
from tests.fakes.clock import FakeClock
from tests.fakes.keys import fake_vault


def _worker_database(url: str | None) -> str | None:
    """The PostgreSQL test database of this pytest-xdist worker: the given one with the
    worker's name appended (made when missing), so that parallel workers never share
    rows. Without xdist, the given database itself."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    given = make_url(normalise_url(url))
    name = f"{given.database or 'test'}_{worker}"
    admin = make_engine(given.set(database="postgres").render_as_string(False))
    try:
        with admin.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return given.set(database=name).render_as_string(False)


PG_URL = _worker_database(os.environ.get("GANGWAY_TEST_DATABASE_URL"))


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


def _migrated(url: str) -> None:
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, made once per run for the tests to copy."""
    path = tmp_path_factory.mktemp("template") / "gangway.db"
    _migrated(f"sqlite:///{path}")
    return path


class PostgresCopies:
    """Fresh copies of one migrated template database, each under the given URL's own
    database name (dropped first: it is the tests' database)."""

    def __init__(self, url: str) -> None:
        self.url = url
        target = make_url(url)
        self.name = target.database or "test"
        self.template = f"{self.name}_template"
        self.admin = make_engine(target.set(database="postgres").render_as_string(False))
        self.admin = self.admin.execution_options(isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{self.template}"'))
        _migrated(target.set(database=self.template).render_as_string(False))

    def fresh(self) -> str:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{self.name}" TEMPLATE "{self.template}"'))
        return self.url

    def close(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def postgres_copies() -> Iterator[PostgresCopies | None]:
    """Copies of a migrated template, or None where the role cannot create databases
    (each test then resets and migrates the given database)."""
    if not PG_URL:
        yield None
        return
    try:
        copies = PostgresCopies(normalise_url(PG_URL))
    except DBAPIError:
        yield None
        return
    yield copies
    copies.close()


@pytest.fixture(params=_database_params())
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_copies: PostgresCopies | None,
) -> str:
    """A URL to an empty, migrated database of each kind under test."""
    if request.param == "sqlite":
        path = tmp_path / "gangway.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    assert PG_URL
    if postgres_copies is not None:
        return postgres_copies.fresh()
    url = normalise_url(PG_URL)
    reset_postgres(url)
    _migrated(url)
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
