"""Replicas started at once migrate the PostgreSQL database once, one after the other."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from bot.adapters.db import make_engine, normalise_url
from bot.adapters.db_roles import MIGRATION_LOCK, migrate_database, migration_lock
from bot.adapters.migrate import current_revision, head_revision
from tests.conftest import PG_URL, reset_postgres
from tests.e2e.processes import wait_until

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="GANGWAY_TEST_DATABASE_URL is not set"),
]


@pytest.fixture
def blank() -> Iterator[str]:
    """The test database with an empty schema: nothing migrated yet."""
    assert PG_URL
    url = normalise_url(PG_URL)
    reset_postgres(url)
    yield url


def _migrate(url: str) -> None:
    engine = make_engine(url)
    try:
        migrate_database(engine)
    finally:
        engine.dispose()


def _waiting_for_the_lock(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                    "AND ((classid::bigint << 32) | objid::bigint) = :key"
                ),
                {"key": MIGRATION_LOCK},
            )
        )


def test_four_replicas_starting_together_migrate_once(
    blank: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every start succeeds; one migrates, the others find the schema at head."""
    caplog.set_level(logging.INFO, logger="bot.adapters.db_roles")
    failures: list[BaseException] = []

    def start() -> None:
        try:
            _migrate(blank)
        except BaseException as exc:  # reported below, with the thread's error
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    messages = [r.getMessage() for r in caplog.records if r.name == "bot.adapters.db_roles"]
    assert sum("migrated from revision nothing" in m for m in messages) == 1, messages
    assert sum("already at revision" in m for m in messages) == 3, messages
    engine = make_engine(blank)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_a_start_waits_while_another_process_holds_the_migration_lock(blank: str) -> None:
    """It queues on the advisory lock, then migrates once the holder lets go."""
    holder, observer = make_engine(blank), make_engine(blank)
    done = threading.Event()

    def start() -> None:
        _migrate(blank)
        done.set()

    try:
        with migration_lock(holder):
            thread = threading.Thread(target=start)
            thread.start()
            wait_until(lambda: _waiting_for_the_lock(observer) == 1, 30, "a start to queue")
            assert not done.is_set()
            assert current_revision(observer) is None
        thread.join(120)
        assert done.is_set()
        assert current_revision(observer) == head_revision()
    finally:
        holder.dispose()
        observer.dispose()
