"""The advisor's side of the built-in secure chat, one use case each: read the chat
beside the WhatsApp transcript, write in it (text or a file), download a file.
Who may is ``handoff_access``'s; the chat itself is ``secure_chat``'s."""

from __future__ import annotations

from datetime import datetime

from bot.adapters.db import SessionFactory
from bot.domain.access import Actor
from bot.domain.flows import Flow
from bot.service_layer import secure_chat
from bot.service_layer.flow_in_force import handoff_flow
from bot.service_layer.secure_chat import AdvisorChat, Attachment, MessageView, Upload
from bot.service_layer.transition import InviteSettings

__all__ = ["download", "read", "write"]


def read(sessions: SessionFactory, actor: Actor, handoff_id: int, now: datetime) -> AdvisorChat:
    """The handoff's secure chat, if ``actor`` may read the handoff (NotFound otherwise)."""
    with sessions.begin() as s:
        return secure_chat.advisor_chat(s, actor, handoff_id, now)


def write(
    sessions: SessionFactory,
    actor: Actor,
    handoff_id: int,
    text: str,
    upload: Upload | None,
    now: datetime,
    flow: Flow,
    links: InviteSettings,
) -> MessageView:
    """The advisor who claimed the handoff writes in its secure chat (a ``HandoffError``
    saying why when they may not)."""
    with sessions.begin() as s:
        return secure_chat.post_advisor_message(
            s, actor, handoff_id, text, upload, now, handoff_flow(s, handoff_id, flow), links
        )


def download(
    sessions: SessionFactory, actor: Actor, handoff_id: int, message_id: int
) -> Attachment:
    """A message's file, if ``actor`` may read the handoff."""
    with sessions.begin() as s:
        return secure_chat.advisor_attachment(s, actor, handoff_id, message_id)
