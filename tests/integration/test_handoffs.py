"""Handoffs on a real database: opening, routing, claiming, escalating, replying."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.db import SessionFactory
from bot.adapters.routing_file import DEFAULT_ROUTING_PATH, load_routing
from bot.adapters.tables import Conversation, Handoff, OutboxMessage, Timer, User
from bot.domain.access import Actor
from bot.domain.levels import Level
from bot.service_layer import handoffs
from bot.service_layer.handoffs import AboveThreshold, HandoffError, NotAllowed, NotFound, Route
from tests.fakes.clock import FakeClock
from tests.fakes.prospects import add_prospect, opened

PUBLIC = "https://gangway.example.com"


@dataclass
class FixedRouter:
    advisor_id: int | None = None
    supervisor_id: int | None = None

    def route(self, session: Session, handoff: Handoff, now: datetime) -> Route:
        return Route("general", self.advisor_id, "test routing", timedelta(minutes=15))

    def escalation_target(self, session: Session, handoff: Handoff) -> int | None:
        return self.supervisor_id


@dataclass
class Events:
    seen: list[tuple[str, int, str]] = field(default_factory=list)

    def record(self, session: Session, *, event: str, handoff: Handoff, now: datetime) -> None:
        self.seen.append((event, handoff.id, handoff.status))


def _user(s: Session, uid: int, role: str, team: str | None, now: datetime) -> Actor:
    user = User(
        id=uid,
        email=f"user{uid}@example.com",
        display_name=f"User {uid}",
        role=role,
        password_hash="x",
        active=True,
        team=team,
        # Licensed for everything: these tests are about the lifecycle, not licences.
        countries='["*"]' if role == "advisor" else "[]",
        products='["*"]' if role == "advisor" else "[]",
        languages="[]",
        available=True,
        created_at=now,
    )
    s.add(user)
    return handoffs.actor_of(user, load_routing(DEFAULT_ROUTING_PATH))


@pytest.fixture
def world(sessions: SessionFactory, clock: FakeClock) -> dict[str, Actor]:
    now = clock.now()
    with sessions.begin() as s:
        add_prospect(
            s,
            "whatsapp:+12025550101",
            Conversation(
                id="c-1",
                created_at=now,
                level="public",
                state="handoff_requested",
                language="de",
                last_inbound_at=now,
            ),
        )
        return {
            "anna": _user(s, 1, "advisor", "berlin", now),
            "ben": _user(s, 2, "advisor", "berlin", now),
            "sara": _user(s, 3, "supervisor", "berlin", now),
            "clara": _user(s, 4, "compliance", None, now),
        }


def _open(sessions: SessionFactory, clock: FakeClock, router: FixedRouter, events: Events) -> int:
    with sessions.begin() as s:
        h = handoffs.open_handoff(
            s,
            conversation_id="c-1",
            reason="human_request",
            now=clock.now(),
            router=router,
            events=events,
            public_url=PUBLIC,
        )
        return h.id


def test_a_conversation_has_one_open_handoff(
    sessions: SessionFactory, clock: FakeClock, world: dict[str, Actor]
) -> None:
    events = Events()
    first = _open(sessions, clock, FixedRouter(), events)
    assert _open(sessions, clock, FixedRouter(), events) == first
    assert [e[0] for e in events.seen] == ["handoff.created"]
    with sessions() as s:
        h = s.get_one(Handoff, first)
        summary = json.loads(h.summary)
    assert (h.status, h.queue, h.language) == ("queued", "general", "de")
    assert summary["transcript"] == f"{PUBLIC}/console/conversations/c-1"


def test_claim_by_one_advisor_hides_it_from_another(
    sessions: SessionFactory, clock: FakeClock, world: dict[str, Actor]
) -> None:
    events = Events()
    hid = _open(sessions, clock, FixedRouter(), events)
    with sessions.begin() as s:
        assert [h.id for h in handoffs.visible_handoffs(s, world["ben"])] == [hid]
        handoffs.claim(s, world["anna"], hid, clock.now(), events)
    with sessions.begin() as s:
        assert handoffs.visible_handoffs(s, world["ben"]) == []
        with pytest.raises(NotFound):
            handoffs.get_readable(s, world["ben"], hid)
        assert [h.id for h in handoffs.visible_handoffs(s, world["sara"])] == [hid]
        assert [h.id for h in handoffs.visible_handoffs(s, world["clara"])] == [hid]
        with pytest.raises(NotAllowed):
            handoffs.claim(s, world["clara"], hid, clock.now(), events)
        with pytest.raises(HandoffError, match="already claimed"):
            handoffs.claim(s, world["sara"], hid, clock.now(), events)
    assert [e[0] for e in events.seen] == ["handoff.created", "handoff.claimed"]


def test_an_unclaimed_handoff_escalates_after_the_sla_and_a_claimed_one_does_not(
    sessions: SessionFactory, clock: FakeClock, world: dict[str, Actor]
) -> None:
    router, events = FixedRouter(advisor_id=1, supervisor_id=3), Events()
    hid = _open(sessions, clock, router, events)
    with sessions() as s:
        [timer] = s.execute(select(Timer).where(Timer.kind == handoffs.SLA_TIMER)).scalars()
        assert timer.due_at == clock.now() + timedelta(minutes=15)
    with sessions.begin() as s:
        assert handoffs.escalate(s, s.get_one(Handoff, hid), clock.now(), router, events)
        handoffs.claim(s, world["sara"], hid, clock.now(), events)
        assert not handoffs.escalate(s, s.get_one(Handoff, hid), clock.now(), router, events)
    assert [e[0] for e in events.seen][-2:] == ["handoff.escalated", "handoff.claimed"]


def test_release_goes_back_to_the_queue_not_to_the_same_advisor(
    sessions: SessionFactory, clock: FakeClock, world: dict[str, Actor]
) -> None:
    router, events = FixedRouter(advisor_id=1), Events()
    hid = _open(sessions, clock, router, events)
    with sessions.begin() as s:
        handoffs.claim(s, world["anna"], hid, clock.now(), events)
        h = handoffs.release(s, world["anna"], hid, clock.now(), events, router)
        assert (h.status, h.assigned_to, h.claimed_by) == ("queued", None, None)


def test_replies_only_below_the_threshold(
    sessions: SessionFactory, clock: FakeClock, world: dict[str, Actor]
) -> None:
    events = Events()
    hid = _open(sessions, clock, FixedRouter(), events)
    with sessions.begin() as s:
        handoffs.claim(s, world["anna"], hid, clock.now(), events)
        row = handoffs.reply(s, world["anna"], hid, "Guten Tag!", clock.now(), Level.IDENTITY)
        assert (
            row.kind,
            opened(s, "c-1", "outbox_body", row.body),
            opened(s, "c-1", "to_number", row.to_number),
        ) == (
            "advisor",
            "Guten Tag!",
            "whatsapp:+12025550101",
        )
        s.get_one(Conversation, "c-1").level = "identity"
    with sessions.begin() as s, pytest.raises(AboveThreshold, match="secure channel"):
        handoffs.reply(s, world["anna"], hid, "Ihre IBAN?", clock.now(), Level.IDENTITY)
    with sessions() as s:
        bodies = [o.body for o in s.execute(select(OutboxMessage)).scalars()]
        assert [opened(s, "c-1", "outbox_body", b) for b in bodies] == ["Guten Tag!"]
