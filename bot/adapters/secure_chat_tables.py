"""The built-in secure chat's tables: the chat of a conversation, the prospect's
device sessions, and the messages of both sides (bodies and files sealed with the
conversation's data key, so erasing the conversation makes them unreadable)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.adapters.schema_base import Base, UTCDateTime

__all__ = ["SecureChat", "SecureMessage", "SecureSession"]


class SecureChat(Base):
    """A conversation's secure chat, made when the prospect first opened it."""

    __tablename__ = "secure_chats"

    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When the prospect's page last polled: whether they are looking now.
    last_prospect_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the prospect's page said it was closed or hidden: away at once, not 30 s later.
    prospect_left_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the last WhatsApp notice of an advisor's message was queued: one per absence.
    notice_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SecureSession(Base):
    """One browser's session in the chat; the cookie holds the token, this only its SHA-256."""

    __tablename__ = "secure_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the absolute limit
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SecureMessage(Base):
    """A message in the secure chat, from the prospect or an advisor, with at most one file."""

    __tablename__ = "secure_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    author: Mapped[str] = mapped_column(String(16))  # prospect | advisor
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text, default="")  # sealed
    attachment_name: Mapped[str | None] = mapped_column(Text)  # sealed
    attachment_type: Mapped[str | None] = mapped_column(String(100))
    attachment_size: Mapped[int | None] = mapped_column(Integer)
    attachment_sha256: Mapped[str | None] = mapped_column(String(64))
    attachment_data: Mapped[bytes | None] = mapped_column(LargeBinary)  # sealed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When the other side's page showed it (for an advisor's message: the prospect's poll).
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
