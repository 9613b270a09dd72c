"""Handoffs: a conversation handed to people, and what people do with it (who may is
``handoff_access``; its names are re-exported here for the routes and consoles).

Every function works in the caller's unit of work (a SQLAlchemy session in a
transaction) and writes its audit records there. Routing (who gets it) and the CRM
push are ports (``Router``, ``HandoffEvents``), so this module decides nothing about
either.

A handoff is opened when the prospect activates the secure channel (reason
``threshold``) or asks for a person before it (``human_request``); a conversation has
at most one open handoff, so a second request refreshes nothing and opens nothing.
Its lifecycle:

    queued ──claim──▶ claimed ──release──▶ queued (routed again)
    assigned ─claim─▶ claimed                  (the assignee, or another allowed person)
    queued/assigned ──SLA passes unclaimed──▶ escalated (to a supervisor) ─claim─▶ claimed
    any open ──close──▶ closed

The summary never holds a sensitive value: the evidence is named by rule and level.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.adapters import audit_log, timers
from bot.adapters.tables import Conversation, Handoff, OutboxMessage, Timer
from bot.domain.access import Action, Actor, Role
from bot.domain.conversation_chart import ConversationChart
from bot.domain.levels import Level
from bot.domain.qualification import SKIPPED
from bot.domain.whatsapp_window import window_refusal
from bot.service_layer.handoff_access import (
    OPEN_STATUSES,
    HandoffError,
    NotAllowed,
    NotFound,
    actor_of,
    facts,
    get_readable,
    permitted,
    visible_handoffs,
)
from bot.service_layer.handoff_summary import summarise
from bot.service_layer.outbox import new_outbox_row
from bot.service_layer.qualification import qualification_of

__all__ = [
    "OPEN_STATUSES",
    "SLA_TIMER",
    "AboveThreshold",
    "HandoffError",
    "HandoffEvents",
    "NotAllowed",
    "NotFound",
    "OutsideWindow",
    "Route",
    "Router",
    "actor_of",
    "claim",
    "close",
    "close_erased",
    "escalate",
    "facts",
    "get_readable",
    "open_handoff",
    "permitted",
    "release",
    "reply",
    "reply_refusal",
    "visible_handoffs",
]

SLA_TIMER = "handoff_sla"
ADVISOR_REPLY_KIND = "advisor"


class AboveThreshold(HandoffError):
    status = 409


class OutsideWindow(HandoffError):
    """WhatsApp's 24-hour window is closed: only a template may be sent."""

    status = 409


@dataclass(frozen=True)
class Route:
    queue: str
    advisor_id: int | None
    why: str
    sla: timedelta


class Router(Protocol):
    """Chooses a queue and maybe an advisor for a handoff (the flow's routing rules)."""

    def route(self, session: Session, handoff: Handoff, now: datetime) -> Route: ...

    def escalation_target(self, session: Session, handoff: Handoff) -> int | None: ...


class HandoffEvents(Protocol):
    """Told of every new handoff and status change, in the same unit of work (the CRM
    outbox in production)."""

    def record(self, session: Session, *, event: str, handoff: Handoff, now: datetime) -> None: ...


def _audit(session: Session, handoff: Handoff, kind: str, now: datetime, **data: Any) -> None:
    audit_log.append(
        session,
        kind=kind,
        conversation_id=handoff.conversation_id,
        payload={"handoff_id": handoff.id, "status": handoff.status, **data},
        now=now,
    )


def _schedule_sla(session: Session, handoff: Handoff, sla: timedelta, now: datetime) -> None:
    # One key per routing: a release routes again and gets a fresh SLA.
    count = session.execute(
        select(Timer.id).where(Timer.key.like(f"{SLA_TIMER}:{handoff.id}:%"))
    ).all()
    timers.schedule(
        session,
        key=f"{SLA_TIMER}:{handoff.id}:{len(count) + 1}",
        kind=SLA_TIMER,
        due_at=now + sla,
        now=now,
        conversation_id=handoff.conversation_id,
        payload={"handoff_id": handoff.id},
    )


def _cancel_sla(session: Session, handoff: Handoff, now: datetime) -> None:
    timers.cancel(session, conversation_id=handoff.conversation_id, now=now, kinds=[SLA_TIMER])


def open_handoff(
    session: Session,
    *,
    conversation_id: str,
    reason: str,
    now: datetime,
    router: Router,
    events: HandoffEvents,
    public_url: str,
    country: str | None = None,
    product: str | None = None,
) -> Handoff:
    """The conversation's open handoff, opened and routed now if it has none.

    It is routed by what the prospect told the qualification questions where they
    answered: their product, the country they live in (else ``country``, the number's),
    the language they prefer (else the conversation's).

    Two processes may open one at the same moment (the activation callback and the
    worker, say): the database allows one open handoff per conversation, so the second
    insert fails, and its opener takes the first one's handoff instead.
    """
    existing = _open_handoff_of(session, conversation_id)
    if existing is not None:
        return _refreshed(session, existing, public_url, now)
    conv = session.get_one(Conversation, conversation_id)
    qualified = qualification_of(session, conversation_id)
    answers = {k: v for k, v in (qualified or {}).get("answers", {}).items() if v != SKIPPED}
    handoff = Handoff(
        conversation_id=conversation_id,
        reason=reason,
        status="queued",
        queue="",
        language=answers.get("language") or conv.language,
        country=answers.get("country") or country,
        product=answers.get("product") or product,
        level=conv.level,
        summary=json.dumps(summarise(session, conv, reason, public_url)),
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(handoff)
            session.flush()
    except IntegrityError:  # the savepoint's rollback took the new row out of the session
        existing = _open_handoff_of(session, conversation_id)
        if existing is None:  # the failure was something else
            raise
        return _refreshed(session, existing, public_url, now)
    _route(session, handoff, now, router)
    events.record(session, event="handoff.created", handoff=handoff, now=now)
    return handoff


def _open_handoff_of(session: Session, conversation_id: str) -> Handoff | None:
    return (
        session.execute(
            select(Handoff).where(
                Handoff.conversation_id == conversation_id, Handoff.status.in_(OPEN_STATUSES)
            )
        )
        .scalars()
        .first()
    )


def _refreshed(session: Session, handoff: Handoff, public_url: str, now: datetime) -> Handoff:
    """An open handoff asked for again: its summary brought up to date."""
    conv = session.get_one(Conversation, handoff.conversation_id)
    handoff.summary = json.dumps(summarise(session, conv, handoff.reason, public_url))
    handoff.updated_at = now
    return handoff


def _route(session: Session, handoff: Handoff, now: datetime, router: Router) -> None:
    route = router.route(session, handoff, now)
    handoff.queue = route.queue
    handoff.assigned_to = route.advisor_id
    handoff.status = "assigned" if route.advisor_id is not None else "queued"
    handoff.updated_at = now
    _audit(
        session,
        handoff,
        "handoff_routed",
        now,
        queue=route.queue,
        advisor_id=route.advisor_id,
        why=route.why,
    )
    _schedule_sla(session, handoff, route.sla, now)


def claim(
    session: Session, actor: Actor, handoff_id: int, now: datetime, events: HandoffEvents
) -> Handoff:
    handoff = get_readable(session, actor, handoff_id)
    taken = handoff.status == "claimed" and handoff.claimed_by != actor.user_id
    if taken and actor.role in (Role.ADVISOR, Role.SUPERVISOR):
        # Someone they work with has it: a conflict of timing, not of rights.
        raise HandoffError(f"handoff {handoff_id} is already claimed")
    permitted(session, actor, handoff_id, Action.CLAIM)
    if handoff.status == "claimed":
        return handoff
    handoff.status = "claimed"
    handoff.claimed_by = actor.user_id
    handoff.assigned_to = actor.user_id
    handoff.claimed_at = now
    handoff.updated_at = now
    _cancel_sla(session, handoff, now)
    _audit(session, handoff, "handoff_claimed", now, user_id=actor.user_id)
    events.record(session, event="handoff.claimed", handoff=handoff, now=now)
    return handoff


def release(
    session: Session,
    actor: Actor,
    handoff_id: int,
    now: datetime,
    events: HandoffEvents,
    router: Router,
) -> Handoff:
    handoff = permitted(session, actor, handoff_id, Action.RELEASE)
    if handoff.status != "claimed":
        raise HandoffError(f"handoff {handoff_id} is not claimed")
    let_go = handoff.claimed_by  # the advisor, when a supervisor releases for them
    handoff.claimed_by = None
    handoff.claimed_at = None
    _audit(session, handoff, "handoff_released", now, user_id=actor.user_id)
    _route(session, handoff, now, router)
    if handoff.assigned_to in (actor.user_id, let_go):  # not straight back to who let go
        handoff.assigned_to = None
        handoff.status = "queued"
    events.record(session, event="handoff.released", handoff=handoff, now=now)
    return handoff


def close(
    session: Session, actor: Actor, handoff_id: int, now: datetime, events: HandoffEvents
) -> Handoff:
    handoff = permitted(session, actor, handoff_id, Action.CLOSE)
    handoff.status = "closed"
    handoff.closed_at = now
    handoff.updated_at = now
    _cancel_sla(session, handoff, now)
    _audit(session, handoff, "handoff_closed", now, user_id=actor.user_id)
    events.record(session, event="handoff.closed", handoff=handoff, now=now)
    return handoff


def close_erased(session: Session, handoff: Handoff, now: datetime, events: HandoffEvents) -> None:
    """Close a handoff whose conversation is being erased: nobody is left to talk to."""
    handoff.status = "closed"
    handoff.closed_at = now
    handoff.updated_at = now
    _cancel_sla(session, handoff, now)
    _audit(session, handoff, "handoff_closed", now, reason="conversation erased")
    events.record(session, event="handoff.closed", handoff=handoff, now=now)


def escalate(
    session: Session, handoff: Handoff, now: datetime, router: Router, events: HandoffEvents
) -> bool:
    """The SLA passed: an unclaimed handoff goes to a supervisor. False if claimed meanwhile."""
    # Locked and read again: an advisor may have claimed it since it was loaded.
    session.refresh(handoff, with_for_update=True)
    if handoff.status not in ("queued", "assigned"):
        return False
    handoff.status = "escalated"
    handoff.escalated_to = router.escalation_target(session, handoff)
    handoff.escalated_at = now
    handoff.updated_at = now
    _audit(session, handoff, "handoff_escalated", now, supervisor_id=handoff.escalated_to)
    events.record(session, event="handoff.escalated", handoff=handoff, now=now)
    return True


def reply_refusal(conv: Conversation, transition_at: Level) -> str | None:
    """Why no WhatsApp reply may go to this conversation now, or None when one may."""
    if conv.state == ConversationChart.opted_out.id:
        return "The prospect opted out (STOP): nothing may be sent to them on WhatsApp."
    if Level.parse(conv.level) >= transition_at:
        return (
            f"This conversation reached the {conv.level} level: continue in the secure "
            "channel, not on WhatsApp."
        )
    return None


def reply(
    session: Session,
    actor: Actor,
    handoff_id: int,
    text: str,
    now: datetime,
    transition_at: Level,
) -> OutboxMessage:
    """An advisor's WhatsApp reply, only while the conversation is below the threshold and
    within WhatsApp's 24-hour window (``OutsideWindow`` otherwise: see
    ``window_messages.send_follow_up`` for what may be sent instead)."""
    handoff = permitted(session, actor, handoff_id, Action.REPLY)
    body = text.strip()
    if not body:
        raise HandoffError("the reply is empty")
    if len(body) > 1600:
        raise HandoffError("a WhatsApp message is at most 1600 characters")
    conv = session.get_one(Conversation, handoff.conversation_id)
    refused = reply_refusal(conv, transition_at)
    if refused is not None:
        raise AboveThreshold(refused)
    closed = window_refusal(conv.last_inbound_at, now)
    if closed is not None:
        raise OutsideWindow(closed)
    row = new_outbox_row(session, conv, kind=ADVISOR_REPLY_KIND, body=body, now=now)
    session.flush()
    _audit(session, handoff, "advisor_reply", now, user_id=actor.user_id, outbox_id=row.id)
    return row
