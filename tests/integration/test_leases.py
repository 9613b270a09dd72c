"""Which conversations the worker takes, and the leases that keep one worker per conversation."""

from __future__ import annotations

from datetime import timedelta

from bot.adapters import leases
from bot.adapters.db import SessionFactory
from bot.domain.inbound import parse_inbound
from bot.service_layer.receiving import record_inbound
from tests.fakes.clock import FakeClock

HOLD = timedelta(seconds=20)
TTL = timedelta(seconds=60)


def receive(sessions: SessionFactory, clock: FakeClock, n: int) -> list[str]:
    ids = []
    for i in range(n):
        with sessions.begin() as s:
            number = f"whatsapp:+120255501{i:02d}"
            params = {"MessageSid": f"SM{i:032d}", "From": number, "Body": "hi"}
            record_inbound(s, parse_inbound(params), clock.now())
            ids.append(leases.due_conversations(s, clock.now(), HOLD, limit=100)[-1])
        clock.advance(1)
    return ids


def test_longest_waiting_conversations_come_first(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """With more due conversations than free workers, the oldest waiting are served first."""
    order = receive(sessions, clock, 12)
    with sessions.begin() as s:
        assert leases.due_conversations(s, clock.now(), HOLD, limit=3) == order[:3]


def test_a_leased_conversation_is_not_offered_or_taken(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """While one worker holds a conversation, another can neither see nor claim it."""
    [conv] = receive(sessions, clock, 1)
    with sessions.begin() as s:
        assert leases.claim(s, conv, "worker-a", clock.now(), TTL)
    with sessions.begin() as s:
        assert leases.due_conversations(s, clock.now(), HOLD) == []
        assert not leases.claim(s, conv, "worker-b", clock.now(), TTL)


def test_a_dead_workers_lease_expires(sessions: SessionFactory, clock: FakeClock) -> None:
    """A lease not renewed within its lifetime can be taken by another worker."""
    [conv] = receive(sessions, clock, 1)
    with sessions.begin() as s:
        leases.claim(s, conv, "worker-a", clock.now(), TTL)
    clock.advance(61)
    with sessions.begin() as s:
        assert leases.due_conversations(s, clock.now(), HOLD) == [conv]
        assert leases.claim(s, conv, "worker-b", clock.now(), TTL)


def test_restarted_instance_takes_its_leases_back(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """After a crash, the same instance frees its own leases at once, not others'."""
    first, second = receive(sessions, clock, 2)
    with sessions.begin() as s:
        leases.claim(s, first, "instance-1", clock.now(), TTL)
        leases.claim(s, second, "instance-2", clock.now(), TTL)
    with sessions.begin() as s:
        assert leases.release_all(s, "instance-1") == 1
    with sessions.begin() as s:
        assert leases.due_conversations(s, clock.now(), HOLD) == [first]
