"""Links back into the built-in secure chat, sent on WhatsApp once the prospect is in
it: after "new link", with the redirect notice, and with the notice of an advisor's
message. Each is a fresh one-time invite (``bot.adapters.invites``) whose redemption
opens a new device session on the same conversation; the message holds the invite's
placeholder and the link is put in only as it is sent (``bot.service_layer.outbox``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters import audit_log, invites
from bot.adapters.invites import IssuedInvite
from bot.adapters.tables import Consent, Conversation, Invite, OutboxMessage, SecureChat
from bot.adapters.vault import vault_of
from bot.domain.conversation_chart import ConversationChart
from bot.domain.flows import Flow
from bot.service_layer import window_messages
from bot.service_layer.outbox import link_placeholder, new_outbox_row

if TYPE_CHECKING:
    from bot.service_layer.transition import InviteSettings

__all__ = [
    "NOTICE_KEY",
    "NOTICE_KIND",
    "PRESENT_WITHIN",
    "issue_reentry_invite",
    "notify_if_away",
    "prospect_present",
]

NOTICE_KEY = "secure_message_notice"
NOTICE_KIND = "secure_notice"
# A prospect whose page polled this recently is looking at the chat: no notice.
PRESENT_WITHIN = timedelta(seconds=30)


def issue_reentry_invite(
    session: Session, conv: Conversation, flow: Flow, now: datetime, settings: InviteSettings
) -> IssuedInvite:
    """A fresh one-time link into the chat, its link kept sealed on the invite until sent."""
    consent_id = session.execute(
        select(Consent.id)
        .where(Consent.conversation_id == conv.id, Consent.decision == "agreed")
        .order_by(Consent.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    issued = invites.issue_invite(
        session,
        conversation_id=conv.id,
        consent_id=consent_id,
        secret=settings.secret,
        base_url=settings.base_url,
        ttl=flow.timers.invite_expiry,
        now=now,
    )
    invite = session.get_one(Invite, issued.invite_id)
    invite.link_sealed = vault_of(session).seal(session, conv.id, "invite_link", issued.link)
    return issued


def prospect_present(chat: SecureChat, now: datetime) -> bool:
    """Whether the prospect is looking at the chat: their page polled within
    PRESENT_WITHIN and has not said since that it was closed or hidden."""
    seen, left = chat.last_prospect_seen_at, chat.prospect_left_at
    if seen is None or now - seen >= PRESENT_WITHIN:
        return False
    return left is None or left < seen


def _noticed_since_last_look(chat: SecureChat) -> bool:
    if chat.notice_sent_at is None:
        return False
    seen = chat.last_prospect_seen_at
    return seen is None or chat.notice_sent_at > seen


def notify_if_away(
    session: Session,
    conv: Conversation,
    chat: SecureChat,
    flow: Flow,
    now: datetime,
    settings: InviteSettings,
) -> OutboxMessage | None:
    """After an advisor's message: one WhatsApp notice, without its content, when the
    prospect is not on the page and has had none since they last looked. Inside
    WhatsApp's 24-hour window free-form, outside it as the flow's template (or not at
    all, recorded, without one)."""
    if prospect_present(chat, now) or _noticed_since_last_look(chat):
        return None
    if conv.erased_at is not None or conv.state == ConversationChart.opted_out.id:
        return None
    if not window_messages.template_or_window(conv, flow, now, NOTICE_KEY):
        window_messages.plan_timer_text(session, conv, flow, now, NOTICE_KEY, link="")
        return None
    issued = issue_reentry_invite(session, conv, flow, now, settings)
    planned = window_messages.plan_timer_text(
        session, conv, flow, now, NOTICE_KEY, link=link_placeholder(issued.invite_id)
    )
    assert planned is not None  # template_or_window said so
    row = new_outbox_row(
        session,
        conv,
        kind=NOTICE_KIND,
        body=planned.body,
        now=now,
        content_sid=planned.content_sid,
        content_variables=planned.content_variables,
        invite_id=issued.invite_id,
    )
    session.flush()
    chat.notice_sent_at = now
    audit_log.append(
        session,
        kind="secure_notice_queued",
        conversation_id=conv.id,
        payload={
            "outbox_id": row.id,
            "invite_id": issued.invite_id,
            "template": planned.content_sid,
        },
        now=now,
    )
    return row
