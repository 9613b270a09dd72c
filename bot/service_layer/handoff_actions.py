"""What a person does to a handoff from the console's pages or its API: claim it,
release it or close it. Both call ``act``, so the two cannot treat a change differently."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from bot.adapters.db import SessionFactory
from bot.domain.access import Actor
from bot.service_layer import handoffs
from bot.service_layer.handoff_views import HandoffView, views_of
from bot.service_layer.handoffs import HandoffEvents, Router

__all__ = ["HandoffChange", "act"]

HandoffChange = Literal["claim", "release", "close"]


def act(
    sessions: SessionFactory,
    actor: Actor,
    handoff_id: int,
    change: HandoffChange,
    now: datetime,
    events: HandoffEvents,
    router: Router,
) -> HandoffView:
    """Make ``change`` to the handoff as ``actor`` (a ``HandoffError`` when it may not be
    made), in one unit of work; the handoff as the actor sees it afterwards."""
    with sessions.begin() as s:
        if change == "claim":
            changed = handoffs.claim(s, actor, handoff_id, now, events)
        elif change == "release":
            changed = handoffs.release(s, actor, handoff_id, now, events, router)
        else:
            changed = handoffs.close(s, actor, handoff_id, now, events)
        return views_of(s, actor, [changed], now)[0]
