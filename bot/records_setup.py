"""Opening the records: the keys that protect them, checked against the database,
and what erasure needs (handoff events, scrubbing freed space).

Commands that read or change records use ``open_records``; the service's wiring
(bot.bootstrap) uses the same pieces.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.adapters.db import SessionFactory, make_engine, make_session_factory, scrub_freed_space
from bot.adapters.keyring import Keyring, KeyringError, default_key_file, keyring_from
from bot.adapters.vault import KeyMismatch, Vault, vault_of
from bot.config import MissingConfiguration, Settings
from bot.service_layer.handoff_events import CrmHandoffEvents, NoHandoffEvents
from bot.service_layer.handoffs import HandoffEvents

__all__ = ["check_keys", "handoff_events", "keyring", "open_records", "scrubber"]


def keyring(settings: Settings, now: datetime, *, create: bool = True) -> Keyring:
    """The records' keys: from the environment, a key file, or the one in var/ (made
    there on first start when ``create``)."""
    given = settings.gangway_master_keys or settings.gangway_key_file
    key_file = settings.gangway_key_file
    if not given:
        key_file = settings.state_dir / "keys"
        if create:
            key_file = default_key_file(settings.state_dir, now)
        elif not key_file.exists():
            raise MissingConfiguration(
                f"no keys: none in the environment (GANGWAY_MASTER_KEYS, GANGWAY_KEY_FILE) "
                f"and no {key_file}, which the service makes on its first start"
            )
    try:
        return keyring_from(
            master_keys=_secret(settings.gangway_master_keys),
            lookup_key=_secret(settings.gangway_lookup_key),
            audit_key=_secret(settings.gangway_audit_key),
            key_file=key_file,
        )
    except KeyringError as exc:
        raise MissingConfiguration(str(exc)) from exc


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def open_records(
    settings: Settings, now: datetime, *, create: bool = False
) -> tuple[Engine, SessionFactory]:
    """The database and sessions carrying the vault, for commands that read records.

    Keys other than those the database was written with are refused here, with a
    message saying so. Keys are made only with ``create`` (a command that may come
    before the service's first start).
    """
    vault = Vault(keyring(settings, now, create=create))
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine, vault)
    try:
        check_keys(sessions)
    except BaseException:
        engine.dispose()
        raise
    return engine, sessions


def handoff_events(settings: Settings) -> HandoffEvents:
    """Where handoff changes go: the CRM outbox when a CRM is configured."""
    return CrmHandoffEvents() if settings.gangway_crm_url else NoHandoffEvents()


def scrubber(settings: Settings, engine: Engine) -> Callable[[], None]:
    """What makes the database drop old copies of erased keys now. On PostgreSQL that is a
    VACUUM, which only the tables' owner may run: through the migration role when given."""

    def scrub() -> None:
        owner_url = settings.migration_database_url
        if engine.dialect.name != "postgresql" or not owner_url:
            scrub_freed_space(engine)
            return
        owner = make_engine(owner_url)
        try:
            scrub_freed_space(owner)
        finally:
            owner.dispose()

    return scrub


def check_keys(sessions: SessionFactory) -> None:
    try:
        with sessions.begin() as s:
            vault_of(s).check_keys(s)
    except KeyMismatch as exc:
        raise MissingConfiguration(str(exc)) from exc
    except SQLAlchemyError:
        pass  # no schema yet (the caller migrates) or no database: its own errors say so
