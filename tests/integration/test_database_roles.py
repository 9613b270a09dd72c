"""Migrations as an owner role, the service as another: on PostgreSQL the service may
do its work and append to the audit log, but not change, remove or unguard records."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner

from bot.adapters import audit_log
from bot.adapters.db import make_engine, make_session_factory, normalise_url
from bot.adapters.db_roles import MigrationSetupError, migrate_database, triggers_only_warning
from bot.adapters.migrate import current_revision, head_revision
from bot.adapters.tables import OutboxMessage
from bot.bootstrap import Container, build
from bot.config import load_settings
from bot.domain.inbound import parse_inbound
from bot.entrypoints.cli import app
from bot.service_layer.receiving import record_inbound
from tests.audit_helpers import chained
from tests.conftest import PG_URL, reset_postgres
from tests.fakes.clock import FakeClock
from tests.fakes.keys import fake_vault
from tests.fakes.ports import FakeDialogue, FakeModel, FakeSender, FakeUnderstanding
from tests.integration.test_audit_cli import fill

needs_postgres = pytest.mark.skipif(not PG_URL, reason="GANGWAY_TEST_DATABASE_URL is not set")
PROSPECT = "whatsapp:+12025550101"


@dataclass
class Roles:
    owner: str
    service: str
    owner_url: str
    service_url: str


@pytest.fixture
def roles() -> Iterator[Roles]:
    """Two login roles made for this test, as a DBA would: the owner may create tables
    in the schema, the service may only use it. Both are dropped afterwards."""
    assert PG_URL
    admin_url = normalise_url(PG_URL)
    reset_postgres(admin_url)
    suffix = secrets.token_hex(4)
    owner, service = f"gw_test_owner_{suffix}", f"gw_test_service_{suffix}"
    admin = make_engine(admin_url)
    with admin.begin() as conn:
        for role in (owner, service):
            conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text(f"GRANT CREATE, USAGE ON SCHEMA public TO {owner}"))
        conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {service}"))
    url = make_url(admin_url)
    try:
        yield Roles(
            owner,
            service,
            url.set(username=owner).render_as_string(hide_password=False),
            url.set(username=service).render_as_string(hide_password=False),
        )
    finally:
        reset_postgres(admin_url)
        with admin.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {owner}, {service}"))
            conn.execute(text(f"DROP ROLE {owner}"))
            conn.execute(text(f"DROP ROLE {service}"))
        admin.dispose()


@pytest.fixture
def service(roles: Roles) -> Iterator[Engine]:
    """The service's engine, its database migrated by the owner role."""
    engine = make_engine(roles.service_url)
    migrate_database(engine, roles.owner_url)
    yield engine
    engine.dispose()


def _table_owner(engine: Engine, table: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT tableowner FROM pg_tables WHERE tablename = :t"), {"t": table}
            ).scalar_one()
        )


@needs_postgres
def test_service_role_appends_to_the_audit_log(roles: Roles, service: Engine) -> None:
    """The service role appends through the audit adapter and the chain verifies; the
    tables belong to the owner role."""
    sessions = make_session_factory(service, fake_vault())
    clock = FakeClock()
    fill(sessions, clock, 2)
    with sessions.begin() as s:
        audit_log.append(s, kind="note", conversation_id=None, payload={}, now=clock.now())
    with chained(sessions)() as s:
        assert audit_log.verify(s) == (3, None)
        assert audit_log.pending_records(s).count == 0
    assert _table_owner(service, "audit_log") == roles.owner


@needs_postgres
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_pending SET payload = '{}'",
        "DELETE FROM audit_pending",
        "TRUNCATE audit_pending",
        "ALTER TABLE audit_pending DISABLE TRIGGER ALL",
        "DROP TABLE audit_pending",
    ],
)
def test_service_role_cannot_change_or_drop_a_waiting_record(
    service: Engine, statement: str
) -> None:
    """A record waiting to be chained cannot be changed, unguarded or removed by the
    service's role: by privilege, or (DELETE, which the chainer needs) by the trigger
    that lets only chained entries go."""
    sessions = make_session_factory(service, fake_vault())
    with sessions.begin() as s:
        audit_log.append(s, kind="note", conversation_id=None, payload={}, now=FakeClock().now())
    refused = pytest.raises(
        DatabaseError, match=r"permission denied|must be (the )?owner|not chained"
    )
    with refused, service.begin() as conn:
        conn.execute(text(statement))
    with sessions() as s:
        assert audit_log.pending_records(s).count == 1


@needs_postgres
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET payload = '{}'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "DROP TRIGGER audit_log_append_only ON audit_log",
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
        "ALTER TABLE audit_log DROP COLUMN payload",
        "DROP TABLE audit_log",
        "DELETE FROM audit_head",
        "INSERT INTO audit_head (id, seq, hash) VALUES (2, 0, 'x')",
    ],
)
def test_service_role_cannot_change_remove_or_unguard_records(
    service: Engine, statement: str
) -> None:
    """Each of these fails for lack of privilege, not only because of a trigger."""
    fill(make_session_factory(service, fake_vault()), FakeClock(), 1)
    refused = pytest.raises(DatabaseError, match=r"permission denied|must be (the )?owner")
    with refused, service.begin() as conn:
        conn.execute(text(statement))


@needs_postgres
def test_upgrading_again_changes_nothing(roles: Roles, service: Engine) -> None:
    """A second upgrade leaves the schema and the service role's privileges as they were."""

    def privileges() -> list[tuple[str, str]]:
        with service.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
                    "WHERE grantee = :g ORDER BY 1, 2"
                ),
                {"g": roles.service},
            )
            return [(str(t), str(p)) for t, p in rows]

    before = privileges()
    migrate_database(service, roles.owner_url)
    assert privileges() == before
    assert ("audit_log", "INSERT") in before and ("audit_log", "UPDATE") not in before
    assert current_revision(service) == head_revision()


def _build(database_url: str, tmp_path: Path, migration_url: str = "") -> Container:
    clock = FakeClock()
    settings = load_settings(
        {
            "DATABASE_URL": database_url,
            "GANGWAY_MIGRATION_DATABASE_URL": migration_url,
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": "test-auth-token-0123456789abcdef",
            "GANGWAY_STATE_DIR": str(tmp_path),
        }
    )
    return build(
        settings,
        clock=clock,
        dialogue=FakeDialogue(),
        understanding=FakeUnderstanding(),
        model=FakeModel(),
        sender=FakeSender(clock.now),
    )


@needs_postgres
def test_service_started_with_both_urls_does_its_work_unwarned(
    roles: Roles, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Started with a migration URL, the service migrates as the owner, then receives,
    screens and answers messages (consent, timers, outbox) as its own role, with no
    warning about the audit tables."""
    caplog.set_level(logging.WARNING)
    container = _build(roles.service_url, tmp_path, roles.owner_url)
    try:
        clock = FakeClock()
        for i, body in enumerate(["hello", "My passport number is C01X00T47"]):
            with container.sessions.begin() as s:
                params = {"MessageSid": f"SM{i:032d}", "From": PROSPECT, "Body": body}
                record_inbound(s, parse_inbound(params), clock.now())
            with container.sessions() as s:
                conv = s.execute(text("SELECT id FROM conversations")).scalar_one()
            container.processor.run(conv)
        with chained(container.sessions)() as s:
            assert s.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() >= 2
            count, broken = audit_log.verify(s)
        assert count >= 4 and broken is None
        assert _table_owner(container.engine, "audit_log") == roles.owner
    finally:
        container.close()
    assert "Database roles" not in caplog.text


@needs_postgres
def test_service_owning_the_tables_is_warned_once(
    roles: Roles, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Started as the tables' owner (no migration URL), the service logs one warning
    that the audit tables are guarded by triggers only, pointing to the README."""
    caplog.set_level(logging.WARNING)
    container = _build(roles.owner_url, tmp_path)
    container.close()
    warnings = [r.getMessage() for r in caplog.records if "Database roles" in r.getMessage()]
    assert len(warnings) == 1
    assert f"{roles.owner} owns the audit tables" in warnings[0]
    assert "triggers only" in warnings[0]


@needs_postgres
def test_service_without_the_owner_url_starts_on_a_migrated_schema(
    roles: Roles, service: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Once the owner migrated, the service starts with DATABASE_URL alone: nothing is
    left to migrate, and it is not warned about."""
    caplog.set_level(logging.WARNING)
    container = _build(roles.service_url, tmp_path)
    container.close()
    assert current_revision(service) == head_revision()
    assert "Database roles" not in caplog.text


def test_no_warning_on_sqlite(tmp_path: Path) -> None:
    """SQLite has no roles to keep anyone from the triggers: nothing to warn about."""
    engine = make_engine(f"sqlite:///{tmp_path / 'gangway.db'}")
    migrate_database(engine)
    assert triggers_only_warning(engine) is None
    engine.dispose()


@needs_postgres
def test_db_upgrade_runs_as_the_migration_role(roles: Roles) -> None:
    """`gangway db upgrade` with both URLs migrates as the owner; the service may then
    append but not delete."""
    env = {"DATABASE_URL": roles.service_url, "GANGWAY_MIGRATION_DATABASE_URL": roles.owner_url}
    result = CliRunner().invoke(app, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    assert f"revision {head_revision()}" in result.output
    engine = make_engine(roles.service_url)
    try:
        assert _table_owner(engine, "audit_log") == roles.owner
        assert triggers_only_warning(engine) is None
    finally:
        engine.dispose()


@needs_postgres
def test_migration_url_of_another_database_is_refused(roles: Roles) -> None:
    """A migration URL naming another database is refused before anything is migrated."""
    other = make_url(roles.owner_url).set(database="postgres").render_as_string(False)
    env = {"DATABASE_URL": roles.service_url, "GANGWAY_MIGRATION_DATABASE_URL": other}
    result = CliRunner().invoke(app, ["db", "upgrade"], env=env)
    assert result.exit_code == 1
    assert "names the database 'postgres', but DATABASE_URL names" in result.output
    engine = make_engine(roles.service_url)
    try:
        with pytest.raises(MigrationSetupError):
            migrate_database(engine, other)
        assert current_revision(engine) is None
    finally:
        engine.dispose()


def test_migration_url_is_ignored_on_sqlite(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """On SQLite the migration URL means nothing: the service's database is migrated,
    the other is left alone, and the log says so."""
    caplog.set_level(logging.WARNING)
    engine = make_engine(f"sqlite:///{tmp_path / 'gangway.db'}")
    try:
        migrate_database(engine, f"sqlite:///{tmp_path / 'other.db'}")
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
    assert not (tmp_path / "other.db").exists()
    assert "GANGWAY_MIGRATION_DATABASE_URL is ignored" in caplog.text
