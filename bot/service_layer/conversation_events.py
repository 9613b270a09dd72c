"""What happens to a conversation outside an inbound message: its timers fire, its
secure channel is activated, or the bot's action reports a request for a person.
Each drives the statechart and applies the events' effects (``transition.Effects``)
in the caller's unit of work."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters import audit_log, invites
from bot.adapters.tables import Consent, Conversation, Handoff, HumanRequest, Invite, Timer
from bot.domain.conversation_chart import ConversationChart, try_send
from bot.domain.flows import Flow
from bot.service_layer import handoffs
from bot.service_layer.conversation_status import UnknownConversation
from bot.service_layer.flow_in_force import flow_of
from bot.service_layer.ports import FlowSource
from bot.service_layer.timers import TimerHandler
from bot.service_layer.transition import (
    Effects,
    Handover,
    InviteSettings,
    chart_model,
    save_model,
)

__all__ = ["invite_activated", "request_human", "timer_handlers"]


def invite_activated(
    session: Session,
    conversation_id: str,
    flow: Flow,
    now: datetime,
    invite_settings: InviteSettings,
    handover: Handover | None,
) -> bool:
    """The prospect opened the secure channel: hand the conversation off (and open its
    handoff). A conversation handed off already comes back into its secure chat with a
    fresh link: that opens a session, never a second handoff. False, with an audit
    record, when its state does not allow it."""
    conv = session.get_one(Conversation, conversation_id)
    if conv.state == ConversationChart.handed_off.id:
        audit_log.append(
            session,
            kind="secure_chat_reentered",
            conversation_id=conversation_id,
            payload={"state": conv.state},
            now=now,
        )
        return True
    model = chart_model(conv)
    if not try_send(ConversationChart(model), "invite_activated"):
        audit_log.append(
            session,
            kind="invite_activated_ignored",
            conversation_id=conversation_id,
            payload={"state": conv.state},
            now=now,
        )
        return False
    save_model(conv, model)
    Effects(session, conv, flow, now, invite_settings, handover=handover).apply(model.events)
    return True


def request_human(
    session: Session,
    conversation_id: str,
    text: str,
    flow: Flow,
    now: datetime,
    invite_settings: InviteSettings,
    handover: Handover | None,
) -> int | None:
    """The bot's action says the prospect asked for a person: the same as gangway seeing
    it itself, except that the bot words the answer. The HumanRequest id, or None when
    the conversation's state does not allow it (opted out); UnknownConversation when
    there is no such conversation."""
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        raise UnknownConversation(conversation_id)
    model = chart_model(conv)
    if not try_send(ConversationChart(model), "human_requested"):
        return None
    save_model(conv, model)
    effects = Effects(session, conv, flow, now, invite_settings, handover=handover)
    effects.announce_handoff = False
    effects.human_request_text = text
    effects.apply(model.events)
    session.flush()
    return session.execute(
        select(HumanRequest.id)
        .where(HumanRequest.conversation_id == conversation_id)
        .order_by(HumanRequest.id.desc())
        .limit(1)
    ).scalar_one()


def timer_handlers(
    flows: FlowSource, invite_settings: InviteSettings, handover: Handover | None = None
) -> dict[str, TimerHandler]:
    """The handlers for the protocol's timers; each acts only if still relevant."""

    def effects(s: Session, conv: Conversation, now: datetime) -> Effects:
        return Effects(s, conv, flow_of(flows, conv), now, invite_settings, handover=handover)

    def activation_backstop(s: Session, timer: Timer, now: datetime) -> None:
        conv = s.get_one(Conversation, timer.conversation_id)
        if conv.state == ConversationChart.invite_sent.id:  # the hand-off did not happen
            invite_activated(s, conv.id, flow_of(flows, conv), now, invite_settings, handover)

    def handoff_sla(s: Session, timer: Timer, now: datetime) -> None:
        handoff = s.get(Handoff, json.loads(timer.payload).get("handoff_id"))
        if (
            handoff is not None
            and handover is not None
            and handoffs.escalate(s, handoff, now, handover.router, handover.events)
        ):
            handover.metrics.sla_breach()

    def consent_reminder(s: Session, timer: Timer, now: datetime) -> None:
        conv = s.get_one(Conversation, timer.conversation_id)
        consent_id = json.loads(timer.payload).get("consent_id")
        consent = s.get(Consent, consent_id) if consent_id is not None else None
        if (
            conv.state == ConversationChart.terms_offered.id
            and consent is not None
            and (consent.decision == "pending")
        ):
            effects(s, conv, now).send_timer_text("consent_reminder")

    def invite_reminder(s: Session, timer: Timer, now: datetime) -> None:
        conv = s.get_one(Conversation, timer.conversation_id)
        payload = json.loads(timer.payload)
        invite = s.get(Invite, payload.get("invite_id"))
        if (
            conv.state == ConversationChart.invite_sent.id
            and invite is not None
            and (invite.status == "active" and invite.expires_at > now)
        ):
            effects_now = effects(s, conv, now)
            if "time_zone" in payload:
                expires = effects_now.expires(invite.expires_at, payload["time_zone"])
            else:  # scheduled before reminders carried the zone: the text made then
                expires = payload["expires"]
            effects_now.send_timer_text("invite_reminder", invite_id=invite.id, expires=expires)

    def invite_expiry(s: Session, timer: Timer, now: datetime) -> None:
        conv = s.get_one(Conversation, timer.conversation_id)
        invite = s.get(Invite, json.loads(timer.payload).get("invite_id"))
        if invite is None or invite.status != "active":
            return  # used, superseded by a fresh link, or expired already
        invites.expire_invites(s, conversation_id=conv.id, now=now)
        model = chart_model(conv)
        if try_send(ConversationChart(model), "invite_expired"):
            save_model(conv, model)
            effects(s, conv, now).apply(model.events)

    return {
        "consent_reminder": consent_reminder,
        "invite_reminder": invite_reminder,
        "invite_expiry": invite_expiry,
        handoffs.SLA_TIMER: handoff_sla,
        invites.ACTIVATION_TIMER: activation_backstop,
    }
