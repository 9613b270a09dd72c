"""What gangway sends when WhatsApp's 24-hour window may be closed.

WhatsApp allows free-form messages only within 24 hours of the prospect's last message
(``bot.domain.whatsapp_window``); after that, only an approved template. Two things
follow, each in the caller's unit of work:

- A timer's message (a reminder, the expiry notice) is planned here: free-form inside
  the window, else as the flow's template for it, else not at all, with an audit record
  saying why, since a free-form message would only fail (Twilio's 63016).
- An advisor who may no longer reply freely sends the flow's ``advisor_follow_up``
  template instead, asking the prospect to write again (``send_follow_up``).

A free-form message that fails anyway (the window closed while it waited) is a
permanent failure, explained by ``bot.domain.whatsapp_window.failure_reason``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.adapters import audit_log
from bot.adapters.tables import Conversation, OutboxMessage, User
from bot.domain.access import Action, Actor
from bot.domain.flows import Flow
from bot.domain.whatsapp_window import free_form_allowed, window_closes_at
from bot.service_layer import handoffs
from bot.service_layer.handoffs import AboveThreshold, HandoffError
from bot.service_layer.outbox import new_outbox_row

__all__ = [
    "FOLLOW_UP",
    "NoTemplate",
    "Planned",
    "follow_up_preview",
    "plan_timer_text",
    "send_follow_up",
    "template_or_window",
]

FOLLOW_UP = "advisor_follow_up"


class NoTemplate(HandoffError):
    """The flow names no template for what should be sent."""

    status = 409


@dataclass(frozen=True)
class Planned:
    """A message to queue: its text, and its template when it must go as one."""

    body: str
    content_sid: str | None = None
    content_variables: dict[str, str] | None = None


def plan_timer_text(
    session: Session, conv: Conversation, flow: Flow, now: datetime, key: str, **values: str
) -> Planned | None:
    """The flow text ``key`` as a timer sends it now: free-form inside the window, the
    flow's template for ``key`` outside it, or None (recorded in the audit log) when the
    flow has no such template."""
    if free_form_allowed(conv.last_inbound_at, now):
        return Planned(flow.text(key, conv.language, **values))
    template = flow.template(key, conv.language, **values)
    if template is not None:
        return Planned(template.body, template.content_sid, dict(template.variables))
    closes = window_closes_at(conv.last_inbound_at)
    audit_log.append(
        session,
        kind="timer_message_skipped",
        conversation_id=conv.id,
        payload={
            "text": key,
            "reason": "outside WhatsApp's 24-hour window, and the flow names no "
            f"`templates.{key}` to send instead",
            "window_closed_at": closes.isoformat() if closes else None,
        },
        now=now,
    )
    return None


def template_or_window(conv: Conversation, flow: Flow, now: datetime, key: str) -> bool:
    """Whether ``plan_timer_text`` would send ``key`` now (inside the window, or the
    flow has its template), so a caller can avoid making what the message would carry."""
    if free_form_allowed(conv.last_inbound_at, now):
        return True
    return flow.template(key, conv.language, link="") is not None


def follow_up_preview(flow: Flow, conv: Conversation, advisor: str) -> str | None:
    """The text the follow-up template would show the prospect; None without one."""
    template = flow.template(FOLLOW_UP, conv.language, advisor=advisor)
    return None if template is None else template.body


def send_follow_up(
    session: Session, actor: Actor, handoff_id: int, flow: Flow, now: datetime
) -> OutboxMessage:
    """Queue the flow's ``advisor_follow_up`` template to the handoff's prospect: what an
    advisor may send when the window has closed (a template is allowed at any time).

    Refused like a reply when the conversation reached the threshold or opted out, and
    with ``NoTemplate`` when the flow names none.
    """
    handoff = handoffs.permitted(session, actor, handoff_id, Action.REPLY)
    conv = session.get_one(Conversation, handoff.conversation_id)
    refused = handoffs.reply_refusal(conv, flow.transition_at)
    if refused is not None:
        raise AboveThreshold(refused)
    advisor = session.get_one(User, actor.user_id).display_name
    template = flow.template(FOLLOW_UP, conv.language, advisor=advisor)
    if template is None:
        raise NoTemplate(
            "The flow names no `advisor_follow_up` template, so nothing can be sent to "
            "this prospect until they write again; ask the flow's owner to add one."
        )
    row = new_outbox_row(
        session,
        conv,
        kind=handoffs.ADVISOR_REPLY_KIND,
        body=template.body,
        now=now,
        content_sid=template.content_sid,
        content_variables=dict(template.variables),
    )
    session.flush()
    audit_log.append(
        session,
        kind="advisor_follow_up",
        conversation_id=conv.id,
        payload={
            "handoff_id": handoff.id,
            "user_id": actor.user_id,
            "outbox_id": row.id,
            "content_sid": template.content_sid,
            "language": template.language,
        },
        now=now,
    )
    return row
