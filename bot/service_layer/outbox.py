"""Outbound messages at rest: the one place that makes outbox rows and opens them.

A row's number, body and template variables are sealed with the conversation's
data key. A message that carries a secure-channel link keeps a placeholder in its
body instead (what transcripts show); the link itself is kept sealed on the invite
and put in only at the moment of sending, and only while the invite can still be
used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.adapters.tables import Conversation, Invite, OutboxMessage
from bot.adapters.vault import vault_of

__all__ = ["Outgoing", "link_placeholder", "new_outbox_row", "outgoing", "shown_body"]


def link_placeholder(invite_id: int) -> str:
    """What stands for an invite's link wherever a message is kept or shown."""
    return f"[secure-channel link, invite #{invite_id}]"


def new_outbox_row(
    session: Session,
    conv: Conversation,
    *,
    kind: str,
    body: str,
    now: datetime,
    inbox_id: int | None = None,
    seq: int = 0,
    content_variables: dict[str, str] | None = None,
    content_sid: str | None = None,
    invite_id: int | None = None,
) -> OutboxMessage:
    """A pending outbox row for ``conv``, its personal fields sealed, added to the session."""
    vault = vault_of(session)
    if conv.number_sealed is None:
        raise ValueError(f"conversation {conv.id} is erased: nothing can be sent to it")
    number = vault.open(session, conv.id, "number", conv.number_sealed)
    if number is None:
        raise ValueError(f"conversation {conv.id} is erased: nothing can be sent to it")
    row = OutboxMessage(
        conversation_id=conv.id,
        inbox_id=inbox_id,
        kind=kind,
        seq=seq,
        to_number=vault.seal(session, conv.id, "to_number", number),
        body=vault.seal(session, conv.id, "outbox_body", body),
        content_variables=(
            vault.seal(session, conv.id, "content_variables", json.dumps(content_variables))
            if content_variables
            else None
        ),
        content_sid=content_sid,
        invite_id=invite_id,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    return row


@dataclass(frozen=True)
class Outgoing:
    """What goes to the provider for one outbox row, opened for the moment of sending.

    ``body`` is None when the message can no longer be sent as it was written: its
    conversation was erased, or the invite whose link it carries is spent.
    """

    to: str
    body: str | None
    content_variables: dict[str, str] | None


def outgoing(session: Session, row: OutboxMessage, now: datetime) -> Outgoing:
    vault = vault_of(session)
    conv_id = row.conversation_id
    to = vault.open(session, conv_id, "to_number", row.to_number)
    body = vault.open(session, conv_id, "outbox_body", row.body)
    variables = None
    if row.content_variables:
        opened = vault.open(session, conv_id, "content_variables", row.content_variables)
        variables = json.loads(opened) if opened else None
    if to is None or body is None:
        return Outgoing("", None, None)
    if row.invite_id is not None:
        invite = session.get_one(Invite, row.invite_id)
        link = None
        live = invite.status == "active" and invite.expires_at > now
        if live and invite.link_sealed:
            link = vault.open(session, conv_id, "invite_link", invite.link_sealed)
        if link is None:
            return Outgoing(to, None, variables)
        placeholder = link_placeholder(row.invite_id)
        body = body.replace(placeholder, link)
        if variables is not None:
            variables = {k: v.replace(placeholder, link) for k, v in variables.items()}
    return Outgoing(to, body, variables)


def shown_body(session: Session, row: OutboxMessage) -> str:
    """The message's text as people may see it: an invite's link stays a placeholder."""
    return vault_of(session).read(session, row.conversation_id, "outbox_body", row.body)
