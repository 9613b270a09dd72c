"""Per-sender rate limiting on a real database: a burst from one number is recorded
at once, answered at the configured pace, in order and in full, while other
prospects are answered as usual."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from bot.adapters import leases
from bot.adapters.db import SessionFactory
from bot.adapters.tables import InboxMessage
from bot.bootstrap import INBOUND_PATH, build
from bot.config import load_settings
from bot.domain.inbound import parse_inbound
from bot.domain.sender_rate import SenderRate
from bot.entrypoints.app import create_app
from bot.service_layer.processing import ConversationProcessor, ProcessingPolicy
from bot.service_layer.receiving import record_inbound
from tests.fakes.clock import FakeClock
from tests.fakes.ports import FakeDialogue, FakeModel, FakeSender, FakeUnderstanding
from tests.fakes.screening import fake_screening
from tests.integration.test_webhooks import PUBLIC, TOKEN, signed

BUSY = "whatsapp:+12025550111"
OTHER = "whatsapp:+12025550112"
RATE = SenderRate(10, timedelta(seconds=60))
# Long enough that no "one moment" message joins the answers counted here.
POLICY = ProcessingPolicy(holding_after=timedelta(hours=1))


def receive(sessions: SessionFactory, clock: FakeClock, sid: str, body: str, sender: str) -> str:
    with sessions.begin() as s:
        assert record_inbound(
            s,
            parse_inbound({"MessageSid": sid, "From": sender, "Body": body}),
            clock.now(),
            rate=RATE,
        )
        return s.execute(
            select(InboxMessage.conversation_id).where(InboxMessage.message_sid == sid)
        ).scalar_one()


def stored(sessions: SessionFactory, conversation_id: str) -> int:
    with sessions.begin() as s:
        return s.execute(
            select(func.count())
            .select_from(InboxMessage)
            .where(InboxMessage.conversation_id == conversation_id)
        ).scalar_one()


def test_a_burst_is_recorded_at_once_and_answered_later_in_order_none_lost(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """30 messages at once at 10 per minute: all 30 stored now, 10 answered in the first
    minute, the rest as the minutes pass, in the order they were sent."""
    dialogue, sender = FakeDialogue(), FakeSender(clock.now)
    proc = ConversationProcessor(
        sessions, dialogue, sender, clock, fake_screening(), POLICY, owner="test"
    )
    conv = ""
    for i in range(30):
        conv = receive(sessions, clock, f"SMburst{i:02d}", f"m{i:02d}", BUSY)
    assert stored(sessions, conv) == 30

    proc.run(conv)
    assert [text for _c, text in dialogue.calls] == [f"m{i:02d}" for i in range(10)]
    clock.advance(59)
    proc.run(conv)
    assert len(dialogue.calls) == 10, "nothing more within the first window"

    clock.advance(1)
    proc.run(conv)
    assert len(dialogue.calls) == 20
    clock.advance(60)
    proc.run(conv)
    assert [text for _c, text in dialogue.calls] == [f"m{i:02d}" for i in range(30)]
    assert sender.bodies_to(BUSY) == [f"you said: m{i:02d}" for i in range(30)]


def test_another_sender_is_not_slowed_by_a_busy_one(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """While one number's burst waits for its slots, another prospect's message is due
    at once and answered."""
    dialogue, sender = FakeDialogue(), FakeSender(clock.now)
    proc = ConversationProcessor(
        sessions, dialogue, sender, clock, fake_screening(), POLICY, owner="test"
    )
    busy = ""
    for i in range(30):
        busy = receive(sessions, clock, f"SMbusy{i:02d}", f"b{i:02d}", BUSY)
    proc.run(busy)
    other = receive(sessions, clock, "SMother", "hello", OTHER)

    with sessions.begin() as s:
        due = leases.due_conversations(s, clock.now(), POLICY.holding_after)
    assert due == [other], "the busy sender has nothing due until the next window"
    proc.run(other)
    assert sender.bodies_to(OTHER) == ["you said: hello"]


def test_the_worker_finds_deferred_messages_when_their_window_comes(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A deferred message makes its conversation due again once its slot arrives."""
    dialogue, sender = FakeDialogue(), FakeSender(clock.now)
    proc = ConversationProcessor(
        sessions, dialogue, sender, clock, fake_screening(), POLICY, owner="test"
    )
    conv = ""
    for i in range(11):
        conv = receive(sessions, clock, f"SMw{i:02d}", f"w{i:02d}", BUSY)
    proc.run(conv)
    with sessions.begin() as s:
        assert leases.due_conversations(s, clock.now(), POLICY.holding_after) == []
    clock.advance(60)
    with sessions.begin() as s:
        assert leases.due_conversations(s, clock.now(), POLICY.holding_after) == [conv]


def test_over_the_webhook_a_burst_is_all_acknowledged_and_stored_at_once(
    database_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    """30 signed webhooks at once from one number at GANGWAY_SENDER_RATE=10/60s: every
    one gets 200 and is stored now; 10 are due now, 10 a minute later, 10 after two."""
    settings = load_settings(
        {
            "DATABASE_URL": database_url,
            "GANGWAY_PUBLIC_URL": PUBLIC,
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "GANGWAY_SERVICE_TOKEN": "service-token-for-tests",
            "GANGWAY_STATE_DIR": str(tmp_path),
            "GANGWAY_SENDER_RATE": "10/60s",
        }
    )
    container = build(
        settings,
        clock=clock,
        dialogue=FakeDialogue(),
        understanding=FakeUnderstanding(),
        model=FakeModel(),
        sender=FakeSender(clock.now),
    )
    app = create_app(lambda: container)
    app.state.container = container  # served without its lifespan: no worker runs
    container.intake.start()  # but webhooks are acknowledged only through the intake
    http = TestClient(app)
    try:
        for i in range(30):
            form = {"MessageSid": f"SM{i:032x}", "From": BUSY, "Body": f"m{i:02d}"}
            response = http.post(INBOUND_PATH, data=form, headers=signed(INBOUND_PATH, form))
            assert response.status_code == 200
        container.ingest.drain()
        with container.sessions.begin() as s:
            due = s.execute(
                select(InboxMessage.next_attempt_at).order_by(InboxMessage.id)
            ).scalars()
            waits = [int((at - clock.now()).total_seconds()) for at in due]
    finally:
        container.close()
    assert waits == [0] * 10 + [60] * 10 + [120] * 10
