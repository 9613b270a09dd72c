"""Which conversations have work due, and who is working on them.

A worker leases a conversation before touching it, so the messages of one
conversation are handled one at a time and in order, by one worker, even with
several service processes on one PostgreSQL database. A lease that is not
renewed (its worker died) expires; a restarted worker with the same instance id
takes its own leases back at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, union, update
from sqlalchemy.orm import Session

from bot.adapters.tables import Conversation, InboxMessage, OutboxMessage
from bot.domain.delivery import UNSENT_STATUSES

__all__ = ["claim", "due_conversations", "release", "release_all"]


def due_conversations(
    session: Session, now: datetime, holding_after: timedelta, limit: int = 100
) -> list[str]:
    inbox_due = select(InboxMessage.conversation_id).where(
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
    outbox_due = select(OutboxMessage.conversation_id).where(
        OutboxMessage.status.in_(UNSENT_STATUSES), OutboxMessage.next_attempt_at <= now
    )
    due = union(inbox_due, outbox_due).subquery()
    rows = session.execute(
        select(Conversation.id)
        .where(
            Conversation.id.in_(select(due.c[0])),
            or_(Conversation.lease_until.is_(None), Conversation.lease_until < now),
        )
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
