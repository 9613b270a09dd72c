"""Which conversations have work due, and who is working on them.

A worker leases a conversation before touching it, so the messages of one
conversation are handled one at a time and in order, by one worker, even with
several service processes on one PostgreSQL database. A lease that is not
renewed (its worker died) expires; a restarted worker with the same instance id
takes its own leases back at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, union_all, update
from sqlalchemy.orm import Session

from bot.adapters.tables import Conversation, InboxMessage, OutboxMessage
from bot.domain.delivery import UNSENT_STATUSES

__all__ = ["claim", "due_conversations", "release", "release_all"]


def due_conversations(
    session: Session, now: datetime, holding_after: timedelta, limit: int = 100
) -> list[str]:
    """Conversations with work due now and no live lease, longest-waiting first.

    The order matters: without it the database returns conversations in key order
    and, under load, the same few are served while the rest starve.
    """
    inbox_due = (
        select(
            InboxMessage.conversation_id.label("cid"),
            func.min(InboxMessage.received_at).label("since"),
        )
        .where(
            InboxMessage.status == "pending",
            or_(
                InboxMessage.next_attempt_at <= now,
                and_(
                    InboxMessage.received_at <= now - holding_after,
                    InboxMessage.conversation_id.in_(
                        select(Conversation.id).where(Conversation.holding_sent_at.is_(None))
                    ),
                ),
            ),
        )
        .group_by(InboxMessage.conversation_id)
    )
    outbox_due = (
        select(
            OutboxMessage.conversation_id.label("cid"),
            func.min(OutboxMessage.created_at).label("since"),
        )
        .where(OutboxMessage.status.in_(UNSENT_STATUSES), OutboxMessage.next_attempt_at <= now)
        .group_by(OutboxMessage.conversation_id)
    )
    due = union_all(inbox_due, outbox_due).subquery()
    waiting_since = func.min(due.c.since)
    rows = session.execute(
        select(due.c.cid)
        .join(Conversation, Conversation.id == due.c.cid)
        .where(or_(Conversation.lease_until.is_(None), Conversation.lease_until < now))
        .group_by(due.c.cid)
        .order_by(waiting_since)
        .limit(limit)
    ).scalars()
    return list(rows)


def claim(
    session: Session, conversation_id: str, owner: str, now: datetime, ttl: timedelta
) -> bool:
    """Take or renew the lease; False when another live worker holds it."""
    result = session.execute(
        update(Conversation)
        .where(
            Conversation.id == conversation_id,
            or_(
                Conversation.lease_owner.is_(None),
                Conversation.lease_owner == owner,
                Conversation.lease_until < now,
            ),
        )
        .values(lease_owner=owner, lease_until=now + ttl)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def release(session: Session, conversation_id: str, owner: str) -> None:
    session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id, Conversation.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )


def release_all(session: Session, owner: str) -> int:
    """Drop every lease this instance held before a restart."""
    result = session.execute(
        update(Conversation)
        .where(Conversation.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
