"""Erasing a prospect (crypto-shredding), and the legal holds that stop it.

Erasing destroys the conversation's data key: every sealed field of it (messages,
number, name, media, consent text, the audit log's contents) becomes unreadable at
once, wherever copies lie, while the audit records themselves stay as they are and
the chain still verifies. What is still due to happen for the conversation (unsent
messages, timers, open invites and handoffs) is stopped, and the number is no longer
found: a later message from it starts a new conversation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.adapters import audit_log, invites, timers
from bot.adapters.tables import (
    Conversation,
    Handoff,
    InboxMessage,
    LegalHold,
    MediaItem,
    OutboxMessage,
    SecureMessage,
)
from bot.adapters.vault import vault_of
from bot.domain.delivery import UNSENT_STATUSES
from bot.service_layer import handoffs
from bot.service_layer.handoff_events import NoHandoffEvents
from bot.service_layer.handoffs import HandoffEvents
from bot.service_layer.qualification import forget_answers
from bot.service_layer.secure_sessions import end_sessions

__all__ = [
    "ErasureError",
    "Held",
    "Hold",
    "erase_conversation",
    "find_conversation",
    "holds",
    "is_held",
    "place_hold",
    "release_hold",
]


class ErasureError(ValueError):
    """The conversation or hold asked for does not exist, or the request is malformed."""


class Held(ErasureError):
    """The conversation is under legal hold: it may not be erased."""

    def __init__(self, conversation_id: str, reasons: list[str]) -> None:
        super().__init__(
            f"conversation {conversation_id} is under legal hold ({'; '.join(reasons)}): "
            "release the hold first with `gangway hold remove`"
        )
        self.conversation_id = conversation_id


def find_conversation(session: Session, *, number: str | None, conversation_id: str | None) -> str:
    """The conversation of a WhatsApp number, or the one with this id."""
    if (number is None) == (conversation_id is None):
        raise ErasureError("give either a WhatsApp number or a conversation id")
    if conversation_id is not None:
        if session.get(Conversation, conversation_id) is None:
            raise ErasureError(f"there is no conversation {conversation_id}")
        return conversation_id
    assert number is not None
    if not number.startswith("whatsapp:+"):
        raise ErasureError(f"{number!r} is not a WhatsApp number (whatsapp:+<country><number>)")
    found = session.execute(
        select(Conversation.id).where(Conversation.number_hmac == vault_of(session).lookup(number))
    ).scalar_one_or_none()
    if found is None:
        raise ErasureError("no conversation is kept for that number")
    return str(found)


# -- legal holds -----------------------------------------------------------------


@dataclass(frozen=True)
class Hold:
    id: int
    conversation_id: str
    reason: str
    placed_at: datetime


def _active_holds(session: Session, conversation_id: str | None = None) -> list[LegalHold]:
    query = select(LegalHold).where(LegalHold.released_at.is_(None)).order_by(LegalHold.id)
    if conversation_id is not None:
        query = query.where(LegalHold.conversation_id == conversation_id)
    return list(session.execute(query).scalars())


def is_held(session: Session, conversation_id: str) -> bool:
    return bool(_active_holds(session, conversation_id))


def holds(session: Session) -> list[Hold]:
    return [Hold(h.id, h.conversation_id, h.reason, h.placed_at) for h in _active_holds(session)]


def place_hold(session: Session, conversation_id: str, reason: str, now: datetime) -> Hold:
    if not reason.strip():
        raise ErasureError("a legal hold needs a reason (--reason)")
    session.get_one(Conversation, conversation_id, with_for_update=True)  # see erase
    hold = LegalHold(conversation_id=conversation_id, reason=reason.strip(), placed_at=now)
    session.add(hold)
    session.flush()
    audit_log.append(
        session,
        kind="legal_hold_placed",
        conversation_id=conversation_id,
        payload={"hold_id": hold.id, "reason": hold.reason},
        now=now,
    )
    return Hold(hold.id, conversation_id, hold.reason, now)


def release_hold(session: Session, conversation_id: str, reason: str, now: datetime) -> list[int]:
    """Release the conversation's holds; their ids."""
    if not reason.strip():
        raise ErasureError("releasing a legal hold needs a reason (--reason)")
    released = _active_holds(session, conversation_id)
    if not released:
        raise ErasureError(f"conversation {conversation_id} is not under legal hold")
    for hold in released:
        hold.released_at = now
        hold.release_reason = reason.strip()
    audit_log.append(
        session,
        kind="legal_hold_released",
        conversation_id=conversation_id,
        payload={"hold_ids": [h.id for h in released], "reason": reason.strip()},
        now=now,
    )
    return [h.id for h in released]


# -- erasure ----------------------------------------------------------------------


def erase_conversation(
    session: Session,
    conversation_id: str,
    *,
    reason: str,
    cause: str,
    now: datetime,
    events: HandoffEvents | None = None,
) -> bool:
    """Crypto-shred the conversation. False when it was erased already.

    ``cause`` says who asked: "request" (an erasure request) or the retention rule.
    Open handoffs are closed as people close them, the CRM told through ``events``.
    Raises Held when a legal hold stands.
    """
    # The conversation's row lock first: a hold placed at this moment waits for it.
    conv = session.get_one(Conversation, conversation_id, with_for_update=True)
    active = _active_holds(session, conversation_id)
    if active:
        raise Held(conversation_id, [h.reason for h in active])
    if conv.erased_at is not None:
        return False
    cancelled = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.conversation_id == conversation_id,
            OutboxMessage.status.in_(UNSENT_STATUSES),
        )
        .values(status="cancelled", updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    session.execute(
        update(InboxMessage)
        .where(InboxMessage.conversation_id == conversation_id, InboxMessage.status == "pending")
        .values(status="erased", processed_at=now)
        .execution_options(synchronize_session=False)
    )
    # The files are the bulk of what is kept: drop them, not only their key.
    session.execute(
        update(MediaItem)
        .where(MediaItem.conversation_id == conversation_id)
        .values(data=None, provider_url=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(SecureMessage)
        .where(SecureMessage.conversation_id == conversation_id)
        .values(attachment_data=None)
        .execution_options(synchronize_session=False)
    )
    # Nobody stays in the secure chat of an erased conversation.
    end_sessions(session, conversation_id, now)
    # The qualification answers are sealed, except where they were copied in clear.
    forget_answers(session, conversation_id)
    stopped_timers = timers.cancel(session, conversation_id=conversation_id, now=now)
    revoked = invites.revoke_invites(session, conversation_id=conversation_id, now=now)
    open_handoffs = session.execute(
        select(Handoff).where(
            Handoff.conversation_id == conversation_id, Handoff.status != "closed"
        )
    ).scalars()
    closed = []
    for handoff in open_handoffs:
        handoffs.close_erased(session, handoff, now, events or NoHandoffEvents())
        closed.append(handoff.id)
    # The record comes first: its contents are sealed with the key about to go.
    audit_log.append(
        session,
        kind="conversation_erased",
        conversation_id=conversation_id,
        payload={
            "cause": cause,
            "reason": reason,
            "messages_cancelled": int(cancelled),
            "timers_cancelled": stopped_timers,
            "invites_revoked": revoked,
            "handoffs_closed": sorted(closed),
        },
        now=now,
    )
    vault_of(session).erase_key(session, conversation_id, now)
    conv.number_hmac = None
    conv.number_sealed = None
    conv.profile_name = None
    conv.erased_at = now
    return True
