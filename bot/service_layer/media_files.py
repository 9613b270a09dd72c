"""Attachments at rest: each file sealed with its conversation's data key, bound to
the message and position it came in."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.adapters.tables import MediaItem
from bot.adapters.vault import vault_of

__all__ = ["open_media", "seal_media"]


def _field(inbox_id: int, idx: int) -> str:
    return f"media:{inbox_id}:{idx}"


def seal_media(
    session: Session, conversation_id: str, inbox_id: int, idx: int, data: bytes
) -> bytes:
    return vault_of(session).seal_bytes(session, conversation_id, _field(inbox_id, idx), data)


def open_media(session: Session, item: MediaItem) -> bytes | None:
    """The file's bytes; None when none was kept, or it was erased or expired."""
    if item.data is None:
        return None
    return vault_of(session).open_bytes(
        session, item.conversation_id, _field(item.inbox_id, item.idx), item.data
    )
