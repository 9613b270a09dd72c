"""Conversations taken through the real service layer to a chosen stage of the funnel:
a public chat, the terms offered, declined, agreed to (an invite sent), the secure
channel opened (handed off) and the handoff claimed, or a person asked for.

Each prospect's conversation is made before their first message with the variant and
flow version it should count under, as ``flows test`` and ``simulate`` force a variant.
Used by the funnel's tests and by bench/funnel_demo.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select

from bot.adapters import invites
from bot.adapters.db import SessionFactory
from bot.adapters.routing_file import RoutingStore
from bot.adapters.tables import Conversation, Handoff, User
from bot.service_layer import handoffs
from bot.service_layer.conversation_events import invite_activated
from bot.service_layer.handoff_events import NoHandoffEvents
from bot.service_layer.routing import RulesRouter
from bot.service_layer.transition import Handover
from tests.fakes.clock import FakeClock
from tests.fakes.prospects import add_prospect
from tests.integration.test_protocol import PASSPORT, PUBLIC, SECRET, Stack, _link

Outcome = Literal["chat", "offered", "declined", "invited", "handed_off", "claimed", "person"]
# How far each outcome goes, in the funnel's stage names (a person asked for is "started").
OUTCOMES: tuple[Outcome, ...] = (
    "chat",
    "offered",
    "declined",
    "invited",
    "handed_off",
    "claimed",
    "person",
)
ADVISOR = "ada.advisor@example.com"
# Minutes between the steps unless a prospect says otherwise: the funnel's times.
ANSWER_AFTER = 1
OPEN_AFTER = 10
CLAIM_AFTER = 5


def funnel_stack(sessions: SessionFactory, clock: FakeClock) -> Stack:
    """The protocol's test stack with people to hand off to (one advisor for everything)."""
    handover = Handover(RulesRouter(RoutingStore()), NoHandoffEvents(), PUBLIC)
    stack = Stack(sessions, clock, handover)
    with stack.sessions.begin() as s:
        if s.scalar(select(User.id).where(User.email == ADVISOR)) is None:
            s.add(
                User(
                    email=ADVISOR,
                    display_name="Ada Advisor",
                    role="advisor",
                    password_hash="x",
                    active=True,
                    team="international",
                    countries=json.dumps(["*"]),
                    products=json.dumps(["*"]),
                    languages=json.dumps([]),
                    available=True,
                    created_at=stack.clock.now(),
                )
            )
    return stack


@dataclass(frozen=True)
class Prospect:
    n: int  # 0-999: their number is +44 7700 900nnn (a range reserved for drama)
    outcome: Outcome
    variant: str | None = None
    flow_version_id: int | None = None
    first_words: str = "Hello, what accounts do you offer?"
    # Minutes to answer the terms, to open the link once sent, for an advisor to claim.
    answer_after: float = ANSWER_AFTER
    open_after: float = OPEN_AFTER
    claim_after: float = CLAIM_AFTER

    @property
    def number(self) -> str:
        return f"whatsapp:+447700900{self.n:03d}"

    @property
    def conversation_id(self) -> str:
        return f"c-funnel-{self.n:04d}"


def take(stack: Stack, prospect: Prospect) -> None:
    """``prospect``'s conversation from its first message to its outcome."""
    with stack.sessions.begin() as s:
        add_prospect(
            s,
            prospect.number,
            Conversation(
                id=prospect.conversation_id,
                created_at=stack.clock.now(),
                variant=prospect.variant,
                flow_version_id=prospect.flow_version_id,
            ),
        )
    stack.number = prospect.number
    stack.say(prospect.first_words)
    outcome = prospect.outcome
    if outcome == "person":
        stack.say("I want to talk to a person")
        return
    if outcome == "chat":
        return
    stack.say(PASSPORT)
    if outcome == "offered":
        return
    stack.clock.advance(prospect.answer_after * 60)
    if outcome == "declined":
        stack.say("no")
        return
    [message] = stack.say("yes")
    if outcome == "invited":
        return
    stack.clock.advance(prospect.open_after * 60)
    token = _link(message).rsplit("/", 1)[1]
    with stack.sessions.begin() as s:
        used = invites.redeem_invite(s, token=token, secret=SECRET, now=stack.clock.now())
        assert used.outcome == "activated"
        assert invite_activated(
            s,
            stack.conversation_id,
            stack.flows.current(),
            stack.clock.now(),
            stack.invite_settings,
            stack.handover,
        )
    if outcome == "handed_off":
        return
    stack.clock.advance(prospect.claim_after * 60)
    with stack.sessions.begin() as s:
        handoff = s.execute(
            select(Handoff).where(Handoff.conversation_id == stack.conversation_id)
        ).scalar_one()
        handoff_id = handoff.id
        # Whoever the routing gave it to claims it; nobody: the advisor for everything.
        mine = User.id == handoff.assigned_to if handoff.assigned_to else User.email == ADVISOR
        user = s.execute(select(User).where(mine)).scalar_one()
        advisor = handoffs.actor_of(user, RoutingStore().current())
        handoffs.claim(s, advisor, handoff_id, stack.clock.now(), NoHandoffEvents())
