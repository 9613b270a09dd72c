"""The secure messenger says the prospect opened their invite: record the callback as
evidence and, when the invite could still be used, mark it used and hand the
conversation off.

The callback is stored first (its event id refuses replays from now on) and, if the
invite is still active and was opened before it expired, the invite is marked used in
the same transaction, with an audit record. After the commit the conversation moves on
(``hand_off``). An invite that was already used, superseded or had expired is not
activated again: the activation is ``ignored``, with the invite's standing saying why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory
from bot.adapters.invites import schedule_activation_backstop, use_invite
from bot.adapters.tables import ChannelCallback, Invite
from bot.adapters.vault import vault_of

__all__ = ["Activation", "ActivationCallback", "record_activation"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActivationCallback:
    """One authentic callback, as the provider signed it."""

    event_id: str
    invite_id: str  # the provider's id of the invite
    activated_at: datetime | None  # the provider's time of opening, when it gave one
    raw: str  # the body as received: the evidence


@dataclass(frozen=True)
class Activation:
    """What became of a callback: ``replay`` (its event id was seen before),
    ``unknown_invite`` (gangway never issued it), ``ignored`` (``standing`` says the
    invite's status) or ``activated``."""

    outcome: Literal["activated", "ignored", "replay", "unknown_invite"]
    standing: str | None = None


def record_activation(
    sessions: SessionFactory,
    now: datetime,
    callback: ActivationCallback,
    hand_off: Callable[[str], None],
) -> Activation:
    """Record ``callback``; when it activates an invite, ``hand_off(conversation_id)``
    after the commit."""
    try:
        with sessions.begin() as session:
            outcome, conversation_id = _record(session, callback, now)
    except IntegrityError:
        # The same event arriving twice at once: the unique event id let one in.
        return Activation("replay")
    if conversation_id is not None:
        try:
            hand_off(conversation_id)
        except Exception:
            # The activation is stored and a retry would be refused as a replay, so
            # failing the callback would help nobody: the operators get the log.
            log.exception(
                "handing off conversation %s after its activation failed (event %s)",
                conversation_id,
                callback.event_id,
            )
    return outcome


def _record(
    session: Session, callback: ActivationCallback, now: datetime
) -> tuple[Activation, str | None]:
    event_id = callback.event_id
    if session.scalar(select(ChannelCallback.id).where(ChannelCallback.event_id == event_id)):
        return Activation("replay"), None
    invite = session.scalars(
        select(Invite).where(Invite.external_id == callback.invite_id).with_for_update()
    ).one_or_none()
    if invite is None:
        return Activation("unknown_invite"), None
    row = ChannelCallback(
        event_id=event_id,
        provider=invite.provider,
        conversation_id=invite.conversation_id,
        # As received and signed, the evidence; sealed, as it may name the prospect.
        payload=vault_of(session).seal_unless_erased(
            session, invite.conversation_id, "channel_callback", callback.raw
        ),
        received_at=now,
    )
    session.add(row)
    session.flush()
    # The provider's own time of opening (never later than now) decides against expiry,
    # so a callback that took a moment to arrive still counts.
    opened_at = min(callback.activated_at or now, now)
    claimed = False
    if invite.status == "active" and opened_at < invite.expires_at:
        # Two different events for one invite activate it once.
        claimed = use_invite(session, invite, now)
        if claimed:
            schedule_activation_backstop(session, invite, now)
    standing = "expired" if invite.status == "active" else invite.status
    payload = {
        "invite_id": invite.id,
        "external_id": callback.invite_id,
        "event_id": event_id,
        "provider": invite.provider,
        "callback_id": row.id,
        "activated_at": opened_at.isoformat(),
    }
    if not claimed:
        audit_log.append(
            session,
            kind="channel_activation_ignored",
            conversation_id=invite.conversation_id,
            payload={**payload, "invite_status": standing},
            now=now,
        )
        return Activation("ignored", standing), None
    audit_log.append(
        session,
        kind="channel_activated",
        conversation_id=invite.conversation_id,
        payload=payload,
        now=now,
    )
    return Activation("activated"), invite.conversation_id
