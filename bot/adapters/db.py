"""Engines and sessions. SQLite runs in WAL mode with immediate transactions so
that concurrent writers queue instead of failing; PostgreSQL goes through psycopg 3.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters.vault import Vault

__all__ = [
    "SessionFactory",
    "make_engine",
    "make_session_factory",
    "normalise_url",
    "scrub_freed_space",
]

SessionFactory = sessionmaker[Session]


def normalise_url(url: str) -> str:
    """Accept the usual spellings of a PostgreSQL URL and use psycopg 3 for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, **kwargs)

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # Enough pooled connections for the worker threads and the webhook thread pool:
    # beyond the pool, connections are opened and closed per use, each paying the
    # PRAGMAs below.
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=20,
        max_overflow=40,
        **kwargs,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        # Overwrite deleted and replaced content with zeros, so an erased data key does
        # not linger in free pages of the file.
        cur.execute("PRAGMA secure_delete=ON")
        cur.close()

    # SQLite has one writer at a time, and a thread that finds the database locked
    # sleeps in growing steps (up to 100 ms) before trying again, so under load some
    # transactions starve for seconds while others get in. Threads of this process
    # therefore queue on a lock of their own, which hands over at once; SQLite's busy
    # timeout still arbitrates between processes (e.g. the service and a CLI command).
    writer = threading.Lock()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        writer.acquire()
        try:
            # Take SQLite's write lock up front: a deferred transaction that reads and
            # then writes fails with "database is locked" if another writer got in first.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            writer.release()
            raise
        conn.info["gangway_writer"] = True

    def _on_end(conn: Any) -> None:
        if conn.info.pop("gangway_writer", False):
            writer.release()

    # A connection returned, invalidated or closed mid-transaction must not keep the
    # lock (the Connection and its pool record share one info dict). The listeners'
    # exact signatures matter: SQLAlchemy warns, costly, on every call otherwise.
    def _release_record(record: Any) -> None:
        if record is not None and record.info.pop("gangway_writer", False):
            writer.release()

    def _on_reset(dbapi_connection: Any, connection_record: Any, reset_state: Any) -> None:
        _release_record(connection_record)

    def _on_invalidate(dbapi_connection: Any, connection_record: Any, exception: Any) -> None:
        _release_record(connection_record)

    def _on_close(dbapi_connection: Any, connection_record: Any) -> None:
        _release_record(connection_record)

    event.listen(engine, "commit", _on_end)
    event.listen(engine, "rollback", _on_end)
    event.listen(engine, "reset", _on_reset)
    event.listen(engine, "invalidate", _on_invalidate)
    event.listen(engine, "close", _on_close)
    return engine


def make_session_factory(engine: Engine, vault: Vault) -> SessionFactory:
    """Sessions that carry the vault (``Session.info["vault"]``): whatever writes or
    reads a sealed field reaches the keys through the session it already holds."""
    return sessionmaker(engine, expire_on_commit=False, info={"vault": vault})


def scrub_freed_space(engine: Engine) -> None:
    """Make the database drop old copies of changed rows now, not some day.

    After an erasure the destroyed data keys must not survive in the files: SQLite's
    write-ahead log still holds earlier page images until a checkpoint empties it, and
    PostgreSQL keeps dead row versions until a vacuum.
    """
    if engine.dialect.name == "sqlite":
        # Outside any transaction: SQLite cannot checkpoint from inside one.
        raw = engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
        finally:
            raw.close()
    elif engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM data_keys")
