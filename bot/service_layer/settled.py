"""Whether a conversation has settled: its message answered, nothing left to do now.

Whoever plays a conversation message by message (`gangway flows test`, `gangway
simulate`, the end-to-end scripts) waits for this before looking at the replies: the
inbound message is processed, no timer is due, and no reply is still waiting to be sent.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.tables import Conversation, InboxMessage, OutboxMessage, Timer
from bot.adapters.vault import vault_of

__all__ = ["conversation_of", "settled"]


def conversation_of(s: Session, number: str) -> Conversation | None:
    """The conversation with this WhatsApp number, if it has one yet."""
    return s.execute(
        select(Conversation).where(Conversation.number_hmac == vault_of(s).lookup(number))
    ).scalar_one_or_none()


def settled(s: Session, number: str, sid: str | None, now: datetime) -> bool:
    """The message ``sid`` (if any) is answered, timers due by ``now`` have fired, and
    nothing is left to send to ``number``."""
    conv = conversation_of(s, number)
    if conv is None:
        return False
    if sid is not None:
        status = s.execute(
            select(InboxMessage.status).where(InboxMessage.message_sid == sid)
        ).scalar_one_or_none()
        if status in (None, "pending"):
            return False
    due = s.execute(
        select(Timer.id).where(
            Timer.conversation_id == conv.id, Timer.status == "pending", Timer.due_at <= now
        )
    ).first()
    unsent = s.execute(
        select(OutboxMessage.id).where(
            OutboxMessage.conversation_id == conv.id,
            OutboxMessage.status.in_(("pending", "sending")),
        )
    ).first()
    return due is None and unsent is None
