"""Taking things in from webhooks: inbound messages and delivery status callbacks.

Both run inside the webhook request, so they only write rows; the work itself
is done later by the worker.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.adapters import audit_log
from bot.adapters.sid_locks import lock_provider_sids
from bot.adapters.tables import Conversation, InboxMessage, OutboxMessage, StatusEvent
from bot.adapters.vault import vault_of
from bot.domain.delivery import advance_status
from bot.domain.inbound import InboundMessage
from bot.domain.sender_rate import SenderRate, next_slot
from bot.domain.whatsapp_window import failure_reason

__all__ = ["conversation_for", "hold_rows", "record_inbound", "record_status"]

log = logging.getLogger(__name__)


def conversation_for(session: Session, wa_number: str, now: datetime) -> Conversation:
    """The conversation with this WhatsApp number, created on first contact.

    It is found by the number's keyed hash; a new one gets its own data key, and its
    number is kept sealed with it.
    """
    vault = vault_of(session)
    lookup = vault.lookup(wa_number)
    conv = session.execute(
        select(Conversation).where(Conversation.number_hmac == lookup)
    ).scalar_one_or_none()
    if conv is not None:
        return conv
    conv = Conversation(id="c-" + secrets.token_hex(16), number_hmac=lookup, created_at=now)
    try:
        with session.begin_nested():
            session.add(conv)
            session.flush()
            vault.create_key(session, conv.id, now)
            conv.number_sealed = vault.seal(session, conv.id, "number", wa_number)
    except IntegrityError:
        # Another request created it first.
        return session.execute(
            select(Conversation).where(Conversation.number_hmac == lookup)
        ).scalar_one()
    return conv


def hold_rows(session: Session, *, lanes: list[str], provider_sids: list[str]) -> None:
    """Lock, in a fixed order, the conversations (by their numbers' keyed hashes) and
    outbound messages (by provider sid) that recording a batch will change, so that the
    batch waits for them before it holds anything the worker waits for."""
    if lanes:
        session.execute(
            select(Conversation.id)
            .where(Conversation.number_hmac.in_(sorted(set(lanes))))
            .order_by(Conversation.id)
            .with_for_update()
        ).all()
    if provider_sids:
        session.execute(
            select(OutboxMessage.id)
            .where(OutboxMessage.provider_sid.in_(sorted(set(provider_sids))))
            .order_by(OutboxMessage.id)
            .with_for_update()
        ).all()
        # A send being recorded right now has no provider id on its row yet: wait for it.
        lock_provider_sids(session, provider_sids)


def record_inbound(
    session: Session, msg: InboundMessage, now: datetime, rate: SenderRate | None = None
) -> bool:
    """Store a new inbound message; False (and nothing changed) for a redelivery.

    With a `rate`, a sender over it still has the message stored now, but it becomes
    due for processing only at its slot (the worker answers it then, in order).
    """
    exists = session.execute(
        select(InboxMessage.id).where(InboxMessage.message_sid == msg.message_sid)
    ).first()
    if exists:
        return False
    conv = conversation_for(session, msg.from_number, now)
    vault = vault_of(session)
    conv.last_inbound_at = now
    if msg.profile_name:
        conv.profile_name = vault.seal(session, conv.id, "profile_name", msg.profile_name)
    due_at = now if rate is None else _slot(session, conv.id, now, rate)
    row = InboxMessage(
        message_sid=msg.message_sid,
        conversation_id=conv.id,
        body=vault.seal(session, conv.id, "body", msg.body),
        params=vault.seal(session, conv.id, "params", json.dumps(msg.params, sort_keys=True)),
        received_at=now,
        status="pending",
        attempts=0,
        next_attempt_at=due_at,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False  # the same MessageSid, delivered twice at once
    audit_log.append(
        session,
        kind="inbound_message",
        conversation_id=conv.id,
        payload=_inbound_payload(msg, now, due_at),
        content={"params": msg.params},
        now=now,
    )
    return True


def _slot(session: Session, conversation_id: str, now: datetime, rate: SenderRate) -> datetime:
    """When this sender's new message is due, from the slots of their latest ones.

    The slots are the inbox rows' `next_attempt_at`: a retry only ever moves one
    later, which makes the spacing stricter, never looser.
    """
    recent = session.execute(
        select(InboxMessage.next_attempt_at)
        .where(InboxMessage.conversation_id == conversation_id)
        .order_by(InboxMessage.id.desc())
        .limit(rate.count)
    ).scalars()
    return next_slot(list(reversed(list(recent))), now, rate)


def _inbound_payload(msg: InboundMessage, now: datetime, due_at: datetime) -> dict[str, object]:
    """The audit record of an arrival; a deferred one says until when, so the wait
    an auditor sees before the answer is explained."""
    payload: dict[str, object] = {"message_sid": msg.message_sid, "num_media": msg.num_media}
    if due_at > now:
        payload["deferred_until"] = due_at.isoformat()
    return payload


def record_status(
    session: Session, *, sid: str, status: str, error_code: str | None, now: datetime
) -> bool:
    """Record a delivery status callback. Returns whether an outbound message moved."""
    lock_provider_sids(session, [sid])
    session.execute(
        insert(StatusEvent).values(
            provider_sid=sid, status=status, error_code=error_code, received_at=now
        )
    )
    out = session.execute(
        select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.conversation_id)
        .where(OutboxMessage.provider_sid == sid)
        .with_for_update()
    ).one_or_none()
    moved = False
    if out is not None:
        new = advance_status(out.status, status)
        if new != out.status:
            values: dict[str, object] = {"status": new, "updated_at": now}
            if error_code and new in ("failed", "undelivered"):
                values["error_code"] = error_code
                # Final: a failed message is never sent again; say why where it can be seen.
                if reason := failure_reason(error_code):
                    values["last_error"] = reason
                    log.warning("outbox %s: %s", out.id, reason)
            session.execute(update(OutboxMessage).where(OutboxMessage.id == out.id).values(values))
            moved = True
    audit_log.append(
        session,
        kind="delivery_status",
        conversation_id=out.conversation_id if out else None,
        payload={
            "provider_sid": sid,
            "status": status,
            "error_code": error_code,
            "outbox_id": out.id if out else None,
            "applied": moved,
        },
        now=now,
    )
    return moved
