"""What a person sees of handoffs: the queue, one handoff with its summary and
transcript, and what they may do to each. Every view is built for one ``Actor`` and
holds only what the access rules let them read."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.db import SessionFactory
from bot.adapters.tables import Conversation, Handoff, User
from bot.domain.access import Action, Actor, Role, allowed, can_read
from bot.domain.flow_variants import effective
from bot.domain.flows import Flow
from bot.domain.whatsapp_window import window_closes_at, window_refusal
from bot.service_layer import handoff_summary, handoffs, window_messages
from bot.service_layer.handoff_summary import TranscriptLine

__all__ = [
    "HandoffDetail",
    "HandoffView",
    "detail_of",
    "newest_readable",
    "queue_of",
    "views_of",
]


@dataclass(frozen=True)
class HandoffView:
    """One handoff as a queue shows it to one person."""

    id: int
    conversation_id: str
    status: str
    reason: str
    queue: str
    language: str | None
    level: str
    country: str | None
    product: str | None
    created_at: datetime
    waiting_seconds: int  # until claimed (or closed), else until now
    assignee_id: int | None  # the claimer, else the assignee
    assignee: str | None  # that person's display name
    can_act: bool
    actions: list[Action]  # what the person may do to it now


@dataclass(frozen=True)
class HandoffDetail:
    """One handoff with its summary and transcript, and whether a WhatsApp message may go."""

    handoff: HandoffView
    summary: dict[str, Any]
    transcript: list[TranscriptLine]
    reply_refusal: str | None  # why no WhatsApp reply may be sent now; None: one may
    window_closes_at: datetime | None
    follow_up: str | None  # the approved template's text, when only the window stops a reply


def _waited(handoff: Handoff, now: datetime) -> int:
    end = handoff.claimed_at or handoff.closed_at or now
    return max(0, int((end - handoff.created_at).total_seconds()))


def views_of(
    session: Session, actor: Actor, rows: Iterable[Handoff], now: datetime
) -> list[HandoffView]:
    """``rows`` as ``actor`` sees them, in the unit of work that loaded them."""
    rows = list(rows)
    owners = {h.claimed_by if h.claimed_by is not None else h.assigned_to for h in rows} - {None}
    names = {
        user_id: name
        for user_id, name in session.execute(
            select(User.id, User.display_name).where(User.id.in_(owners))
        )
    }
    out = []
    for h in rows:
        owner = h.claimed_by if h.claimed_by is not None else h.assigned_to
        actions = allowed(actor, handoffs.facts(session, h))
        out.append(
            HandoffView(
                id=h.id,
                conversation_id=h.conversation_id,
                status=h.status,
                reason=h.reason,
                queue=h.queue,
                language=h.language,
                level=h.level,
                country=h.country,
                product=h.product,
                created_at=h.created_at,
                waiting_seconds=_waited(h, now),
                assignee_id=owner,
                assignee=names.get(owner) if owner is not None else None,
                can_act=bool(actions),
                actions=sorted(actions),
            )
        )
    return out


def queue_of(
    sessions: SessionFactory, actor: Actor, now: datetime, *, include_closed: bool = False
) -> list[HandoffView]:
    """The handoffs ``actor`` may read, newest activity first."""
    with sessions.begin() as s:
        rows = handoffs.visible_handoffs(s, actor, include_closed=include_closed)
        return views_of(s, actor, rows, now)


def _reply_refusal(
    conv: Conversation, flow: Flow, actor: Actor, actions: Iterable[Action]
) -> str | None:
    """Why no WhatsApp message at all may go out now, or None when one may."""
    if actor.role not in (Role.ADVISOR, Role.SUPERVISOR):
        return "Your role can read this conversation but not change it."
    if Action.REPLY not in actions:
        return "Claim this handoff to reply: only whoever claimed it may write to the prospect."
    return handoffs.reply_refusal(conv, flow.transition_at)


def _summary(raw: str) -> dict[str, Any]:
    try:
        data: Any = json.loads(raw or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def detail_of(
    sessions: SessionFactory, actor: Actor, handoff_id: int, now: datetime, flow: Flow
) -> HandoffDetail:
    """A readable handoff with its summary and transcript (NotFound if not readable), and
    the flow's follow-up template when only WhatsApp's window stops a reply.

    ``flow`` is the base flow in force; the page shows what the conversation's variant
    sets (its threshold, its follow-up wording), as the advisor's actions then apply.
    """
    with sessions.begin() as s:
        handoff = handoffs.get_readable(s, actor, handoff_id)
        view = views_of(s, actor, [handoff], now)[0]
        conv = s.get_one(Conversation, handoff.conversation_id)
        flow = effective(flow, conv.variant)
        blocked = _reply_refusal(conv, flow, actor, view.actions)
        closed = window_refusal(conv.last_inbound_at, now)
        follow_up = None
        if blocked is None and closed is not None:
            name = s.get_one(User, actor.user_id).display_name
            follow_up = window_messages.follow_up_preview(flow, conv, name)
        return HandoffDetail(
            handoff=view,
            summary=_summary(handoff.summary),
            transcript=handoff_summary.transcript(s, handoff.conversation_id),
            reply_refusal=blocked or closed,
            window_closes_at=window_closes_at(conv.last_inbound_at),
            follow_up=follow_up,
        )


def newest_readable(sessions: SessionFactory, actor: Actor, conversation_id: str) -> int | None:
    """The id of the conversation's newest handoff that ``actor`` may read, if any."""
    with sessions.begin() as s:
        rows = s.execute(
            select(Handoff)
            .where(Handoff.conversation_id == conversation_id)
            .order_by(Handoff.id.desc())
        ).scalars()
        return next((h.id for h in rows if can_read(actor, handoffs.facts(s, h))), None)
