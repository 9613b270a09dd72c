"""Who may read and change a handoff, as the access rules decide it over what is stored:
the signed-in person as an ``Actor``, a handoff's ``HandoffFacts``, and loading a
handoff only for someone allowed (the refusals as ``HandoffError``s for the routes).
"""

from __future__ import annotations

import json

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.adapters.tables import Conversation, Handoff, User
from bot.domain.access import (
    Action,
    Actor,
    HandoffFacts,
    Licence,
    Role,
    can_read,
    queues_of,
    reads_conversations,
    refusal,
)
from bot.domain.routing import RoutingRules

__all__ = [
    "OPEN_STATUSES",
    "HandoffError",
    "NotAllowed",
    "NotFound",
    "actor_of",
    "facts",
    "get_readable",
    "permitted",
    "visible_handoffs",
]

OPEN_STATUSES = ("queued", "assigned", "claimed", "escalated")


class HandoffError(Exception):
    """A refused handoff operation; the message is plain words for the person."""

    status = 400


class NotFound(HandoffError):
    status = 404


class NotAllowed(HandoffError):
    status = 403


def _codes(raw: str, upper: bool = False) -> frozenset[str]:
    try:
        values = json.loads(raw or "[]")
    except ValueError:
        return frozenset()
    if not isinstance(values, list):
        return frozenset()
    return frozenset(str(v).upper() if upper else str(v) for v in values)


def actor_of(user: User, rules: RoutingRules) -> Actor:
    """The signed-in ``user`` as the access rules see them: role, team, licence and the
    queues they may take from under the routing ``rules`` in force."""
    role = Role(user.role)
    return Actor(
        user.id,
        role,
        user.team,
        Licence(_codes(user.countries, upper=True), _codes(user.products), _codes(user.languages)),
        queues_of(role, user.team, rules),
        language_required=rules.language_match == "require",
    )


def _team_of(session: Session, user_id: int | None) -> str | None:
    return session.get_one(User, user_id).team if user_id is not None else None


def facts(session: Session, handoff: Handoff) -> HandoffFacts:
    owner = handoff.claimed_by if handoff.claimed_by is not None else handoff.assigned_to
    return HandoffFacts(
        handoff.assigned_to,
        handoff.claimed_by,
        _team_of(session, owner),
        closed=handoff.status == "closed",
        escalated_to=handoff.escalated_to,
        queue=handoff.queue,
        country=handoff.country,
        product=handoff.product,
        language=handoff.language,
    )


def _load(session: Session, handoff_id: int, *, lock: bool = False) -> Handoff:
    """The handoff as stored now. With ``lock``, its row stays locked until the unit of
    work ends (PostgreSQL), so two people changing it at once take turns and the second
    sees what the first did: two advisors claiming together cannot both win.

    Its conversation is locked first, as the timer runner does before it escalates: the
    same order everywhere keeps PostgreSQL from deadlocking a claim with the SLA timer.
    """
    if lock:
        conversation_id = session.scalar(
            select(Handoff.conversation_id).where(Handoff.id == handoff_id)
        )
        if conversation_id is not None:
            session.execute(
                select(Conversation.id).where(Conversation.id == conversation_id).with_for_update()
            )
    handoff = session.get(Handoff, handoff_id, with_for_update=lock, populate_existing=lock)
    if handoff is None:
        raise NotFound(f"there is no handoff {handoff_id}")
    return handoff


def get_readable(session: Session, actor: Actor, handoff_id: int, *, lock: bool = False) -> Handoff:
    handoff = _load(session, handoff_id, lock=lock)
    if not can_read(actor, facts(session, handoff)):
        # The same answer as for a missing one: an advisor learns nothing of others' work.
        raise NotFound(f"there is no handoff {handoff_id}")
    return handoff


def permitted(session: Session, actor: Actor, handoff_id: int, action: Action) -> Handoff:
    """The handoff, if ``actor`` may read it (NotFound otherwise) and do ``action`` to it
    (NotAllowed otherwise): the one place every change asks."""
    handoff = get_readable(session, actor, handoff_id, lock=True)
    refused = refusal(actor, action, facts(session, handoff))
    if refused is not None:
        raise NotAllowed(f"handoff {handoff_id}: {refused}")
    return handoff


def visible_handoffs(
    session: Session, actor: Actor, *, include_closed: bool = False
) -> list[Handoff]:
    """The handoffs ``actor`` may read, newest activity first (none for a role that reads
    no conversation)."""
    if not reads_conversations(actor):
        return []
    query = select(Handoff).order_by(Handoff.updated_at.desc(), Handoff.id.desc())
    if not include_closed:
        query = query.where(Handoff.status.in_(OPEN_STATUSES))
    if actor.role is Role.ADVISOR:
        query = query.where(
            or_(
                Handoff.assigned_to == actor.user_id,
                Handoff.claimed_by == actor.user_id,
                Handoff.escalated_to == actor.user_id,
                Handoff.assigned_to.is_(None) & Handoff.claimed_by.is_(None),
            )
        )
    rows = list(session.execute(query).scalars())
    return [h for h in rows if can_read(actor, facts(session, h))]
