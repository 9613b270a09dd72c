"""`gangway outbox|crm|inbox|intake list|retry` against a real database."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.adapters.db import SessionFactory
from bot.adapters.tables import AuditLog, OutboxMessage
from bot.adapters.vault import Vault
from bot.entrypoints.cli import app
from tests.fakes.clock import FakeClock
from tests.fakes.keys import keys_env
from tests.integration.test_failed_work import failed_reply, make
from tests.integration.test_processing import receive


@pytest.fixture
def clock() -> FakeClock:
    """Today: the command's clock is the system's, and WhatsApp's window counts."""
    return FakeClock(datetime.now(UTC))


def gangway(database_url: str, vault: Vault, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, list(args), env={"DATABASE_URL": database_url, **keys_env(vault.keyring)}
    )
    return result.exit_code, result.stdout, result.stderr


def outbox_status(sessions: SessionFactory, out_id: int) -> str:
    with sessions.begin() as s:
        return s.get_one(OutboxMessage, out_id).status


def test_list_failed_shows_a_table_without_text_or_number(
    database_url: str, sessions: SessionFactory, clock: FakeClock, vault: Vault
) -> None:
    conv, out_id, _proc, _sender = failed_reply(sessions, clock)
    code, out, _err = gangway(database_url, vault, "outbox", "list", "--failed")
    assert code == 0
    header, row = out.splitlines()
    assert header.split()[:3] == ["ID", "STATUS", "WHAT"]
    assert row.split()[:4] == [str(out_id), "failed", "reply", conv]
    assert "21211" in row
    assert "opening hours" not in out and "7700900123" not in out


def test_list_as_json(
    database_url: str, sessions: SessionFactory, clock: FakeClock, vault: Vault
) -> None:
    _conv, out_id, _proc, _sender = failed_reply(sessions, clock)
    code, out, _err = gangway(database_url, vault, "outbox", "list", "--format", "json")
    assert code == 0
    [item] = json.loads(out)
    assert (item["id"], item["status"], item["error_code"]) == (out_id, "failed", "21211")
    assert item["retryable"] is True


def test_nothing_failed_says_so(database_url: str, vault: Vault) -> None:
    code, out, _err = gangway(database_url, vault, "crm", "list", "--failed")
    assert (code, out.strip()) == (0, "no failed CRM events")


def test_retry_makes_the_reply_pending_and_records_who(
    database_url: str, sessions: SessionFactory, clock: FakeClock, vault: Vault
) -> None:
    _conv, out_id, _proc, sender = failed_reply(sessions, clock)
    code, out, _err = gangway(database_url, vault, "outbox", "retry", str(out_id), "--by", "bob")
    assert code == 0 and f"outbox message {out_id} is pending again" in out
    assert outbox_status(sessions, out_id) == "pending"
    assert sender.sent == []  # the command sends nothing: the service does
    with sessions.begin() as s:
        payload = s.scalars(
            select(AuditLog.payload).where(AuditLog.kind == "failed_work_retried")
        ).one()
    assert json.loads(payload)["operator"] == "bob"


def test_unknown_id_exits_1_plainly(database_url: str, vault: Vault) -> None:
    code, _out, err = gangway(database_url, vault, "inbox", "retry", "404")
    assert code == 1
    assert err.strip() == "error: there is no inbox message 404"


def test_retrying_a_sent_reply_exits_1_and_changes_nothing(
    database_url: str, sessions: SessionFactory, clock: FakeClock, vault: Vault
) -> None:
    proc, _dialogue, _sender = make(sessions, clock)
    proc.run(receive(sessions, clock, "SM1", "hello", "whatsapp:+447700900124"))
    with sessions.begin() as s:
        out_id = s.execute(select(OutboxMessage.id)).scalar_one()
    code, _out, err = gangway(database_url, vault, "outbox", "retry", str(out_id))
    assert code == 1
    assert "is queued, not failed: only a failed one can be retried" in err
    assert outbox_status(sessions, out_id) == "queued"


def test_unreadable_database_exits_2(vault: Vault) -> None:
    code, _out, err = gangway(
        "postgresql+psycopg://nobody@127.0.0.1:1/none", vault, "outbox", "list"
    )
    assert code == 2 and "error:" in err
