"""A prospect opens a built-in secure-channel link: looking at it changes nothing (link
previewers fetch it too); redeeming it uses the invite and opens a device session on
the conversation's secure chat in one transaction, then hands the conversation off."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.adapters.db import SessionFactory
from bot.adapters.invites import Redemption, find_invite, redeem_invite
from bot.adapters.tables import Conversation
from bot.service_layer.secure_sessions import SessionPolicy, open_session

__all__ = ["InviteLanding", "look", "redeem"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InviteLanding:
    """What the link does, the conversation's language (to word the page in), and, for
    a redemption that activated it, the new chat session's token."""

    redemption: Redemption
    language: str | None
    chat_token: str | None = None


def _language(session: Session, redemption: Redemption) -> str | None:
    if redemption.conversation_id is None:
        return None
    conversation = session.get(Conversation, redemption.conversation_id)
    return conversation.language if conversation else None


def look(sessions: SessionFactory, token: str, secret: bytes, now: datetime) -> InviteLanding:
    """What redeeming ``token`` now would do, changing nothing."""
    with sessions.begin() as s:
        found = find_invite(s, token=token, secret=secret, now=now)
        return InviteLanding(found, _language(s, found))


def redeem(
    sessions: SessionFactory,
    token: str,
    secret: bytes,
    now: datetime,
    policy: SessionPolicy,
    hand_off: Callable[[str], None] | None,
) -> InviteLanding:
    """Use the link; when that activates the invite, ``hand_off(conversation_id)`` after
    the commit."""
    with sessions.begin() as s:
        result = redeem_invite(s, token=token, secret=secret, now=now)
        chat_token = None
        if result.outcome == "activated" and result.conversation_id is not None:
            chat_token = open_session(s, result.conversation_id, now, policy)
        landing = InviteLanding(result, _language(s, result), chat_token)
    if chat_token is not None and result.conversation_id is not None and hand_off is not None:
        try:
            hand_off(result.conversation_id)
        except Exception:
            # The invite is used and recorded either way; a retry of the page could not
            # hand off again (the link is spent), so the prospect still sees success and
            # the failure goes to the log for the operators.
            log.exception(
                "handing off conversation %s after its activation failed (invite %s)",
                result.conversation_id,
                result.invite_id,
            )
    return landing
