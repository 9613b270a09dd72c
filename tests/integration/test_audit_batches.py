"""Audit records are appended unchained, with their caller's transaction, and chained
later in batches: each exactly once, in a chain that verifies, whoever appends and
however many chainers run; a waiting record cannot be changed, copied or dropped
unnoticed."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory, make_session_factory
from bot.adapters.tables import AuditLog, AuditPending
from bot.adapters.vault import Vault
from bot.domain.inbound import parse_inbound
from bot.entrypoints.cli import app
from bot.service_layer.audit_chainer import AuditChainer
from bot.service_layer.erasure import erase_conversation
from bot.service_layer.evidence import gather_evidence
from bot.service_layer.receiving import record_inbound
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock
from tests.fakes.keys import fake_vault, keys_env
from tests.integration.test_audit_guards import _alembic, empty_engine

__all__ = ["empty_engine"]  # a fixture, used by name

PROSPECT = "whatsapp:+447700900123"


def note(sessions: SessionFactory, clock: FakeClock, n: int) -> None:
    with sessions.begin() as s:
        audit_log.append(s, kind="note", conversation_id=None, payload={"n": n}, now=clock.now())


def kinds(sessions: SessionFactory) -> list[str]:
    with sessions() as s:
        return list(s.scalars(select(AuditLog.kind).order_by(AuditLog.seq)))


def waiting(sessions: SessionFactory) -> int:
    with sessions() as s:
        return audit_log.pending_records(s).count


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.01)


def unguard_pending(engine: Engine) -> None:
    """What an owner of the database can do: take the waiting records' guards away."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_pending DISABLE TRIGGER ALL"))
        else:
            for name in ("refuse_update", "delete_chained", "no_overwrite"):
                conn.execute(text(f"DROP TRIGGER audit_pending_{name}"))


def test_records_from_concurrent_transactions_are_each_chained_once(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Two threads append 200 records while two chainers run: every record ends in the
    chain exactly once, none waits, and the chain verifies."""
    chainers = [AuditChainer(sessions, clock, interval_seconds=0.01) for _ in range(2)]
    for chainer in chainers:
        chainer.start()
    try:

        def append_hundred(first: int) -> None:
            for n in range(first, first + 100):
                note(sessions, clock, n)

        threads = [threading.Thread(target=append_hundred, args=(t * 100,)) for t in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for chainer in chainers:
            chainer.stop()
    with sessions() as s:
        payloads = [json.loads(p)["n"] for p in s.scalars(select(AuditLog.payload))]
        assert sorted(payloads) == list(range(200))
        assert audit_log.verify(s) == (200, None)
        assert audit_log.pending_records(s).count == 0


def test_a_rolled_back_transaction_leaves_no_record(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A record exists only if its transaction commits: rolled back, nothing waits and
    nothing is chained."""
    with pytest.raises(RuntimeError), sessions.begin() as s:
        audit_log.append(s, kind="note", conversation_id=None, payload={}, now=clock.now())
        raise RuntimeError("the caller fails after recording")
    assert waiting(sessions) == 0
    assert kinds(chained(sessions)) == []


def test_verify_reports_what_waits_and_chains_none_of_it(
    database_url: str, sessions: SessionFactory, clock: FakeClock, vault: Vault
) -> None:
    """`gangway audit verify` checks the chain and says how many records wait to be
    chained; it leaves them waiting."""
    note(sessions, clock, 1)
    chained(sessions)
    note(sessions, clock, 2)
    note(sessions, clock, 3)
    result = CliRunner().invoke(
        app, ["audit", "verify"], env={"DATABASE_URL": database_url, **keys_env(vault.keyring)}
    )
    assert result.exit_code == 0, result.output
    assert "audit chain intact: 1 records" in result.output
    assert "2 records waiting to be chained" in result.output
    assert waiting(sessions) == 2


def test_a_record_changed_while_waiting_is_chained_as_tampering(
    database_url: str, engine: Engine, sessions: SessionFactory, clock: FakeClock, vault: Vault
) -> None:
    """A waiting record edited in the database (guards dropped) fails its MAC: verify
    says so, and the chainer records the tampering in its place, not the edit."""
    note(sessions, clock, 1)
    unguard_pending(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_pending SET payload = :p"), {"p": '{"n":666}'})
    result = CliRunner().invoke(
        app, ["audit", "verify"], env={"DATABASE_URL": database_url, **keys_env(vault.keyring)}
    )
    assert result.exit_code == 1 and "1 of the 1 records waiting" in result.output
    with chained(sessions)() as s:
        (record,) = s.scalars(select(AuditLog)).all()
        assert audit_log.verify(s) == (1, None)
    assert record.kind == audit_log.TAMPER_KIND
    assert json.loads(record.payload)["reason"] == "changed while waiting"
    assert "666" not in record.payload
    assert waiting(sessions) == 0


def test_a_record_copied_back_after_chaining_is_not_chained_twice(
    engine: Engine, sessions: SessionFactory, clock: FakeClock
) -> None:
    """A waiting record copied, and inserted again once chained, carries a valid MAC;
    the chain knows that MAC already and records the replay instead."""
    note(sessions, clock, 1)
    with engine.connect() as conn:
        copy = dict(conn.execute(text("SELECT * FROM audit_pending")).mappings().one())
    chained(sessions)
    with engine.begin() as conn:
        conn.execute(insert(AuditPending).values(**copy))
    assert kinds(chained(sessions)) == ["note", audit_log.TAMPER_KIND]
    with sessions() as s:
        assert audit_log.verify(s) == (2, None)


def test_a_waiting_record_cannot_be_deleted_unchained(
    engine: Engine, sessions: SessionFactory, clock: FakeClock
) -> None:
    """Deleting a record before it is chained is refused by the database; the chainer's
    own delete, after chaining, is not."""
    note(sessions, clock, 1)
    with pytest.raises(DatabaseError, match="not chained"), engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_pending"))
    assert kinds(chained(sessions)) == ["note"]
    assert waiting(sessions) == 0


def test_the_chainer_chains_soon_after_a_commit_and_on_stop(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A running chainer chains a committed record without being asked; a record
    appended as it stops is chained before it ends."""
    chainer = AuditChainer(sessions, clock, interval_seconds=30)
    chainer.start()
    try:
        note(sessions, clock, 1)
        eventually(lambda: kinds(sessions) == ["note"])
    finally:
        note(sessions, clock, 2)
        chainer.stop()
    assert kinds(sessions) == ["note", "note"]
    assert waiting(sessions) == 0


def test_evidence_shows_waiting_records_as_not_chained(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """The evidence bundle lists a conversation's records that wait to be chained,
    marked so and with their content checked, after the chained ones."""
    params = {"MessageSid": "SM" + "1" * 32, "From": PROSPECT, "Body": "hello"}
    with sessions.begin() as s:
        record_inbound(s, parse_inbound(params), clock.now())
    chained(sessions)
    with sessions.begin() as s:
        record_inbound(s, parse_inbound({**params, "MessageSid": "SM" + "2" * 32}), clock.now())
    with sessions() as s:
        conv_id = s.scalars(select(AuditPending.conversation_id)).one()
        evidence = gather_evidence(s, str(conv_id), clock.now())
    assert [e["chained"] for e in evidence.events] == [True, False]
    last = evidence.events[-1]
    assert last["seq"] is None and last["intact"] and last["content_matches_digest"]
    assert evidence.chain["records_waiting"] == 1


def test_an_erased_conversations_waiting_records_keep_no_content(
    engine: Engine, sessions: SessionFactory, clock: FakeClock
) -> None:
    """A record waiting when its conversation is erased holds only the content's digest,
    and the content itself can no longer be opened."""
    params = {"MessageSid": "SM" + "3" * 32, "From": PROSPECT, "Body": "passport C01X00T47"}
    with sessions.begin() as s:
        record_inbound(s, parse_inbound(params), clock.now())
    with sessions.begin() as s:
        conv_id = str(s.scalars(select(AuditPending.conversation_id)).first())
        erase_conversation(s, conv_id, reason="request 1", cause="request", now=clock.now())
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT payload FROM audit_pending")).scalars().all()
    assert rows and not any("C01X00T47" in row for row in rows)
    with chained(sessions)() as s:
        evidence = gather_evidence(s, conv_id, clock.now())
    assert all(e.get("content") is None for e in evidence.events)


def test_downgrading_is_refused_while_records_wait_and_upgrading_again_works(
    empty_engine: Engine, clock: FakeClock
) -> None:
    """Going back a revision would lose waiting records: it is refused until they are
    chained; after it, the chained records are all there and upgrading again works."""
    _alembic(empty_engine, "upgrade", "head")
    sessions = make_session_factory(empty_engine, fake_vault())
    note(sessions, clock, 1)
    with pytest.raises(RuntimeError, match="not chained yet"):
        _alembic(empty_engine, "downgrade", "0011")
    chained(sessions)
    _alembic(empty_engine, "downgrade", "0011")
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT kind FROM audit_log")).scalars().all() == ["note"]
    _alembic(empty_engine, "upgrade", "head")
    note(sessions, clock, 2)
    with chained(sessions)() as s:
        assert audit_log.verify(s) == (2, None)
