"""What people see of a handoff's conversation: its summary and its transcript."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.tables import (
    Consent,
    Conversation,
    InboxMessage,
    Invite,
    MessageClassification,
    OutboxMessage,
)
from bot.adapters.vault import vault_of
from bot.service_layer.qualification import qualification_of

__all__ = ["TranscriptLine", "summarise", "transcript"]


def summarise(session: Session, conv: Conversation, reason: str, public_url: str) -> dict[str, Any]:
    """A handoff's summary; it names the rules that fired, never the values."""
    classifications = list(
        session.execute(
            select(MessageClassification)
            .where(MessageClassification.conversation_id == conv.id)
            .order_by(MessageClassification.id)
        ).scalars()
    )
    asked = [c.intent for c in classifications if c.forwarded and c.intent]
    consent = (
        session.execute(
            select(Consent).where(Consent.conversation_id == conv.id).order_by(Consent.id.desc())
        )
        .scalars()
        .first()
    )
    trigger = None
    if consent is not None and consent.trigger_inbox_id is not None:
        row = next((c for c in classifications if c.inbox_id == consent.trigger_inbox_id), None)
        if row is not None:
            trigger = {
                "level": row.level,
                # Which rules fired and at what level: never the text or the values.
                "evidence": [
                    {k: e[k] for k in ("source", "name", "level", "confidence") if k in e}
                    for e in json.loads(row.evidence)
                ],
            }
    invite = (
        session.execute(
            select(Invite).where(Invite.conversation_id == conv.id).order_by(Invite.id.desc())
        )
        .scalars()
        .first()
    )
    qualified = qualification_of(session, conv.id)
    return {
        "reason": reason,
        "level": conv.level,
        "state": conv.state,
        "language": conv.language,
        "asked_about": list(dict.fromkeys(asked)),
        "trigger": trigger,
        "consent": None
        if consent is None
        else {
            "id": consent.id,
            "decision": consent.decision,
            "terms_version": consent.terms_version,
            "shown_sha256": consent.shown_sha256,
            "decided_at": consent.decided_at.isoformat() if consent.decided_at else None,
        },
        "invite": None if invite is None else {"id": invite.id, "status": invite.status},
        # What the prospect told the bot's qualification questions ("skipped" where
        # they chose not to say); None when they answered none.
        "qualification": None
        if qualified is None
        else {**qualified["answers"], "complete": qualified["complete"]},
        "transcript": f"{public_url.rstrip('/')}/console/conversations/{conv.id}",
    }


@dataclass(frozen=True)
class TranscriptLine:
    at: datetime
    direction: str  # inbound | outbound
    text: str
    level: str | None  # inbound: the message's classified level
    kind: str | None  # outbound: reply | protocol | consent | timer | advisor ...
    status: str | None
    error: str | None = None  # outbound: why it failed, when it did


def transcript(session: Session, conversation_id: str) -> list[TranscriptLine]:
    """The conversation as the prospect saw it, in order, with each message's level.

    Opened for the reader; an invite's link shows as its placeholder, an erased
    conversation's messages as "[erased]".
    """
    # Rows into a dict by hand: a Result has keys(), so dict(result) would misread it.
    levels = {
        inbox_id: level
        for inbox_id, level in session.execute(
            select(MessageClassification.inbox_id, MessageClassification.level).where(
                MessageClassification.conversation_id == conversation_id
            )
        )
    }
    vault = vault_of(session)

    def opened(field: str, sealed: str) -> str:
        return vault.read(session, conversation_id, field, sealed)

    lines = [
        TranscriptLine(
            m.received_at, "inbound", opened("body", m.body), levels.get(m.id), None, m.status
        )
        for m in session.execute(
            select(InboxMessage).where(InboxMessage.conversation_id == conversation_id)
        ).scalars()
    ]
    lines += [
        TranscriptLine(
            o.created_at,
            "outbound",
            opened("outbox_body", o.body),
            None,
            o.kind,
            o.status,
            o.last_error if o.status in ("failed", "undelivered") else None,
        )
        for o in session.execute(
            select(OutboxMessage).where(OutboxMessage.conversation_id == conversation_id)
        ).scalars()
    ]
    return sorted(lines, key=lambda line: (line.at, line.direction != "inbound"))
