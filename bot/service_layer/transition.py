"""The transition protocol's effects: what the chart's recorded events mean in rows.

Everything here runs inside the caller's unit of work and only writes to the database
(consent, invite, timer, human-request and outbox rows, audit records); messages go out
later through the outbox, timers fire later through the timer runner. So an inbound
message, the decision about it and every consequence commit or roll back together.

Choices worth knowing:

- The consent prompt is one outbox row of kind ``consent``: its body is the plain-text
  rendering (terms summary, consent question, the button titles as a numbered list) and
  its ``content_variables`` carry the text for the quick-reply template, which the
  sender resolves when it sends (``ConversationProcessor``). The consent row keeps that
  exact body and its SHA-256: what the prospect was shown.
- A timer's message may come after WhatsApp's 24-hour window closed: it is then queued
  with the flow's template for it (the row's ``content_sid``), or not at all, as
  ``window_messages`` decides.
- STOP cancels the conversation's pending timers and every message not yet sent, then
  queues one confirmation (``opted_out``), the last message the number gets until START.
- Invite links are bearer tokens: the invite keeps their digest, and the link itself
  only sealed and only while it can be used. The invite message and its reminder hold
  a placeholder naming the invite; the link is put in as they are sent
  (``bot.service_layer.outbox``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.adapters import audit_log, invites, timers
from bot.adapters.tables import (
    Consent,
    Conversation,
    HumanRequest,
    Invite,
    OutboxMessage,
)
from bot.adapters.vault import vault_of
from bot.domain.conversation_chart import ChartEvent, ConversationModel, Recorded
from bot.domain.delivery import UNSENT_STATUSES
from bot.domain.flows import Flow
from bot.domain.local_time import format_moment, zone_of
from bot.domain.phone_country import country_of
from bot.domain.protocol import CONSENT_NO_ID, CONSENT_YES_ID
from bot.service_layer import handoffs, secure_links, window_messages
from bot.service_layer.handoffs import HandoffEvents, Router
from bot.service_layer.outbox import link_placeholder, new_outbox_row
from bot.service_layer.ports import Metrics, NoMetrics

__all__ = [
    "CONSENT_KIND",
    "HANDLERS",
    "Effects",
    "InviteSettings",
    "chart_model",
    "consent_buttons",
    "save_model",
]

CONSENT_KIND = "consent"
OPT_OUT_KIND = "opt_out"


@dataclass(frozen=True)
class InviteSettings:
    secret: bytes
    base_url: str  # gangway's public URL; links are {base_url}/secure/{token}
    # The external secure messenger's name when invites come from it (see
    # bot/service_layer/external_invites.py); None: gangway's built-in signed links.
    external_provider: str | None = None


@dataclass(frozen=True)
class Handover:
    """How a conversation reaches people: the routing, who hears of each change, and
    the figures that count each protocol step on the way."""

    router: Router
    events: HandoffEvents
    public_url: str
    metrics: Metrics = field(default_factory=NoMetrics)


def chart_model(conv: Conversation) -> ConversationModel:
    return ConversationModel(state=conv.state, level=conv.level, resume_state=conv.resume_state)


def save_model(conv: Conversation, model: ConversationModel) -> None:
    conv.state = model.state
    conv.level = model.level
    conv.resume_state = model.resume_state


def consent_buttons(flow: Flow, language: str | None) -> list[tuple[str, str]]:
    """(title, id) of the two consent buttons in ``language``."""
    return [
        (flow.text("consent_yes_button", language), CONSENT_YES_ID),
        (flow.text("consent_no_button", language), CONSENT_NO_ID),
    ]


def _consent_body(flow: Flow, language: str | None) -> str:
    buttons = consent_buttons(flow, language)
    listed = "\n".join(f"{i}. {title}" for i, (title, _id) in enumerate(buttons, 1))
    return flow.consent_prompt(language) + "\n\n" + listed


class Effects:
    """Turns recorded chart events into rows, in one conversation's unit of work."""

    def __init__(
        self,
        session: Session,
        conv: Conversation,
        flow: Flow,
        now: datetime,
        invite_settings: InviteSettings,
        *,
        inbox_id: int | None = None,
        message_sid: str | None = None,
        handover: Handover | None = None,
    ) -> None:
        self._handover = handover
        self._metrics = handover.metrics if handover is not None else NoMetrics()
        # False when the bot itself tells the prospect (a request made through its action).
        self.announce_handoff = True
        self.human_request_text = ""
        self._s = session
        self._conv = conv
        self._flow = flow
        self._now = now
        self._invites = invite_settings
        self._inbox_id = inbox_id
        self._message_sid = message_sid
        self._seq = 0

    # -- outbox ---------------------------------------------------------------

    def send_text(
        self, key: str, *, kind: str = "protocol", invite_id: int | None = None, **values: str
    ) -> None:
        """Queue the flow's text ``key``. With ``invite_id``, its link stands in the text as
        a placeholder, put in only when the message is sent (bot.service_layer.outbox)."""
        if invite_id is not None:
            values = {**values, "link": link_placeholder(invite_id)}
        body = self._flow.text(key, self._conv.language, **values)
        self._queue(kind, body, invite_id=invite_id)

    def send_timer_text(self, key: str, *, invite_id: int | None = None, **values: str) -> None:
        """A timer's message, which may come after WhatsApp's 24-hour window closed: then
        it goes as the flow's template, or not at all (see ``window_messages``). With
        ``invite_id``, the invite's link stands as a placeholder, as in ``send_text``."""
        if invite_id is not None:
            values = {**values, "link": link_placeholder(invite_id)}
        planned = window_messages.plan_timer_text(
            self._s, self._conv, self._flow, self._now, key, **values
        )
        if planned is not None:
            self._queue(
                "timer",
                planned.body,
                planned.content_variables,
                planned.content_sid,
                invite_id=invite_id,
            )

    def _queue(
        self,
        kind: str,
        body: str,
        content_variables: dict[str, str] | None = None,
        content_sid: str | None = None,
        invite_id: int | None = None,
    ) -> None:
        if self._inbox_id is not None:
            seq = self._seq
            self._seq += 1
        else:
            seq = 0
        new_outbox_row(
            self._s,
            self._conv,
            kind=kind,
            body=body,
            now=self._now,
            inbox_id=self._inbox_id,
            seq=seq,
            content_variables=content_variables,
            content_sid=content_sid,
            invite_id=invite_id,
        )

    # -- events ---------------------------------------------------------------

    def apply(self, events: list[Recorded]) -> None:
        """Record each event in the audit log, then run its handler (``HANDLERS``)."""
        for event in events:
            audit_log.append(
                self._s,
                kind=f"chart_{event.name}",
                conversation_id=self._conv.id,
                payload={**event.data, "inbox_id": self._inbox_id, "state": self._conv.state},
                now=self._now,
            )
            HANDLERS[event.name](self, event.data)
            self._metrics.transition(event.name)

    def _on_level_raised(self, data: dict[str, Any]) -> None:
        """Nothing beyond the audit record: the level is on the conversation already."""

    def _on_terms_offered(self, data: dict[str, Any]) -> None:
        language = self._conv.language or self._flow.default_language
        body = _consent_body(self._flow, language)
        consent = Consent(
            conversation_id=self._conv.id,
            terms_version=self._flow.protocol.terms_version,
            terms_url=self._flow.terms_url(language),
            language=language,
            shown_text="",
            shown_sha256=hashlib.sha256(body.encode()).hexdigest(),
            offered_at=self._now,
            trigger_inbox_id=self._inbox_id,
            decision="pending",
            flow_version_id=self._flow.version_id,
            variant=self._flow.variant,
        )
        self._s.add(consent)
        self._s.flush()
        consent.shown_text = vault_of(self._s).seal(self._s, self._conv.id, "consent_text", body)
        self._queue(CONSENT_KIND, body, {"1": self._flow.consent_prompt(language)})
        timers.schedule(
            self._s,
            key=f"consent_reminder:{consent.id}",
            kind="consent_reminder",
            due_at=self._now + self._flow.timers.consent_reminder,
            now=self._now,
            conversation_id=self._conv.id,
            payload={"consent_id": consent.id},
        )

    def _pending_consent(self) -> Consent | None:
        return self._s.execute(
            select(Consent)
            .where(Consent.conversation_id == self._conv.id, Consent.decision == "pending")
            .order_by(Consent.id.desc())
            .limit(1)
        ).scalar_one_or_none()

    def _decide_consent(self, decision: str) -> Consent | None:
        consent = self._pending_consent()
        if consent is not None:
            consent.decision = decision
            consent.decided_at = self._now
            consent.decision_inbox_id = self._inbox_id
            consent.decision_message_sid = self._message_sid
            audit_log.append(
                self._s,
                kind=f"consent_{decision}",
                conversation_id=self._conv.id,
                payload={
                    "consent_id": consent.id,
                    "terms_version": consent.terms_version,
                    "shown_sha256": consent.shown_sha256,
                    "message_sid": self._message_sid,
                },
                now=self._now,
            )
        timers.cancel(
            self._s, conversation_id=self._conv.id, now=self._now, kinds=["consent_reminder"]
        )
        return consent

    def _on_consent_given(self, data: dict[str, Any]) -> None:
        self._decide_consent("agreed")

    def _on_consent_declined(self, data: dict[str, Any]) -> None:
        self._decide_consent("declined")
        self.send_text("declined")

    def _on_invite_requested(self, data: dict[str, Any]) -> None:
        consent_id = self._s.execute(
            select(Consent.id)
            .where(Consent.conversation_id == self._conv.id, Consent.decision == "agreed")
            .order_by(Consent.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        timers.cancel(
            self._s,
            conversation_id=self._conv.id,
            now=self._now,
            kinds=["invite_reminder", "invite_expiry"],
        )
        if self._invites.external_provider is not None:
            self._request_external_invite(consent_id)
            return
        issued = invites.issue_invite(
            self._s,
            conversation_id=self._conv.id,
            consent_id=consent_id,
            secret=self._invites.secret,
            base_url=self._invites.base_url,
            ttl=self._flow.timers.invite_expiry,
            now=self._now,
        )
        self.deliver_invite(issued.invite_id, issued.link, issued.expires_at)

    def _request_external_invite(self, consent_id: int | None) -> None:
        """A pending invite row; the issuer creates it at the provider outside this unit of
        work and then delivers it (a network call must not hold a transaction)."""
        self._s.execute(
            update(Invite)
            .where(
                Invite.conversation_id == self._conv.id, Invite.status.in_(["active", "pending"])
            )
            .values(status="superseded", link_sealed=None)
            .execution_options(synchronize_session=False)
        )
        invite = Invite(
            conversation_id=self._conv.id,
            consent_id=consent_id,
            provider=self._invites.external_provider,
            token_sha256=secrets.token_hex(32),  # replaced by the link's digest when made
            issued_at=self._now,
            expires_at=(self._now + self._flow.timers.invite_expiry).replace(microsecond=0),
            status="pending",
        )
        self._s.add(invite)
        self._s.flush()
        audit_log.append(
            self._s,
            kind="invite_requested",
            conversation_id=self._conv.id,
            payload={"invite_id": invite.id, "provider": invite.provider},
            now=self._now,
        )

    def deliver_invite(self, invite_id: int, link: str, expires_at: datetime) -> None:
        """The invite message, its reminder and its expiry, for an invite that exists.

        The link is kept only sealed on the invite; messages and timers name the invite.
        """
        invite = self._s.get_one(Invite, invite_id)
        invite.link_sealed = vault_of(self._s).seal(self._s, self._conv.id, "invite_link", link)
        zone = zone_of(self._number())
        self.send_text("invite", invite_id=invite_id, expires=self.expires(expires_at, zone))
        # The reminder words the same moment in the conversation's language then, in the
        # zone found now: the timer carries it, so the number is not opened again for it.
        payload = {"invite_id": invite_id, "time_zone": zone}
        for kind, due in (
            ("invite_reminder", self._now + self._flow.timers.invite_reminder),
            ("invite_expiry", expires_at),
        ):
            if kind == "invite_reminder" and due >= expires_at:
                continue  # a reminder after the link expired would point at a dead link
            timers.schedule(
                self._s,
                key=f"{kind}:{invite_id}",
                kind=kind,
                due_at=due,
                now=self._now,
                conversation_id=self._conv.id,
                payload=payload,
            )

    def expires(self, at: datetime, zone: str) -> str:
        """When a link stops working, as the prospect reads it: in the conversation's
        language and ``zone``, the time zone of their number (``bot.domain.local_time``)."""
        return format_moment(
            at, language=self._conv.language or self._flow.default_language, zone=zone
        )

    def _on_invite_expired(self, data: dict[str, Any]) -> None:
        self.send_timer_text("invite_expired")

    def _on_redirect_notice(self, data: dict[str, Any]) -> None:
        if data.get("state") == "handed_off" and self._invites.external_provider is None:
            # In the built-in secure chat already: the notice carries a way back into it.
            self.send_reentry_text("redirect_notice_secure")
        else:
            self.send_text("redirect_notice")

    def _on_reentry_requested(self, data: dict[str, Any]) -> None:
        self.send_reentry_text("invite", expires=True)

    def send_reentry_text(self, key: str, *, expires: bool = False) -> None:
        """The flow's text ``key`` with a fresh one-time link back into the secure chat."""
        issued = secure_links.issue_reentry_invite(
            self._s, self._conv, self._flow, self._now, self._invites
        )
        values = (
            {"expires": self.expires(issued.expires_at, zone_of(self._number()))} if expires else {}
        )
        self.send_text(key, invite_id=issued.invite_id, **values)

    def _on_handoff_requested(self, data: dict[str, Any]) -> None:
        request = HumanRequest(
            conversation_id=self._conv.id,
            text=vault_of(self._s).seal_unless_erased(
                self._s, self._conv.id, "human_request", self.human_request_text
            ),
            created_at=self._now,
        )
        self._s.add(request)
        self._s.flush()
        # A request made through the bot's action (``conversation_events.request_human``)
        # is recorded here too; only the announcement is left to the bot.
        audit_log.append(
            self._s,
            kind="human_requested",
            conversation_id=self._conv.id,
            payload={"human_request_id": request.id, "inbox_id": self._inbox_id},
            now=self._now,
        )
        if self.announce_handoff:
            self.send_text("handoff_requested")
        self.open_handoff("human_request")

    def _on_handed_off(self, data: dict[str, Any]) -> None:
        self.open_handoff("threshold")

    def open_handoff(self, reason: str) -> None:
        if self._handover is None:
            return
        if reason != "threshold":
            # People take over by other means: a link still open would lead nowhere.
            self._revoke_invites(reason)
        handoffs.open_handoff(
            self._s,
            conversation_id=self._conv.id,
            reason=reason,
            now=self._now,
            router=self._handover.router,
            events=self._handover.events,
            public_url=self._handover.public_url,
            country=country_of(self._number()),
        )

    def _number(self) -> str:
        return vault_of(self._s).read(self._s, self._conv.id, "number", self._conv.number_sealed)

    def _revoke_invites(self, reason: str) -> None:
        revoked = invites.revoke_invites(self._s, conversation_id=self._conv.id, now=self._now)
        if revoked:
            timers.cancel(
                self._s,
                conversation_id=self._conv.id,
                now=self._now,
                kinds=["invite_reminder", "invite_expiry"],
            )
            audit_log.append(
                self._s,
                kind="invites_revoked",
                conversation_id=self._conv.id,
                payload={"invite_ids": revoked, "reason": reason},
                now=self._now,
            )

    def _on_opted_out(self, data: dict[str, Any]) -> None:
        self._revoke_invites("opted_out")
        cancelled_timers = timers.cancel(self._s, conversation_id=self._conv.id, now=self._now)
        result = self._s.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.conversation_id == self._conv.id,
                OutboxMessage.status.in_(UNSENT_STATUSES),
            )
            .values(status="cancelled", updated_at=self._now)
            .execution_options(synchronize_session=False)
        )
        audit_log.append(
            self._s,
            kind="opt_out_cancelled",
            conversation_id=self._conv.id,
            payload={"timers": cancelled_timers, "messages": int(result.rowcount)},  # type: ignore[attr-defined]
            now=self._now,
        )
        self.send_text("opted_out", kind=OPT_OUT_KIND)

    def _on_opted_in(self, data: dict[str, Any]) -> None:
        self.send_text("opted_in")


Handler = Callable[[Effects, dict[str, Any]], None]

# What each event the chart records means in rows; a test checks that every
# ``ChartEvent`` is here, so a new event cannot be recorded and silently ignored.
HANDLERS: Mapping[ChartEvent, Handler] = {
    "level_raised": Effects._on_level_raised,
    "terms_offered": Effects._on_terms_offered,
    "redirect_notice": Effects._on_redirect_notice,
    "consent_given": Effects._on_consent_given,
    "consent_declined": Effects._on_consent_declined,
    "invite_requested": Effects._on_invite_requested,
    "invite_expired": Effects._on_invite_expired,
    "reentry_requested": Effects._on_reentry_requested,
    "handed_off": Effects._on_handed_off,
    "handoff_requested": Effects._on_handoff_requested,
    "opted_out": Effects._on_opted_out,
    "opted_in": Effects._on_opted_in,
}
