"""Where Rasa replicas share their state: a SQL tracker store on PostgreSQL and a
Redis lock store (Rasa 3.6: rasa/core/tracker_store.py `SQLTrackerStore`,
rasa/core/lock_store.py `RedisLockStore`).

Rasa gets these as environment variables named in the endpoints file that
`bot.rasa_project.shared_endpoints` writes, never gangway's own database URL: the
tracker store is a database of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from bot.adapters.db import make_engine
from bot.config import MissingConfiguration, Settings

__all__ = ["RasaStores", "ensure_database", "rasa_stores"]

TRACKER_DATABASE_SUFFIX = "_rasa"


@dataclass(frozen=True)
class RasaStores:
    tracker_url: URL  # PostgreSQL, for Rasa's SQL tracker store
    redis_url: str

    def environment(self) -> dict[str, str]:
        """The variables the shared endpoints file names, for Rasa's environment only."""
        redis = make_url(self.redis_url)
        return {
            "GANGWAY_RASA_TRACKER_HOST": self.tracker_url.host or "127.0.0.1",
            "GANGWAY_RASA_TRACKER_PORT": str(self.tracker_url.port or 5432),
            "GANGWAY_RASA_TRACKER_DB": self.tracker_url.database or "",
            "GANGWAY_RASA_TRACKER_USER": self.tracker_url.username or "",
            "GANGWAY_RASA_TRACKER_PASSWORD": self.tracker_url.password or "",
            "GANGWAY_RASA_LOCK_HOST": redis.host or "127.0.0.1",
            "GANGWAY_RASA_LOCK_PORT": str(redis.port or 6379),
            "GANGWAY_RASA_LOCK_DB": redis.database or "0",
            "GANGWAY_RASA_LOCK_PASSWORD": redis.password or "",
        }


def rasa_stores(settings: Settings) -> RasaStores:
    """The shared stores for ``settings``; MissingConfiguration when there is no
    PostgreSQL to put the trackers in.

    Unconfigured, the trackers go to <DATABASE_URL's database>_rasa on the same server
    as the same role, which suits a local server that trusts its users: only where
    DATABASE_URL holds no password, since Rasa must never hold gangway's credentials."""
    configured = settings.gangway_rasa_tracker_database_url
    if configured is not None:
        url = make_url(configured.get_secret_value())
    else:
        service = make_url(settings.database_url)
        if service.get_backend_name() != "postgresql":
            raise MissingConfiguration(
                "Rasa replicas share their conversations in PostgreSQL: set DATABASE_URL "
                "to PostgreSQL, or GANGWAY_RASA_TRACKER_DATABASE_URL"
            )
        if service.password:
            # Rasa would hold the password of gangway's own role, and with it every record.
            raise MissingConfiguration(
                "Rasa replicas need a database role of their own: DATABASE_URL has a "
                "password, which Rasa must not get; set GANGWAY_RASA_TRACKER_DATABASE_URL"
            )
        url = service.set(database=f"{service.database}{TRACKER_DATABASE_SUFFIX}")
    if url.get_backend_name() != "postgresql":
        raise MissingConfiguration(
            f"GANGWAY_RASA_TRACKER_DATABASE_URL must be PostgreSQL, not {url.get_backend_name()}"
        )
    return RasaStores(url, settings.gangway_redis_url)


def ensure_database(url: URL) -> bool:
    """Create ``url``'s database unless it exists (True if it was made), connecting to
    the server's ``postgres`` database as ``url``'s role (which needs CREATEDB)."""
    name = url.database or ""
    admin = make_engine(url.set(database="postgres").render_as_string(hide_password=False))
    try:
        with admin.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
            if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
                return False
            quoted = conn.dialect.identifier_preparer.quote(name)
            conn.execute(text(f"CREATE DATABASE {quoted}"))
            return True
    finally:
        admin.dispose()
