"""Conversations for tests, stored as gangway stores them: found by the number's keyed
hash, the number sealed with the conversation's own data key."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.adapters.tables import Conversation
from bot.adapters.vault import vault_of

__all__ = ["add_prospect", "opened", "sealed"]


def add_prospect(session: Session, number: str, conv: Conversation) -> Conversation:
    """Add ``conv`` as the conversation of the WhatsApp ``number``."""
    vault = vault_of(session)
    conv.number_hmac = vault.lookup(number)
    session.add(conv)
    session.flush()
    vault.create_key(session, conv.id, conv.created_at)
    conv.number_sealed = vault.seal(session, conv.id, "number", number)
    return conv


def opened(session: Session, conversation_id: str, field: str, sealed: str) -> str:
    """A sealed field as a reader with the keys sees it."""
    return vault_of(session).read(session, conversation_id, field, sealed)


def sealed(session: Session, conversation_id: str, field: str, text: str) -> str:
    """``text`` as gangway stores it in ``field``."""
    return vault_of(session).seal(session, conversation_id, field, text)
