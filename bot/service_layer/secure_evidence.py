"""The secure chat's part of a conversation's evidence bundle: both sides' messages in
order, each file's name, type, size and SHA-256, and the files themselves."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters.tables import SecureMessage, User
from bot.adapters.vault import vault_of

__all__ = ["secure_files", "secure_transcript"]

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "application/pdf": "pdf"}


def _file_name(row: SecureMessage) -> str:
    return f"media/secure-{row.id}.{_EXTENSIONS.get(row.attachment_type or '', 'bin')}"


def _rows(s: Session, conversation_id: str) -> list[SecureMessage]:
    return list(
        s.scalars(
            select(SecureMessage)
            .where(SecureMessage.conversation_id == conversation_id)
            .order_by(SecureMessage.id)
        )
    )


def secure_transcript(s: Session, conversation_id: str) -> list[dict[str, Any]]:
    vault = vault_of(s)
    rows = _rows(s, conversation_id)
    ids = {r.user_id for r in rows if r.user_id is not None}
    names = {
        uid: name
        for uid, name in s.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    }
    out = []
    for r in rows:
        file = None
        if r.attachment_type is not None:
            file = {
                "name": vault.read(s, conversation_id, "secure_file_name", r.attachment_name),
                "content_type": r.attachment_type,
                "size": r.attachment_size,
                "sha256": r.attachment_sha256,
                "file": _file_name(r) if r.attachment_data is not None else None,
            }
        out.append(
            {
                "id": r.id,
                "at": r.created_at.isoformat(),
                "author": r.author,
                "user_id": r.user_id,
                "advisor": names.get(r.user_id) if r.user_id is not None else None,
                "text": vault.read(s, conversation_id, "secure_body", r.body),
                "attachment": file,
                "seen_at": r.seen_at.isoformat() if r.seen_at else None,
            }
        )
    return out


def secure_files(s: Session, conversation_id: str) -> list[tuple[str, str | None, bytes]]:
    """(name in the bundle, content type, bytes) of each file still readable."""
    vault = vault_of(s)
    files = []
    for r in _rows(s, conversation_id):
        if r.attachment_data is None:
            continue
        data = vault.open_bytes(s, conversation_id, f"secure_file:{r.id}", r.attachment_data)
        if data is not None:
            files.append((_file_name(r), r.attachment_type, data))
    return files
