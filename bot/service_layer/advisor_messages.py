"""An advisor writes to the prospect on WhatsApp from the console or its API: a free
reply while WhatsApp's 24-hour window is open, or the flow's approved follow-up
template once it closed. Either is queued in the outbox and sent by the worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.adapters.db import SessionFactory
from bot.domain.access import Actor
from bot.domain.flows import Flow
from bot.service_layer import handoffs, window_messages
from bot.service_layer.flow_in_force import handoff_flow
from bot.service_layer.outbox import shown_body

__all__ = ["Queued", "follow_up", "reply"]


@dataclass(frozen=True)
class Queued:
    """A message in the outbox, as the advisor may see it."""

    outbox_id: int
    conversation_id: str
    status: str
    text: str


def reply(
    sessions: SessionFactory, actor: Actor, handoff_id: int, text: str, now: datetime, flow: Flow
) -> Queued:
    """The advisor's WhatsApp reply (a ``HandoffError`` saying why when it may not go)."""
    with sessions.begin() as s:
        at = handoff_flow(s, handoff_id, flow).transition_at
        row = handoffs.reply(s, actor, handoff_id, text, now, at)
        return Queued(row.id, row.conversation_id, row.status, text.strip())


def follow_up(
    sessions: SessionFactory, actor: Actor, handoff_id: int, now: datetime, flow: Flow
) -> Queued:
    """The flow's approved follow-up template, asking the prospect to write again."""
    with sessions.begin() as s:
        row = window_messages.send_follow_up(
            s, actor, handoff_id, handoff_flow(s, handoff_id, flow), now
        )
        return Queued(row.id, row.conversation_id, row.status, shown_body(s, row))
