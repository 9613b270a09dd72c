"""From the protocol to people: handoffs opened by the conversation, routed by
flows/routing.yml, escalated by the SLA timer, and queued for the CRM."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.adapters.db import SessionFactory
from bot.adapters.routing_file import RoutingStore
from bot.adapters.tables import CrmDelivery, Handoff, User
from bot.service_layer.conversation_events import invite_activated
from bot.service_layer.handoff_events import CrmHandoffEvents
from bot.service_layer.routing import RulesRouter
from bot.service_layer.transition import Handover
from tests.fakes.clock import FakeClock
from tests.integration.test_protocol import PASSPORT, PUBLIC, SECRET, Stack, _link

GERMAN = "whatsapp:+4930555010101"  # +49 30: Berlin, an invented number


def _person(
    sessions: SessionFactory,
    clock: FakeClock,
    uid: int,
    role: str,
    team: str,
    languages: list[str],
    countries: list[str],
) -> None:
    with sessions.begin() as s:
        s.add(
            User(
                id=uid,
                email=f"user{uid}@example.com",
                display_name=f"User {uid}",
                role=role,
                password_hash="x",
                active=True,
                team=team,
                countries=json.dumps(countries),
                products=json.dumps(["*"]),
                languages=json.dumps(languages),
                available=True,
                created_at=clock.now(),
            )
        )


@pytest.fixture
def stack(sessions: SessionFactory, clock: FakeClock) -> Stack:
    _person(sessions, clock, 1, "advisor", "international", ["en"], ["*"])
    _person(sessions, clock, 2, "advisor", "dach", ["de"], ["DE", "AT"])
    _person(sessions, clock, 3, "supervisor", "dach", ["de"], ["*"])
    handover = Handover(RulesRouter(RoutingStore()), CrmHandoffEvents(), PUBLIC)
    return Stack(sessions, clock, handover)


def _handoffs(stack: Stack) -> list[Handoff]:
    return stack.rows(Handoff)


def test_a_german_prospect_asking_for_a_person_goes_to_the_german_advisor(stack: Stack) -> None:
    stack.number = GERMAN
    stack.say("Hallo, ich möchte mit einem Menschen sprechen")
    [handoff] = _handoffs(stack)
    assert (handoff.reason, handoff.status, handoff.assigned_to) == ("human_request", "assigned", 2)
    assert (handoff.country, handoff.language, handoff.queue) == ("DE", "de", "german")
    events = [d.event for d in stack.rows(CrmDelivery)]
    assert events == ["handoff.created"]


def test_an_unclaimed_handoff_escalates_to_a_supervisor_after_the_sla(stack: Stack) -> None:
    stack.say("I want to talk to a person")
    [handoff] = _handoffs(stack)
    assert handoff.status == "assigned" and handoff.assigned_to == 1
    stack.wait(timedelta(minutes=14))
    assert _handoffs(stack)[0].status == "assigned"
    stack.wait(timedelta(minutes=1))
    [handoff] = _handoffs(stack)
    assert handoff.status == "escalated" and handoff.escalated_to == 3
    assert [d.event for d in stack.rows(CrmDelivery)] == ["handoff.created", "handoff.escalated"]


def test_activating_the_secure_channel_opens_a_threshold_handoff_without_the_values(
    stack: Stack,
) -> None:
    stack.say(PASSPORT)
    [invite] = stack.say("yes")
    assert _link(invite)
    assert stack.handover is not None
    with stack.sessions.begin() as s:
        assert invite_activated(
            s,
            stack.conversation_id,
            stack.flows.current(),
            stack.clock.now(),
            stack.invite_settings,
            stack.handover,
        )
    [handoff] = _handoffs(stack)
    summary = json.loads(handoff.summary)
    assert handoff.reason == "threshold" and summary["level"] == "identity"
    assert summary["consent"]["decision"] == "agreed"
    assert {e["name"] for e in summary["trigger"]["evidence"]} >= {"passport_number"}
    payloads = [d.payload for d in stack.rows(CrmDelivery)]
    assert payloads and all("C01X00T47" not in p for p in payloads)
    assert "C01X00T47" not in handoff.summary
    with stack.sessions() as s:
        assert s.execute(select(Handoff.id)).all()


def test_a_used_link_hands_off_even_if_the_immediate_hand_off_never_ran(stack: Stack) -> None:
    """The process dies right after the link was used: the durable backstop does it."""
    from bot.adapters import invites

    stack.say(PASSPORT)
    [message] = stack.say("yes")
    token = _link(message).rsplit("/", 1)[1]
    with stack.sessions.begin() as s:
        used = invites.redeem_invite(s, token=token, secret=SECRET, now=stack.clock.now())
    assert used.outcome == "activated"
    assert stack.conversation().state == "invite_sent"  # no hook ran
    stack.wait(timedelta(seconds=29))
    assert stack.conversation().state == "invite_sent"
    stack.wait(timedelta(seconds=1))
    assert stack.conversation().state == "handed_off"
    [handoff] = _handoffs(stack)
    assert handoff.reason == "threshold"
    stack.wait(timedelta(hours=1))
    assert len(_handoffs(stack)) == 1
