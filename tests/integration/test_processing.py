"""The worker's processing of one conversation, on a real database, with fake
Rasa and Twilio passed through the ports."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH, FlowStore
from bot.adapters.tables import InboxMessage, OutboxMessage
from bot.domain.inbound import parse_inbound
from bot.service_layer.errors import PermanentError, TransientError
from bot.service_layer.processing import ConversationProcessor, ProcessingPolicy
from bot.service_layer.receiving import record_inbound, record_status
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock
from tests.fakes.ports import FakeDialogue, FakeSender
from tests.fakes.screening import fake_screening

PROSPECT = "whatsapp:+12025550101"
HOLDING = FlowStore(DEFAULT_FLOW_PATH, DEFAULT_DOMAIN_PATH).current().text("holding", "en")


def receive(
    sessions: SessionFactory, clock: FakeClock, sid: str, body: str, sender: str = PROSPECT
) -> str:
    with sessions.begin() as s:
        record_inbound(
            s, parse_inbound({"MessageSid": sid, "From": sender, "Body": body}), clock.now()
        )
        return s.execute(
            select(InboxMessage.conversation_id).where(InboxMessage.message_sid == sid)
        ).scalar_one()


def make(sessions: SessionFactory, clock: FakeClock, **policy: object):
    dialogue, sender = FakeDialogue(), FakeSender(clock.now)
    proc = ConversationProcessor(
        sessions,
        dialogue,
        sender,
        clock,
        fake_screening(),
        ProcessingPolicy(**policy),  # type: ignore[arg-type]
        owner="test",
    )
    return proc, dialogue, sender


def test_messages_are_answered_in_arrival_order(sessions: SessionFactory, clock: FakeClock) -> None:
    """Three messages get their three answers in the order they arrived."""
    proc, _d, sender = make(sessions, clock)
    conv = receive(sessions, clock, "SM1", "one")
    receive(sessions, clock, "SM2", "two")
    receive(sessions, clock, "SM3", "three")
    proc.run(conv)
    assert sender.bodies_to(PROSPECT) == ["you said: one", "you said: two", "you said: three"]


def test_redelivered_message_sid_changes_nothing(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A second webhook with the same MessageSid is not stored and not answered again."""
    proc, dialogue, sender = make(sessions, clock)
    conv = receive(sessions, clock, "SM1", "hi")
    with sessions.begin() as s:
        again = record_inbound(
            s, parse_inbound({"MessageSid": "SM1", "From": PROSPECT, "Body": "hi"}), clock.now()
        )
    proc.run(conv)
    assert again is False
    assert len(dialogue.calls) == 1 and len(sender.sent) == 1


def test_rasa_down_waits_and_retries_then_answers(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """While Rasa is unreachable the message waits; once it is back the answer goes out."""
    proc, dialogue, sender = make(sessions, clock, retry_base_seconds=2.0)
    dialogue.errors = [TransientError("rasa", "connection refused")] * 2
    conv = receive(sessions, clock, "SM1", "hi")
    proc.run(conv)
    assert sender.sent == []
    proc.run(conv)  # not due yet: Rasa is not asked again before the backoff ends
    assert len(dialogue.calls) == 1
    clock.advance(2)
    proc.run(conv)
    clock.advance(4)
    proc.run(conv)
    assert sender.bodies_to(PROSPECT) == ["you said: hi"]


def test_rasa_answering_with_retry_after_is_not_asked_again_before_it(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Busy with Retry-After: 10, Rasa is asked again after 10 s, not our own 1 s."""
    proc, dialogue, sender = make(sessions, clock)
    dialogue.errors = [TransientError("rasa", "busy", status=503, retry_after=10)]
    conv = receive(sessions, clock, "SM1", "hi")
    proc.run(conv)
    clock.advance(9)
    proc.run(conv)
    assert len(dialogue.calls) == 1 and sender.sent == []
    clock.advance(1)
    proc.run(conv)
    assert sender.bodies_to(PROSPECT) == ["you said: hi"]


def test_long_wait_sends_one_holding_message(sessions: SessionFactory, clock: FakeClock) -> None:
    """A prospect left waiting past the limit gets "one moment" once, not once per retry."""
    proc, dialogue, sender = make(sessions, clock, holding_after=timedelta(seconds=10))
    dialogue.errors = [TransientError("rasa", "down")] * 6
    conv = receive(sessions, clock, "SM1", "hi")
    for _ in range(6):
        proc.run(conv)
        clock.advance(8)
    receive(sessions, clock, "SM2", "hello?")
    for _ in range(4):
        clock.advance(30)
        proc.run(conv)
    bodies = sender.bodies_to(PROSPECT)
    assert bodies.count(HOLDING) == 1
    assert bodies[-2:] == ["you said: hi", "you said: hello?"]


def test_twilio_429_is_retried_with_backoff(sessions: SessionFactory, clock: FakeClock) -> None:
    """A rate-limited send goes out on a later attempt, once."""
    proc, _d, sender = make(sessions, clock)
    sender.errors = [TransientError("twilio", "Too Many Requests", status=429, code=20429)]
    conv = receive(sessions, clock, "SM1", "hi")
    proc.run(conv)
    assert sender.sent == []
    clock.advance(1)
    proc.run(conv)
    assert sender.bodies_to(PROSPECT) == ["you said: hi"]


def test_twilio_4xx_marks_failed_with_its_code(sessions: SessionFactory, clock: FakeClock) -> None:
    """A refused send is marked failed with Twilio's error code and not retried."""
    proc, _d, sender = make(sessions, clock)
    sender.errors = [PermanentError("twilio", "outside the 24h window", status=400, code=63016)]
    conv = receive(sessions, clock, "SM1", "hi")
    proc.run(conv)
    clock.advance(3600)
    proc.run(conv)
    with sessions() as s:
        row = s.execute(select(OutboxMessage)).scalar_one()
    assert (row.status, row.error_code) == ("failed", "63016")
    assert sender.sent == []


def test_send_whose_answer_was_lost_is_not_sent_twice(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """If Twilio took a message but its answer was lost, the retry adopts it, not resends."""
    proc, _d, sender = make(sessions, clock)
    sender.lose_response_once = True
    conv = receive(sessions, clock, "SM1", "hi")
    proc.run(conv)
    clock.advance(5)
    proc.run(conv)
    assert sender.bodies_to(PROSPECT) == ["you said: hi"]
    with sessions() as s:
        row = s.execute(select(OutboxMessage)).scalar_one()
    assert row.provider_sid == sender.sent[0].sid and row.status == "queued"


def test_same_text_twice_is_sent_twice(sessions: SessionFactory, clock: FakeClock) -> None:
    """Reconciliation does not mistake an earlier identical reply for the unconfirmed one."""
    proc, _d, sender = make(sessions, clock)
    conv = receive(sessions, clock, "SM1", "hi")
    proc.run(conv)
    receive(sessions, clock, "SM2", "hi")
    sender.errors = [TransientError("twilio", "read timed out")]
    sender.errors[0].ambiguous = True
    proc.run(conv)
    clock.advance(5)
    proc.run(conv)
    assert sender.bodies_to(PROSPECT) == ["you said: hi", "you said: hi"]


def test_status_callback_before_send_is_recorded_then_applied(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A "delivered" callback that beats gangway's own bookkeeping is not lost."""
    proc, _d, _sender = make(sessions, clock)
    conv = receive(sessions, clock, "SM1", "hi")
    with sessions.begin() as s:
        record_status(s, sid=f"SM{1:032x}", status="delivered", error_code=None, now=clock.now())
    proc.run(conv)
    with sessions() as s:
        row = s.execute(select(OutboxMessage)).scalar_one()
    assert row.status == "delivered"


def test_out_of_order_callbacks_keep_the_furthest_status(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """ "read", then a late "sent": the message stays read."""
    proc, _d, sender = make(sessions, clock)
    conv = receive(sessions, clock, "SM1", "hi")
    proc.run(conv)
    sid = sender.sent[0].sid
    for status in ("read", "sent", "delivered"):
        with sessions.begin() as s:
            record_status(s, sid=sid, status=status, error_code=None, now=clock.now())
    with sessions() as s:
        assert s.execute(select(OutboxMessage.status)).scalar_one() == "read"


def test_every_step_is_in_an_intact_audit_chain(sessions: SessionFactory, clock: FakeClock) -> None:
    """Inbound, classified, answered, outbound and status records chain and verify."""
    proc, _d, sender = make(sessions, clock)
    conv = receive(sessions, clock, "SM1", "hi")
    proc.run(conv)
    with sessions.begin() as s:
        record_status(
            s, sid=sender.sent[0].sid, status="delivered", error_code=None, now=clock.now()
        )
    with chained(sessions)() as s:
        count, broken = audit_log.verify(s)
        kinds = [r.kind for r in audit_log.iter_records(s)]
    assert broken is None and count == 5
    assert kinds == [
        "inbound_message",
        "inbound_classified",
        "inbound_answered",
        "outbound_message",
        "delivery_status",
    ]


def test_rasa_retry_after_crash_does_not_double_replies(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Each inbound message has at most one set of replies in the outbox."""
    proc, _d, _sender = make(sessions, clock)
    conv = receive(sessions, clock, "SM1", "hi")
    proc.run(conv)
    proc.run(conv)
    with sessions() as s:
        assert s.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 1


def test_one_answer_per_turn_leaves_the_rest_waiting(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """With max_answers=1 a turn answers one message and sends its reply; the next waits."""
    proc, _d, sender = make(sessions, clock)
    conv = receive(sessions, clock, "SM1", "one")
    receive(sessions, clock, "SM2", "two")
    proc.run(conv, max_answers=1)
    assert sender.bodies_to(PROSPECT) == ["you said: one"]
    proc.run(conv, max_answers=1)
    assert sender.bodies_to(PROSPECT) == ["you said: one", "you said: two"]
