"""A turn of one conversation on a real database: how few transactions it takes, and
the lease that keeps each conversation to one process at a time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from bot.adapters import leases
from bot.adapters.db import SessionFactory
from bot.adapters.tables import Conversation, InboxMessage
from bot.service_layer.processing import ConversationProcessor, ProcessingPolicy
from tests.fakes.clock import FakeClock
from tests.fakes.ports import FakeDialogue, FakeSender
from tests.fakes.screening import fake_screening
from tests.integration.test_processing import PROSPECT, receive

LEASE = ProcessingPolicy().lease
PASSPORT = "My passport number is C01X00T47"  # the specimen number of German passports


class CountingSessions(sessionmaker[Session]):
    """The same sessions as ``inner``, counting the database transactions they begin."""

    def __init__(self, inner: SessionFactory) -> None:
        super().__init__(**inner.kw)
        self.transactions = 0

    def __call__(self, **local_kw: Any) -> Session:
        session = super().__call__(**local_kw)
        event.listen(session, "after_begin", self._count)
        return session

    def _count(self, *_args: object) -> None:
        self.transactions += 1


def processor(
    sessions: SessionFactory,
    clock: FakeClock,
    owner: str = "one",
    dialogue: FakeDialogue | None = None,
    sender: FakeSender | None = None,
) -> tuple[ConversationProcessor, FakeDialogue, FakeSender]:
    dialogue, sender = dialogue or FakeDialogue(), sender or FakeSender(clock.now)
    proc = ConversationProcessor(sessions, dialogue, sender, clock, fake_screening(), owner=owner)
    return proc, dialogue, sender


def lease_owner(sessions: SessionFactory, conversation_id: str) -> str | None:
    with sessions() as s:
        return s.scalar(select(Conversation.lease_owner).where(Conversation.id == conversation_id))


def test_a_forwarded_message_takes_three_transactions_and_one_per_send(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Claim and read, screening (before Rasa), replies and done; each send records in one."""
    counting = CountingSessions(sessions)
    proc, dialogue, sender = processor(counting, clock)
    conv = receive(sessions, clock, "SM1", "hi")
    proc.run(conv, max_answers=1)
    assert sender.bodies_to(PROSPECT) == ["you said: hi"] and len(dialogue.calls) == 1
    assert counting.transactions <= 3 + len(sender.sent) == 4


def test_a_withheld_message_takes_two_transactions_and_one_per_send(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A message the bot must not see is recorded without asking Rasa, in as few."""
    counting = CountingSessions(sessions)
    proc, dialogue, sender = processor(counting, clock)
    conv = receive(sessions, clock, "SM1", PASSPORT)
    proc.run(conv, max_answers=1)
    assert dialogue.calls == [] and sender.sent  # the terms and the consent question
    assert counting.transactions <= 2 + len(sender.sent)


def test_a_turn_with_nothing_due_takes_one_transaction(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Looking at an idle conversation claims, finds nothing and lets go at once."""
    counting = CountingSessions(sessions)
    proc, _dialogue, sender = processor(counting, clock)
    conv = receive(sessions, clock, "SM1", "hi")
    proc.run(conv)
    before = counting.transactions
    proc.run(conv)
    assert counting.transactions - before == 1 and len(sender.sent) == 1


def test_a_turn_lets_the_conversation_go(sessions: SessionFactory, clock: FakeClock) -> None:
    """After its turn a conversation is leased by nobody, so its timers may fire."""
    proc, _dialogue, _sender = processor(sessions, clock)
    conv = receive(sessions, clock, "SM1", "hi")
    receive(sessions, clock, "SM2", "and another thing")
    proc.run(conv, max_answers=1)
    assert lease_owner(sessions, conv) is None
    with sessions() as s:
        pending = s.scalars(
            select(InboxMessage.message_sid).where(InboxMessage.status == "pending")
        )
        assert list(pending) == ["SM2"]  # one answer per turn; the next waits its turn


def test_a_conversation_in_another_process_turn_is_left_alone(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """While one process waits on Rasa for a conversation, another cannot take a turn of
    it, and holds no transaction open meanwhile (the other's claim would wait on it)."""
    during: list[tuple[bool, str | None]] = []

    def answer(text: str) -> list[str]:
        during.append((second.run(conv), lease_owner(sessions, conv)))
        return [f"you said: {text}"]

    first, _dialogue, sender = processor(sessions, clock, "one", FakeDialogue(answer))
    # One provider for both processes: its message ids are unique across them.
    second, other_dialogue, _ = processor(sessions, clock, "two", sender=sender)
    conv = receive(sessions, clock, "SM1", "hi")
    receive(sessions, clock, "SM2", "hello again")
    first.run(conv, max_answers=1)
    assert during == [(False, "one")]
    assert other_dialogue.calls == [] and sender.bodies_to(PROSPECT) == ["you said: hi"]
    assert second.run(conv)  # once let go, any process may take the next turn
    assert other_dialogue.calls == [(conv, "hello again")]
    assert sender.bodies_to(PROSPECT) == ["you said: hi", "you said: hello again"]


def test_an_expired_lease_is_taken_over(sessions: SessionFactory, clock: FakeClock) -> None:
    """A process that died holding a conversation loses it when its lease runs out."""
    proc, _dialogue, sender = processor(sessions, clock, owner="two")
    conv = receive(sessions, clock, "SM1", "hi")
    with sessions.begin() as s:
        assert leases.claim(s, conv, "one", clock.now(), LEASE)
    assert not proc.run(conv) and sender.sent == []
    clock.advance(LEASE.total_seconds() + 1)
    assert proc.run(conv) and sender.bodies_to(PROSPECT) == ["you said: hi"]
