"""The webhook intake on a real database: group commits, and ingesting in order past
rows that cannot be ingested."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, func, select, update
from sqlalchemy.exc import OperationalError

from bot.adapters import intake
from bot.adapters.db import SessionFactory, make_engine
from bot.adapters.intake import Delivery, IntakeWriter
from bot.adapters.tables import AuditLog, InboxMessage, StatusEvent, WebhookIntake
from bot.adapters.vault import Vault
from bot.service_layer.ingest import IngestDrain, ingest_batch
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock

ANNA = "whatsapp:+15555550101"
BRUNO = "whatsapp:+15555550102"


def message(sid: str, sender: str = ANNA, body: str = "hi") -> Delivery:
    params = {"MessageSid": sid, "From": sender, "To": "whatsapp:+15555550100", "Body": body}
    return Delivery("inbound", params, dedup_key=sid, sender=sender)


def status(sid: str, value: str) -> Delivery:
    return Delivery("status", {"MessageSid": sid, "MessageStatus": value})


@pytest.fixture
def writer(engine: Engine, vault: Vault, clock: FakeClock) -> Iterator[IntakeWriter]:
    w = IntakeWriter(engine, vault, clock.now)
    w.start()
    yield w
    w.stop()


def store(writer: IntakeWriter, *deliveries: Delivery) -> None:
    for done in [writer.submit(d) for d in deliveries]:
        done.result(timeout=30)


def drain(sessions: SessionFactory, clock: FakeClock) -> int:
    return IngestDrain(sessions, clock, rate=None, messages_arrived=lambda: None).drain()


def bodies_in_order(sessions: SessionFactory) -> list[str]:
    with sessions() as s:
        return list(s.execute(select(InboxMessage.message_sid).order_by(InboxMessage.id)).scalars())


def test_concurrent_webhooks_share_a_commit(
    engine: Engine, vault: Vault, clock: FakeClock, sessions: SessionFactory
) -> None:
    """Deliveries that arrive while a commit is under way are stored together in the next."""
    commits = []
    event.listen(engine, "commit", lambda conn: commits.append(1))
    first_committed, go_on = threading.Event(), threading.Event()

    def committed() -> None:
        first_committed.set()
        go_on.wait(30)

    w = IntakeWriter(engine, vault, clock.now, committed=committed)
    w.start()
    try:
        first = w.submit(message("SM-first"))
        assert first_committed.wait(30)
        rest = [w.submit(message(f"SM-{i:02d}", sender=BRUNO)) for i in range(20)]
        go_on.set()
        for done in [first, *rest]:
            done.result(timeout=30)
    finally:
        go_on.set()
        w.stop()
    assert len(commits) == 2
    assert drain(sessions, clock) == 21
    assert len(bodies_in_order(sessions)) == 21


def test_a_batch_that_cannot_be_stored_fails_every_webhook_in_it(
    tmp_path: Path, vault: Vault, clock: FakeClock
) -> None:
    """When the insert fails, no delivery of its batch is acknowledged."""
    unmigrated = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    w = IntakeWriter(unmigrated, vault, clock.now)
    w.start()
    try:
        futures = [w.submit(message(f"SM-{i}")) for i in range(3)]
        for done in futures:
            with pytest.raises(Exception, match="webhook_intake"):
                done.result(timeout=30)
    finally:
        w.stop()
        unmigrated.dispose()


def test_ingest_keeps_arrival_order_and_records_as_before(
    writer: IntakeWriter, sessions: SessionFactory, clock: FakeClock
) -> None:
    """Messages become inbox rows in the order they arrived, each with its audit record;
    status callbacks become status events; the intake is then empty."""
    store(writer, message("SM-1"), message("SM-2", sender=BRUNO), message("SM-3"))
    store(writer, status("SM-out", "sent"), status("SM-out", "delivered"))
    assert drain(sessions, clock) == 5
    assert bodies_in_order(sessions) == ["SM-1", "SM-2", "SM-3"]
    with chained(sessions)() as s:
        kinds = list(s.execute(select(AuditLog.kind)).scalars())
        assert kinds.count("inbound_message") == 3 and kinds.count("delivery_status") == 2
        assert s.execute(select(func.count()).select_from(StatusEvent)).scalar_one() == 2
        assert s.execute(select(func.count()).select_from(WebhookIntake)).scalar_one() == 0


def test_a_row_that_cannot_be_ingested_is_set_aside_and_the_rest_go_on(
    writer: IntakeWriter, sessions: SessionFactory, clock: FakeClock
) -> None:
    """A corrupt row and a form that is no message are kept aside; the others are ingested."""
    no_sender = Delivery("inbound", {"MessageSid": "SM-2", "Body": "hi"}, dedup_key="SM-2")
    store(writer, message("SM-1"), no_sender, message("SM-3"), message("SM-4"))
    with sessions.begin() as s:
        s.execute(
            update(WebhookIntake)
            .where(WebhookIntake.dedup_key == "SM-3")
            .values(sealed="gi1:k:bm90IHNlYWxlZA==")
        )
    assert drain(sessions, clock) == 4
    assert bodies_in_order(sessions) == ["SM-1", "SM-4"]
    with sessions() as s:
        aside = s.execute(select(WebhookIntake).order_by(WebhookIntake.id)).scalars().all()
    assert [(r.dedup_key, r.failure) for r in aside] == [
        ("SM-2", "InvalidInbound"),
        ("SM-3", "SealError"),
    ]
    assert all(r.failed_at is not None for r in aside)
    assert drain(sessions, clock) == 0


def test_a_sender_held_by_another_process_is_passed_over_whole(
    database_url: str, writer: IntakeWriter, sessions: SessionFactory, clock: FakeClock
) -> None:
    """While another process ingests one sender's message, this one takes other
    senders' messages but none of that sender's later ones."""
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks that other processes pass over are PostgreSQL's")
    store(writer, message("SM-a1"), message("SM-a2"), message("SM-b1", sender=BRUNO))
    with sessions.begin() as other:
        held = intake.claim(other, limit=1)
        assert [r.dedup_key for r in held] == ["SM-a1"]
        with sessions.begin() as s:
            taken = ingest_batch(s, clock, rate=None)
        assert taken.done == 1
    assert bodies_in_order(sessions) == ["SM-b1"]
    assert drain(sessions, clock) == 2
    assert bodies_in_order(sessions) == ["SM-b1", "SM-a1", "SM-a2"]


class Deadlocks:
    """Fails the next ``times`` reads of the intake as a deadlock victim would."""

    def __init__(self, engine: Engine, times: int) -> None:
        self.engine, self.times = engine, times

    def __enter__(self) -> Deadlocks:
        event.listen(self.engine, "before_cursor_execute", self._maybe_fail)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._maybe_fail)

    def _maybe_fail(self, conn: object, cursor: object, statement: str, *rest: object) -> None:
        if (
            self.times
            and statement.lstrip().upper().startswith("SELECT")
            and ("webhook_intake" in statement)
        ):
            self.times -= 1
            raise OperationalError(statement, {}, Exception("deadlock detected"))


def test_a_batch_rolled_back_by_a_deadlock_is_taken_again_at_once(
    engine: Engine, writer: IntakeWriter, sessions: SessionFactory, clock: FakeClock
) -> None:
    """Two deadlocks in a row: the drain waits a moment, longer the second time, and
    the third attempt ingests every message, in order."""
    store(writer, message("SM-1"), message("SM-2"))
    waits: list[float] = []
    ingest = IngestDrain(
        sessions, clock, rate=None, messages_arrived=lambda: None, sleep=waits.append
    )
    with Deadlocks(engine, times=2):
        assert ingest.drain() == 2
    assert waits == [0.05, 0.1]
    assert bodies_in_order(sessions) == ["SM-1", "SM-2"]


def test_a_database_that_keeps_failing_loses_nothing(
    engine: Engine, writer: IntakeWriter, sessions: SessionFactory, clock: FakeClock
) -> None:
    """After its attempts the drain gives up for this round; every delivery is still in
    the intake and goes in at the next."""
    store(writer, message("SM-1"), message("SM-2"))
    waits: list[float] = []
    ingest = IngestDrain(
        sessions, clock, rate=None, messages_arrived=lambda: None, sleep=waits.append
    )
    with Deadlocks(engine, times=100), pytest.raises(OperationalError):
        ingest.drain()
    assert len(waits) == 2
    assert bodies_in_order(sessions) == []
    assert ingest.drain() == 2
    assert bodies_in_order(sessions) == ["SM-1", "SM-2"]
