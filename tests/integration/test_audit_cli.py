"""`gangway audit verify` and the database's refusal to change audit records."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory
from bot.adapters.vault import Vault
from bot.domain.inbound import parse_inbound
from bot.entrypoints.cli import app
from bot.service_layer.receiving import record_inbound
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock
from tests.fakes.keys import fake_vault, keys_env


def fill(sessions: SessionFactory, clock: FakeClock, n: int) -> None:
    for i in range(n):
        with sessions.begin() as s:
            params = {"MessageSid": f"SM{i:032d}", "From": "whatsapp:+12025550101", "Body": f"m{i}"}
            record_inbound(s, parse_inbound(params), clock.now())
        clock.advance(1)
    chained(sessions)


def verify(database_url: str, vault: Vault | None = None) -> tuple[int, str]:
    keys = keys_env(vault.keyring) if vault else {}
    result = CliRunner().invoke(
        app, ["audit", "verify"], env={"DATABASE_URL": database_url, **keys}
    )
    return result.exit_code, result.output


def test_intact_log_verifies(
    database_url: str, sessions: SessionFactory, clock: FakeClock, vault: Vault
) -> None:
    """An untouched log passes and says how many records it checked."""
    fill(sessions, clock, 3)
    code, out = verify(database_url, vault)
    assert code == 0 and "3 records" in out


def test_database_refuses_to_update_or_delete_audit_records(
    engine: Engine, sessions: SessionFactory, clock: FakeClock
) -> None:
    """UPDATE and DELETE on the audit log fail in the database itself."""
    fill(sessions, clock, 1)
    for stmt in ("UPDATE audit_log SET payload = '{}'", "DELETE FROM audit_log"):
        with pytest.raises(DatabaseError), engine.begin() as conn:
            conn.execute(text(stmt))


def test_tampered_record_is_named(
    database_url: str, engine: Engine, sessions: SessionFactory, clock: FakeClock, vault: Vault
) -> None:
    """Someone who disables the guard and edits record 2 is caught: exit 1 naming record 2."""
    fill(sessions, clock, 4)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.exec_driver_sql("UPDATE audit_log SET payload = 'edited' WHERE seq = 2")
    code, out = verify(database_url, vault)
    assert code == 1
    assert "record 2" in out


def test_verify_on_unreachable_database_fails_plainly(tmp_path: object) -> None:
    """A database that cannot be read gives a non-zero exit and a plain message."""
    code, out = verify("postgresql+psycopg://nobody@127.0.0.1:1/none", fake_vault())
    assert code == 2 and "could not read the audit log" in out


def test_records_appended_while_verifying_are_no_break(
    engine: Engine, sessions: SessionFactory, clock: FakeClock
) -> None:
    """A live service appends between verify's last record and its look at the head:
    verify reads on to the new head instead of calling the chain broken."""
    if engine.dialect.name == "sqlite":
        pytest.skip("on SQLite verify's transaction holds the write lock: nobody appends")
    fill(sessions, clock, 3)
    appended: list[int] = []

    def append_first(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        # The first look at the head, from the verifying connection: another writer
        # commits one more record just before it.
        if not appended and "audit_head" in statement and "audit_log" not in statement:
            appended.append(1)
            fill_more(sessions, clock)

    event.listen(engine, "before_cursor_execute", append_first)
    try:
        with sessions() as s:
            count, broken = audit_log.verify(s)
    finally:
        event.remove(engine, "before_cursor_execute", append_first)
    assert appended and broken is None
    assert count == 4


def test_records_removed_from_the_end_are_still_a_break(
    engine: Engine, sessions: SessionFactory, clock: FakeClock
) -> None:
    """A head beyond the last record that no reading on can reach is reported."""
    fill(sessions, clock, 3)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_head SET seq = seq + 1"))
    with sessions() as s:
        count, broken = audit_log.verify(s)
    assert count == 3 and broken is not None
    assert "the chain ends at record 3 but its head says 4" in broken.reason


def fill_more(sessions: SessionFactory, clock: FakeClock) -> None:
    with sessions.begin() as s:
        params = {"MessageSid": "SM" + "9" * 32, "From": "whatsapp:+12025550102", "Body": "late"}
        record_inbound(s, parse_inbound(params), clock.now())
    chained(sessions)
