"""`gangway audit verify` and the database's refusal to change audit records."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner

from bot.adapters.db import SessionFactory
from bot.domain.inbound import parse_inbound
from bot.entrypoints.cli import app
from bot.service_layer.receiving import record_inbound
from tests.fakes.clock import FakeClock


def fill(sessions: SessionFactory, clock: FakeClock, n: int) -> None:
    for i in range(n):
        with sessions.begin() as s:
            params = {"MessageSid": f"SM{i:032d}", "From": "whatsapp:+12025550101", "Body": f"m{i}"}
            record_inbound(s, parse_inbound(params), clock.now())
        clock.advance(1)


def verify(database_url: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["audit", "verify"], env={"DATABASE_URL": database_url})
    return result.exit_code, result.output


def test_intact_log_verifies(database_url: str, sessions: SessionFactory, clock: FakeClock) -> None:
    """An untouched log passes and says how many records it checked."""
    fill(sessions, clock, 3)
    code, out = verify(database_url)
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
    database_url: str, engine: Engine, sessions: SessionFactory, clock: FakeClock
) -> None:
    """Someone who disables the guard and edits record 2 is caught: exit 1 naming record 2."""
    fill(sessions, clock, 4)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.exec_driver_sql("UPDATE audit_log SET payload = 'edited' WHERE seq = 2")
    code, out = verify(database_url)
    assert code == 1
    assert "record 2" in out


def test_verify_on_unreachable_database_fails_plainly(tmp_path: object) -> None:
    """A database that cannot be read gives a non-zero exit and a plain message."""
    code, out = verify("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert code == 2 and "could not read the audit log" in out
