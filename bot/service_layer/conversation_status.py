"""Where a conversation stands, for the bot's "what happened to my link?": its chart
state, its newest secure-channel invite (never the link) and its newest handoff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bot.adapters.db import SessionFactory
from bot.adapters.tables import Conversation, Handoff, Invite
from bot.domain.conversation_chart import ConversationChart

__all__ = ["ConversationStatus", "InviteStanding", "UnknownConversation", "status_of"]


class UnknownConversation(LookupError):
    """No conversation has this id."""

    def __init__(self, conversation_id: str) -> None:
        super().__init__(f"no conversation {conversation_id!r}")
        self.conversation_id = conversation_id


@dataclass(frozen=True)
class InviteStanding:
    """The newest invite: active, used, expired or superseded."""

    status: str
    expires_at: datetime
    issued_at: datetime


@dataclass(frozen=True)
class ConversationStatus:
    state: str
    invite: InviteStanding | None
    handoff_status: str | None  # queued, assigned, claimed, escalated or closed


def status_of(sessions: SessionFactory, conversation_id: str, now: datetime) -> ConversationStatus:
    """The conversation's state, newest invite and newest handoff (UnknownConversation
    when there is no such conversation)."""
    with sessions() as s:
        conv = s.get(Conversation, conversation_id)
        if conv is None:
            raise UnknownConversation(conversation_id)
        invite = s.scalars(
            select(Invite)
            .where(Invite.conversation_id == conversation_id)
            .order_by(Invite.id.desc())
            .limit(1)
        ).first()
        handoff_status = s.scalars(
            select(Handoff.status)
            .where(Handoff.conversation_id == conversation_id)
            .order_by(Handoff.id.desc())
            .limit(1)
        ).first()
        return ConversationStatus(
            state=conv.state or ConversationChart.qualifying.id,
            invite=None if invite is None else _standing(invite, now),
            handoff_status=handoff_status,
        )


def _standing(invite: Invite, now: datetime) -> InviteStanding:
    # A read changes nothing: the expiry timer marks the row; until it fires, read it as
    # expired.
    expired = invite.status == "active" and now >= invite.expires_at
    return InviteStanding(
        status="expired" if expired else invite.status,
        expires_at=invite.expires_at,
        issued_at=invite.issued_at,
    )
