"""The built-in secure chat's messages: the prospect's and the advisor's, in order.

Bodies and files are sealed with the conversation's data key (erasing it leaves
"[erased]" and no file); every message is an audit record in the same chain
(``secure_message_received`` from the prospect, ``secure_message_sent`` from an
advisor) whose sealed content holds the text and the file's name and SHA-256.

Only the advisor who claimed the conversation's handoff may write in it
(``NotAllowed`` otherwise); whoever may read the handoff may read the chat. An
advisor's message to a prospect who is not on the page brings one WhatsApp notice
(``secure_links.notify_if_away``).

A file is a PDF, PNG or JPEG (recognised by its first bytes, not by what the browser
claims), of at most ``MAX_FILE_BYTES``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.adapters import audit_log
from bot.adapters.tables import Conversation, Handoff, SecureChat, SecureMessage, User
from bot.adapters.vault import Erased, vault_of
from bot.domain.access import Action, Actor, Role, can, reads_conversations
from bot.domain.flows import Flow
from bot.service_layer import handoffs, secure_links
from bot.service_layer.handoffs import HandoffError, NotAllowed, NotFound
from bot.service_layer.secure_sessions import ChatSession

if TYPE_CHECKING:
    from bot.service_layer.transition import InviteSettings

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_TEXT",
    "AdvisorChat",
    "Attachment",
    "ChatGone",
    "FileRefused",
    "MessageView",
    "NoChat",
    "TooLarge",
    "Upload",
    "advisor_attachment",
    "advisor_chat",
    "attachment",
    "messages_after",
    "post_advisor_message",
    "post_prospect_message",
    "prospect_left",
]

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_TEXT = 4000
_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


class TooLarge(HandoffError):
    status = 413


class FileRefused(HandoffError):
    status = 415


class NoChat(HandoffError):
    """The prospect has not opened the secure chat (or uses an external messenger)."""

    status = 409


class ChatGone(HandoffError):
    """The conversation was erased: nothing of it can be read or added."""

    status = 410


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes


@dataclass(frozen=True)
class Attachment:
    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class MessageView:
    id: int
    author: str  # prospect | advisor
    advisor: str | None  # the advisor's display name
    text: str
    at: datetime
    file_name: str | None
    file_type: str | None
    file_size: int | None
    seen_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "author": self.author,
            "advisor": self.advisor,
            "text": self.text,
            "at": self.at.isoformat(),
            "file": None
            if self.file_name is None
            else {"name": self.file_name, "type": self.file_type, "size": self.file_size},
            "seen": self.seen_at is not None,
        }


def _content_type(upload: Upload) -> str:
    if len(upload.data) > MAX_FILE_BYTES:
        raise TooLarge(f"a file may be at most {MAX_FILE_BYTES // (1024 * 1024)} MB")
    if not upload.data:
        raise FileRefused("the file is empty")
    for signature, content_type in _SIGNATURES:
        if upload.data.startswith(signature):
            return content_type
    raise FileRefused("only PDF, PNG and JPEG files can be sent")


def _file_name(name: str, content_type: str) -> str:
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(c for c in base if c.isprintable() and c not in "\"'<>;").strip(" .")[:120]
    return base or {"application/pdf": "file.pdf", "image/png": "image.png"}.get(
        content_type, "image.jpg"
    )


def _store(
    session: Session,
    conversation_id: str,
    *,
    author: str,
    user_id: int | None,
    text: str,
    upload: Upload | None,
    now: datetime,
) -> tuple[SecureMessage, dict[str, Any]]:
    """The sealed message row, and the content its audit record seals."""
    body = text.strip()
    if len(body) > MAX_TEXT:
        raise HandoffError(f"a message is at most {MAX_TEXT} characters")
    if not body and upload is None:
        raise HandoffError("the message is empty")
    vault = vault_of(session)
    row = SecureMessage(conversation_id=conversation_id, author=author, user_id=user_id)
    content: dict[str, Any] = {"text": body, "file": None}
    try:
        row.body = vault.seal(session, conversation_id, "secure_body", body)
        if upload is not None:
            content_type = _content_type(upload)
            name = _file_name(upload.name, content_type)
            digest = hashlib.sha256(upload.data).hexdigest()
            row.attachment_name = vault.seal(session, conversation_id, "secure_file_name", name)
            row.attachment_type = content_type
            row.attachment_size = len(upload.data)
            row.attachment_sha256 = digest
            content["file"] = {"name": name, "sha256": digest}
    except Erased as exc:
        raise ChatGone("this conversation was erased") from exc
    row.created_at = now
    session.add(row)
    session.flush()
    if upload is not None:
        row.attachment_data = vault.seal_bytes(
            session, conversation_id, f"secure_file:{row.id}", upload.data
        )
    return row, content


def _file_meta(row: SecureMessage) -> dict[str, Any] | None:
    if row.attachment_type is None:
        return None
    return {
        "content_type": row.attachment_type,
        "size": row.attachment_size,
        "sha256": row.attachment_sha256,
    }


def prospect_left(session: Session, conversation_id: str, now: datetime) -> None:
    """The prospect's page was closed or hidden: they are away from now on, so an
    advisor's next message brings a WhatsApp notice at once."""
    chat = session.get(SecureChat, conversation_id)
    if chat is not None:
        chat.prospect_left_at = now


def post_prospect_message(
    session: Session, chat: ChatSession, text: str, upload: Upload | None, now: datetime
) -> MessageView:
    """The prospect writes (or sends a file) from their page."""
    if not chat.active:
        raise NotAllowed("this secure chat session has ended")
    row, content = _store(
        session,
        chat.conversation_id,
        author="prospect",
        user_id=None,
        text=text,
        upload=upload,
        now=now,
    )
    audit_log.append(
        session,
        kind="secure_message_received",
        conversation_id=chat.conversation_id,
        payload={"message_id": row.id, "session_id": chat.session_id, "file": _file_meta(row)},
        content=content,
        now=now,
    )
    return _views(session, [row])[0]


def _claimed(session: Session, actor: Actor, handoff_id: int) -> Handoff:
    handoff = handoffs.get_readable(session, actor, handoff_id)
    if not can(actor, Action.REPLY, handoffs.facts(session, handoff)):
        raise NotAllowed(
            "Only the advisor who claimed this handoff may write in its secure chat: "
            "claim it first."
        )
    return handoff


def _chat(session: Session, conversation_id: str) -> SecureChat:
    conv = session.get_one(Conversation, conversation_id)
    if conv.erased_at is not None:
        raise ChatGone("this conversation was erased")
    chat = session.get(SecureChat, conversation_id)
    if chat is None:
        raise NoChat("The prospect has not opened the secure chat, so nothing can be sent there.")
    return chat


def post_advisor_message(
    session: Session,
    actor: Actor,
    handoff_id: int,
    text: str,
    upload: Upload | None,
    now: datetime,
    flow: Flow,
    links: InviteSettings,
) -> MessageView:
    """The advisor who claimed the handoff writes in its secure chat; a prospect not on
    the page gets one WhatsApp notice with a fresh link back."""
    handoff = _claimed(session, actor, handoff_id)
    chat = _chat(session, handoff.conversation_id)
    row, content = _store(
        session,
        handoff.conversation_id,
        author="advisor",
        user_id=actor.user_id,
        text=text,
        upload=upload,
        now=now,
    )
    audit_log.append(
        session,
        kind="secure_message_sent",
        conversation_id=handoff.conversation_id,
        payload={
            "message_id": row.id,
            "handoff_id": handoff.id,
            "user_id": actor.user_id,
            "file": _file_meta(row),
        },
        content=content,
        now=now,
    )
    conv = session.get_one(Conversation, handoff.conversation_id)
    secure_links.notify_if_away(session, conv, chat, flow, now, links)
    return _views(session, [row])[0]


def _views(session: Session, rows: list[SecureMessage]) -> list[MessageView]:
    vault = vault_of(session)
    ids = {r.user_id for r in rows if r.user_id is not None}
    names = {
        user_id: name
        for user_id, name in session.execute(
            select(User.id, User.display_name).where(User.id.in_(ids))
        )
    }
    out = []
    for r in rows:
        cid = r.conversation_id
        name = None
        if r.attachment_name is not None:
            name = vault.read(session, cid, "secure_file_name", r.attachment_name)
        out.append(
            MessageView(
                id=r.id,
                author=r.author,
                advisor=names.get(r.user_id) if r.user_id is not None else None,
                text=vault.read(session, cid, "secure_body", r.body),
                at=r.created_at,
                file_name=name,
                file_type=r.attachment_type,
                file_size=r.attachment_size,
                seen_at=r.seen_at,
            )
        )
    return out


def messages_after(
    session: Session,
    conversation_id: str,
    after: int,
    now: datetime,
    *,
    prospect_looking: bool = False,
) -> list[MessageView]:
    """The chat's messages after id ``after``, oldest first. When the prospect's page
    asks, they are present now and have seen the advisor's messages."""
    if prospect_looking:
        chat = session.get(SecureChat, conversation_id)
        if chat is not None:
            chat.last_prospect_seen_at = now
        session.execute(
            update(SecureMessage)
            .where(
                SecureMessage.conversation_id == conversation_id,
                SecureMessage.author == "advisor",
                SecureMessage.seen_at.is_(None),
            )
            .values(seen_at=now)
            .execution_options(synchronize_session=False)
        )
    rows = list(
        session.scalars(
            select(SecureMessage)
            .where(SecureMessage.conversation_id == conversation_id, SecureMessage.id > after)
            .order_by(SecureMessage.id)
        )
    )
    return _views(session, rows)


def attachment(session: Session, conversation_id: str, message_id: int) -> Attachment:
    """A message's file, for a reader of that conversation's chat."""
    row = session.get(SecureMessage, message_id)
    if row is None or row.conversation_id != conversation_id or row.attachment_type is None:
        raise NotFound("there is no such file")
    vault = vault_of(session)
    data = None
    if row.attachment_data is not None:
        data = vault.open_bytes(
            session, conversation_id, f"secure_file:{row.id}", row.attachment_data
        )
    if data is None:
        raise ChatGone("this file was erased")
    name = vault.read(session, conversation_id, "secure_file_name", row.attachment_name)
    return Attachment(name, row.attachment_type, data)


@dataclass(frozen=True)
class AdvisorChat:
    """The secure chat as the console shows it beside the WhatsApp transcript."""

    handoff_id: int
    conversation_id: str
    opened: bool  # whether the prospect ever opened it
    erased: bool
    can_write: bool  # the viewer claimed the handoff
    write_refusal: str | None
    prospect_present: bool
    messages: list[MessageView]


def advisor_chat(session: Session, actor: Actor, handoff_id: int, now: datetime) -> AdvisorChat:
    """A readable handoff's secure chat (NotFound when the handoff is not readable)."""
    handoff = handoffs.get_readable(session, actor, handoff_id)
    conv = session.get_one(Conversation, handoff.conversation_id)
    chat = session.get(SecureChat, handoff.conversation_id)
    erased = conv.erased_at is not None
    refusal = None
    if chat is None:
        refusal = "The prospect has not opened the secure chat."
    elif erased:
        refusal = "This conversation was erased."
    elif not reads_conversations(actor) or actor.role is Role.COMPLIANCE:
        refusal = "Your role can read this conversation but not change it."
    elif not can(actor, Action.REPLY, handoffs.facts(session, handoff)):
        refusal = "Only the advisor who claimed this handoff may write in its secure chat."
    return AdvisorChat(
        handoff_id=handoff.id,
        conversation_id=handoff.conversation_id,
        opened=chat is not None,
        erased=erased,
        can_write=refusal is None,
        write_refusal=refusal,
        prospect_present=chat is not None and secure_links.prospect_present(chat, now),
        messages=messages_after(session, handoff.conversation_id, 0, now),
    )


def advisor_attachment(
    session: Session, actor: Actor, handoff_id: int, message_id: int
) -> Attachment:
    handoff = handoffs.get_readable(session, actor, handoff_id)
    return attachment(session, handoff.conversation_id, message_id)
