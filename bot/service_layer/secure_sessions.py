"""The prospect's device sessions in the built-in secure chat.

Redeeming an invite link opens one session for the browser that used it; the cookie
holds a random token and the table only its SHA-256, so the link works once and the
cookie is the device. A session ends after ``idle`` without a request from the page
and ``absolute`` after it opened, whichever comes first; the way back is a fresh link,
asked for on WhatsApp. Opening a session ends the conversation's earlier ones: the
newest device is the only one in the chat.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.adapters import audit_log
from bot.adapters.tables import Conversation, SecureChat, SecureSession

__all__ = [
    "ChatSession",
    "SessionPolicy",
    "csrf_for",
    "end_sessions",
    "open_session",
    "session_of",
    "token_digest",
]


@dataclass(frozen=True)
class SessionPolicy:
    """GANGWAY_SECURE_IDLE_MINUTES and GANGWAY_SECURE_SESSION_HOURS."""

    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)


@dataclass(frozen=True)
class ChatSession:
    """A presented cookie's session. ``active`` is False once it ended: the page then
    says how to come back, in the conversation's language."""

    session_id: int
    conversation_id: str
    language: str | None
    active: bool


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_for(token: str) -> str:
    """The CSRF token of a session: derived one way, so the page showing it cannot give
    the session away."""
    return hashlib.sha256(b"gangway-secure-csrf\0" + token.encode()).hexdigest()


def open_session(
    session: Session, conversation_id: str, now: datetime, policy: SessionPolicy
) -> str:
    """A new session for the conversation's chat (made on its first opening); the token."""
    if session.get(SecureChat, conversation_id) is None:
        session.add(SecureChat(conversation_id=conversation_id, opened_at=now))
    ended = end_sessions(session, conversation_id, now)
    token = secrets.token_urlsafe(32)
    row = SecureSession(
        token_sha256=token_digest(token),
        conversation_id=conversation_id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.absolute,
    )
    session.add(row)
    session.flush()
    audit_log.append(
        session,
        kind="secure_session_opened",
        conversation_id=conversation_id,
        payload={"session_id": row.id, "ended_session_ids": ended},
        now=now,
    )
    return token


def end_sessions(session: Session, conversation_id: str, now: datetime) -> list[int]:
    """End the conversation's open sessions (a newer device, or the conversation erased)."""
    return sorted(
        session.scalars(
            update(SecureSession)
            .where(
                SecureSession.conversation_id == conversation_id,
                SecureSession.ended_at.is_(None),
            )
            .values(ended_at=now)
            .returning(SecureSession.id)
        )
    )


def session_of(
    session: Session, token: str, now: datetime, policy: SessionPolicy, *, touch: bool = True
) -> ChatSession | None:
    """The cookie's session (None for a token never issued), ended now if past a limit
    or its conversation was erased; a live one counts this request as activity."""
    if not token:
        return None
    row = session.scalars(
        select(SecureSession).where(SecureSession.token_sha256 == token_digest(token))
    ).one_or_none()
    if row is None:
        return None
    conv = session.get_one(Conversation, row.conversation_id)
    if row.ended_at is None:
        reason = None
        if conv.erased_at is not None:
            reason = "conversation erased"
        elif now >= row.expires_at:
            reason = "absolute limit"
        elif now - row.last_seen_at >= policy.idle:
            reason = "idle"
        if reason is not None:
            row.ended_at = now
            audit_log.append(
                session,
                kind="secure_session_ended",
                conversation_id=conv.id,
                payload={"session_id": row.id, "reason": reason},
                now=now,
            )
        elif touch:
            row.last_seen_at = now
    return ChatSession(row.id, conv.id, conv.language, active=row.ended_at is None)
