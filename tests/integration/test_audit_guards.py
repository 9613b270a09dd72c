"""The database refuses every way of changing or removing an audit record: TRUNCATE on
PostgreSQL, an insert that would overwrite a record (SQLite's INSERT OR REPLACE,
PostgreSQL's ON CONFLICT DO UPDATE), besides UPDATE and DELETE."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.exc import DatabaseError

import bot.adapters.migrate as migrate_module
from bot.adapters import audit_log
from bot.adapters.db import SessionFactory, make_engine, normalise_url
from tests.audit_helpers import chained
from tests.conftest import PG_URL, reset_postgres
from tests.fakes.clock import FakeClock
from tests.integration.test_audit_cli import fill

GUARDS = "0005"


def test_truncate_is_refused(engine: Engine, sessions: SessionFactory, clock: FakeClock) -> None:
    """TRUNCATE audit_log fails in the database itself, naming the table; nothing is lost."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE; its DELETE FROM is refused (test_audit_cli)")
    fill(sessions, clock, 2)
    refused = pytest.raises(DatabaseError, match="audit_log is append-only: TRUNCATE refused")
    with refused, engine.begin() as conn:
        conn.execute(text("TRUNCATE audit_log"))
    with sessions() as s:
        assert audit_log.verify(s) == (2, None)


OVERWRITES = {
    "sqlite": [
        "INSERT OR REPLACE INTO audit_log SELECT seq, recorded_at, kind, conversation_id, "
        "'forged', prev_hash, hash, pending_mac FROM audit_log WHERE seq = 1",
        "REPLACE INTO audit_log SELECT seq, recorded_at, kind, conversation_id, "
        "'forged', prev_hash, hash, pending_mac FROM audit_log WHERE seq = 1",
        "INSERT INTO audit_log SELECT seq, recorded_at, kind, conversation_id, "
        "'forged', prev_hash, hash, pending_mac FROM audit_log WHERE seq = 1 "
        "ON CONFLICT (seq) DO UPDATE SET payload = excluded.payload",
    ],
    "postgresql": [
        "INSERT INTO audit_log SELECT seq, recorded_at, kind, conversation_id, "
        "'forged', prev_hash, hash, pending_mac FROM audit_log WHERE seq = 1 "
        "ON CONFLICT (seq) DO UPDATE SET payload = excluded.payload",
    ],
}


def test_inserts_that_would_overwrite_a_record_are_refused(
    engine: Engine, sessions: SessionFactory, clock: FakeClock
) -> None:
    """Re-inserting record 1 with other content (REPLACE, upsert) fails; record 1 stays."""
    fill(sessions, clock, 2)
    for statement in OVERWRITES[engine.dialect.name]:
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        payloads = conn.execute(text("SELECT payload FROM audit_log ORDER BY seq")).scalars()
        assert "forged" not in list(payloads)
    with sessions() as s:
        assert audit_log.verify(s) == (2, None)


def test_appending_still_works(engine: Engine, sessions: SessionFactory, clock: FakeClock) -> None:
    """The insert guard lets every new record through: the chain grows and verifies."""
    fill(sessions, clock, 3)
    with sessions.begin() as s:
        audit_log.append(s, kind="note", conversation_id=None, payload={}, now=clock.now())
    with chained(sessions)() as s:
        assert audit_log.verify(s) == (4, None)


# --- the migration itself, from the revision before it -----------------------------


def _alembic(engine: Engine, action: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrate_module.__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)


def _before_guards() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrate_module.__file__).parent / "migrations"))
    down = ScriptDirectory.from_config(cfg).get_revision(GUARDS).down_revision
    assert isinstance(down, str)
    return down


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database with no schema at all."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        if not PG_URL:
            pytest.skip("GANGWAY_TEST_DATABASE_URL is not set")
        url = normalise_url(PG_URL)
        reset_postgres(url)
    eng = make_engine(url)
    yield eng
    eng.dispose()


def _refused(engine: Engine, statement: str) -> bool:
    try:
        with engine.begin() as conn:
            conn.execute(text(statement))
    except DatabaseError:
        return True
    return False


def test_audit_contents_gets_the_same_guards_and_downgrade_removes_them(
    engine: Engine,
) -> None:
    """audit_contents refuses UPDATE, DELETE, TRUNCATE and overwriting inserts;
    downgrading removes the guards of this revision and keeps the older ones."""
    row = "(1, 'c-1', '" + "d" * 64 + "', 'sealed content', '2026-12-02 09:00:00')"
    forged = "(1, 'c-1', '" + "f" * 64 + "', 'forged', '2026-12-02 09:00:00')"
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO audit_contents VALUES {row}"))
    pg = engine.dialect.name == "postgresql"
    overwrite = (
        f"INSERT INTO audit_contents VALUES {forged} "
        "ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed"
        if pg
        else f"INSERT OR REPLACE INTO audit_contents VALUES {forged}"
    )
    older = ["UPDATE audit_contents SET sealed = 'forged'", "DELETE FROM audit_contents"]
    these = [overwrite, *(["TRUNCATE audit_contents", "TRUNCATE audit_log"] if pg else [])]
    assert [s for s in older + these if not _refused(engine, s)] == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT sealed FROM audit_contents")).scalars().all() == [
            "sealed content"
        ]

    _alembic(engine, "downgrade", _before_guards())
    assert [s for s in older if not _refused(engine, s)] == []  # 0004's guards stay
    if pg:
        assert not _refused(engine, "TRUNCATE audit_contents")
    else:
        assert not _refused(engine, overwrite)
