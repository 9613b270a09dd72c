"""Working through one conversation: answer its inbound messages in order and
send its outbox in order.

Every network call (Rasa, Twilio) happens outside a database transaction, and
every step is committed before the next begins, so a crash between any two
steps leaves the rows saying exactly what is still to do:

- an inbox message stays `pending` until its replies are in the outbox, in the
  same transaction that marks it `done` (a crash before that re-asks Rasa; the
  outbox's unique (inbox_id, kind, seq) keeps the replies single);
- an outbox message is marked `sending` before the send; if the process dies
  before the provider's id is stored, the next attempt first asks the provider
  whether the message went out (and adopts it) before sending again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory
from bot.adapters.tables import (
    Conversation,
    InboxMessage,
    MessageClassification,
    OutboxMessage,
    StatusEvent,
)
from bot.adapters.vault import vault_of
from bot.domain.conversation_chart import ConversationChart
from bot.domain.delivery import UNSENT_STATUSES, advance_status
from bot.domain.redaction import redact
from bot.domain.retry import backoff_seconds
from bot.service_layer.errors import IntegrationError, PermanentError, TransientError
from bot.service_layer.outbox import new_outbox_row, outgoing
from bot.service_layer.ports import (
    BotReply,
    Clock,
    Dialogue,
    MessageSender,
    SentMessage,
)
from bot.service_layer.screening import Screening
from bot.service_layer.transition import (
    CONSENT_KIND,
    OPT_OUT_KIND,
    consent_buttons,
)

__all__ = ["ConversationProcessor", "ProcessingPolicy", "reply_text", "reported_bodies"]

log = logging.getLogger(__name__)

# How far back to look when asking the provider whether an unconfirmed send went out:
# its timestamps have one-second resolution and its clock is not ours.
_RECONCILE_SKEW = timedelta(minutes=2)


@dataclass(frozen=True)
class ProcessingPolicy:
    holding_after: timedelta = timedelta(seconds=20)
    holding_text: str = "Thanks for your message, one moment please."
    retry_base_seconds: float = 1.0
    retry_cap_seconds: float = 60.0


def reply_text(reply: BotReply) -> str | None:
    """The WhatsApp text for one Rasa reply (buttons become a numbered list)."""
    parts = [reply.text] if reply.text else []
    if reply.buttons:
        parts.append("\n".join(f"{i}. {title}" for i, (title, _p) in enumerate(reply.buttons, 1)))
    if reply.image:
        parts.append(reply.image)
    text = "\n".join(parts).strip()
    return text or None


class ConversationProcessor:
    def __init__(
        self,
        sessions: SessionFactory,
        dialogue: Dialogue,
        sender: MessageSender,
        clock: Clock,
        policy: ProcessingPolicy | None = None,
        screening: Screening | None = None,
    ) -> None:
        self._sessions = sessions
        self._dialogue = dialogue
        self._sender = sender
        self._clock = clock
        self._policy = policy or ProcessingPolicy()
        self._screening = screening
        self._template_sids: dict[str, str] = {}

    def run(
        self,
        conversation_id: str,
        max_steps: int = 1000,
        heartbeat: Callable[[], None] | None = None,
        max_answers: int | None = None,
    ) -> None:
        """Do what is due in this conversation now.

        `max_answers` caps how many inbound messages are answered in this call (their
        replies are always sent): the worker answers one and then lets the longest-
        waiting conversation go next, so a chatty prospect cannot hold a worker while
        others wait. `heartbeat` is called before each step (the worker renews its
        lease there).
        """
        answered_count = 0
        for _ in range(max_steps):
            if heartbeat is not None:
                heartbeat()
            sent = self._send_next(conversation_id)
            answered = False
            if max_answers is None or answered_count < max_answers:
                answered = self._answer_next(conversation_id)
                answered_count += int(answered)
            if not sent and not answered:
                return

    def _backoff(self, attempts: int) -> float:
        return backoff_seconds(
            attempts, base=self._policy.retry_base_seconds, cap=self._policy.retry_cap_seconds
        )

    # -- outbox ---------------------------------------------------------------

    def _send_next(self, conversation_id: str) -> bool:
        now = self._clock.now()
        with self._sessions.begin() as s:
            row = s.execute(
                select(OutboxMessage)
                .where(
                    OutboxMessage.conversation_id == conversation_id,
                    OutboxMessage.status.in_(UNSENT_STATUSES),
                )
                .order_by(OutboxMessage.id)
                .limit(1)
            ).scalar_one_or_none()
            if row is None or row.next_attempt_at > now:
                return False
            conv = s.get_one(Conversation, conversation_id)
            if conv.state == ConversationChart.opted_out.id and row.kind != OPT_OUT_KIND:
                # Nothing but the opt-out confirmation goes to an opted-out number.
                row.status = "cancelled"
                row.updated_at = now
                return True
            opened = outgoing(s, row, now)
            if opened.body is None:
                # Its conversation was erased, or the invite whose link it carries is
                # spent: a dead link, or nothing at all, is not worth sending.
                row.status = "cancelled"
                row.updated_at = now
                return True
            out_id, to, body, variables = row.id, opened.to, opened.body, opened.content_variables
            template = row.kind == CONSENT_KIND and variables is not None
            # A template chosen when the message was queued (outside WhatsApp's window).
            queued_sid = row.content_sid
            language = conv.language
            unconfirmed = row.status == "sending"
            since = row.first_attempt_at or now
            if not unconfirmed:
                _mark_sending(row, now)

        content_sid = self._consent_template(language) if template else queued_sid

        if unconfirmed:
            try:
                found = self._find_unrecorded_send(
                    to=to, bodies=reported_bodies(body, variables, template), since=since
                )
            except IntegrationError as exc:
                # Twilio's list could not be read, so the earlier attempt may still have
                # gone out: only a list that lacks it may make it resendable.
                self._still_uncertain(out_id, exc)
                return False
            if found is not None:
                log.info("outbox %s: adopting %s sent before a restart", out_id, found.sid)
                self._record_sent(out_id, found, reconciled=True)
                return True
            with self._sessions.begin() as s:
                _mark_sending(s.get_one(OutboxMessage, out_id), now)
        try:
            if content_sid is not None:
                sent = self._sender.send(
                    to=to, body=body, content_sid=content_sid, content_variables=variables
                )
            else:
                sent = self._sender.send(to=to, body=body)
        except TransientError as exc:
            self._retry_later(out_id, exc)
            return False
        except PermanentError as exc:
            self._fail(out_id, exc)
            return True
        self._record_sent(out_id, sent, reconciled=False, content_sid=content_sid)
        return True

    def _consent_template(self, language: str | None) -> str | None:
        """The quick-reply template for the consent buttons in ``language``, or None to
        send the plain-text rendering (no template port, or the provider refused)."""
        if self._screening is None or self._screening.templates is None:
            return None
        flow = self._screening.flows.current()
        lang = language or flow.default_language
        buttons = consent_buttons(flow, lang)
        wording = hashlib.sha256(json.dumps(buttons).encode()).hexdigest()[:12]
        name = f"gangway_consent_{lang}_{wording}"
        if name not in self._template_sids:
            try:
                self._template_sids[name] = self._screening.templates.ensure_quick_reply(
                    name, lang, buttons
                )
            except (IntegrationError, ValueError) as exc:
                log.warning("consent buttons unavailable (%r); sending plain text", exc)
                return None
        return self._template_sids[name]

    def _find_unrecorded_send(
        self, *, to: str, bodies: frozenset[str], since: datetime
    ) -> SentMessage | None:
        """The provider's message to ``to`` since about ``since`` whose body is one of
        ``bodies`` and that no outbox row holds yet, or None when its list has none.

        Errors reading the list propagate: "could not look" is not "not there".
        """
        candidates = self._sender.list_sent(to=to, since=since - _RECONCILE_SKEW)
        matching = [c for c in candidates if c.body in bodies]
        if not matching:
            return None
        with self._sessions.begin() as s:
            known = set(
                s.execute(
                    select(OutboxMessage.provider_sid).where(
                        OutboxMessage.provider_sid.in_([c.sid for c in matching])
                    )
                ).scalars()
            )
        unknown = [c for c in matching if c.sid not in known]
        return unknown[0] if unknown else None

    def _record_sent(
        self, out_id: int, sent: SentMessage, *, reconciled: bool, content_sid: str | None = None
    ) -> None:
        now = self._clock.now()
        with self._sessions.begin() as s:
            row = s.get_one(OutboxMessage, out_id)
            row.provider_sid = sent.sid
            row.content_sid = content_sid or row.content_sid
            status = advance_status("sending", sent.status or "queued")
            # Callbacks that arrived before we stored the id (Twilio can be that fast).
            for early in s.execute(
                select(StatusEvent.status).where(StatusEvent.provider_sid == sent.sid)
            ).scalars():
                status = advance_status(status, early)
            row.status = status
            row.last_error = None
            row.updated_at = now
            audit_log.append(
                s,
                kind="outbound_message",
                conversation_id=row.conversation_id,
                payload={
                    "outbox_id": row.id,
                    "provider_sid": sent.sid,
                    "kind": row.kind,
                    "inbox_id": row.inbox_id,
                    "attempts": row.attempts,
                    "reconciled": reconciled,
                    "status": status,
                    "content_sid": row.content_sid,
                },
                now=now,
                content=_kept_content(s, row),
            )

    def _retry_later(self, out_id: int, exc: IntegrationError) -> None:
        now = self._clock.now()
        with self._sessions.begin() as s:
            row = s.get_one(OutboxMessage, out_id)
            # A timed-out send may have gone through: keep it `sending` so the next
            # attempt asks the provider first. Otherwise it plainly did not go out.
            row.status = "sending" if getattr(exc, "ambiguous", False) else "pending"
            delay = self._backoff(max(row.attempts, 1))
            row.next_attempt_at = now + timedelta(seconds=delay)
            row.last_error = redact(f"{exc.status or ''} {exc.code or ''} {exc.message}".strip())
            row.updated_at = now
        log.warning("outbox %s: %s; retrying in %.1fs", out_id, redact(repr(exc)), delay)

    def _still_uncertain(self, out_id: int, exc: IntegrationError) -> None:
        """The look-up for an unconfirmed send failed: the row stays ``sending`` (never
        back to ``pending``, which would send without asking) and is asked about again
        after a backoff, however the look-up failed.

        No send is attempted, so the attempts do not grow; the wait grows instead with
        how long the message has been uncertain (about doubling it each time, up to the
        cap), so a long outage of Twilio's list is not asked about every second.
        """
        now = self._clock.now()
        with self._sessions.begin() as s:
            row = s.get_one(OutboxMessage, out_id)
            row.status = "sending"
            waited = (now - (row.first_attempt_at or now)).total_seconds()
            policy = self._policy
            delay = min(policy.retry_cap_seconds, max(policy.retry_base_seconds, waited))
            row.next_attempt_at = now + timedelta(seconds=delay)
            row.last_error = redact(
                f"look-up failed: {exc.status or ''} {exc.code or ''} {exc.message}".strip()
            )
            row.updated_at = now
        log.warning(
            "outbox %s: cannot tell whether it was sent (%s); asking again in %.1fs",
            out_id,
            redact(repr(exc)),
            delay,
        )

    def _fail(self, out_id: int, exc: IntegrationError) -> None:
        now = self._clock.now()
        with self._sessions.begin() as s:
            row = s.get_one(OutboxMessage, out_id)
            row.status = "failed"
            row.error_code = str(exc.code) if exc.code is not None else None
            row.last_error = redact(exc.message)
            row.updated_at = now
            audit_log.append(
                s,
                kind="outbound_failed",
                conversation_id=row.conversation_id,
                payload={
                    "outbox_id": row.id,
                    "http_status": exc.status,
                    "error_code": row.error_code,
                    "error": row.last_error,
                },
                now=now,
                content=_kept_content(s, row),
            )
        log.error("outbox %s failed for good: %s", out_id, redact(repr(exc)))

    # -- inbox ----------------------------------------------------------------

    def _answer_next(self, conversation_id: str) -> bool:
        now = self._clock.now()
        with self._sessions.begin() as s:
            msg = s.execute(
                select(InboxMessage)
                .where(
                    InboxMessage.conversation_id == conversation_id,
                    InboxMessage.status == "pending",
                )
                .order_by(InboxMessage.id)
                .limit(1)
            ).scalar_one_or_none()
            if msg is None:
                return False
            if msg.next_attempt_at > now:
                return self._maybe_hold(s, msg, now)
            vault = vault_of(s)
            msg_id, sid = msg.id, msg.message_sid
            body = vault.read(s, conversation_id, "body", msg.body)
            params = vault.read(s, conversation_id, "params", msg.params)
            screened = s.execute(
                select(MessageClassification.forwarded).where(
                    MessageClassification.inbox_id == msg_id
                )
            ).scalar_one_or_none()
            language = s.get_one(Conversation, conversation_id).language

        try:
            if self._screening is not None and screened is None:
                screened = self._screening.screen(
                    self._sessions,
                    self._clock,
                    conversation_id,
                    msg_id,
                    sid,
                    body,
                    params,
                    language,
                )
            if self._screening is not None and not screened:
                return True
            replies = self._dialogue.send_message(
                conversation_id, body, metadata={"message_sid": sid}
            )
        except TransientError as exc:
            with self._sessions.begin() as s:
                msg = s.get_one(InboxMessage, msg_id)
                msg.attempts += 1
                delay = self._backoff(msg.attempts)
                msg.next_attempt_at = now + timedelta(seconds=delay)
                msg.last_error = redact(repr(exc))
                held = self._maybe_hold(s, msg, now)
            log.warning("inbox %s: %s; retrying in %.1fs", sid, redact(repr(exc)), delay)
            return held
        except PermanentError as exc:
            with self._sessions.begin() as s:
                msg = s.get_one(InboxMessage, msg_id)
                msg.status = "failed"
                msg.last_error = redact(repr(exc))
                msg.processed_at = now
                audit_log.append(
                    s,
                    kind="inbound_failed",
                    conversation_id=conversation_id,
                    payload={
                        "message_sid": sid,
                        "error": redact(exc.message),
                        "status": exc.status,
                    },
                    now=now,
                )
            log.error("inbox %s failed for good: %s", sid, redact(repr(exc)))
            return True

        texts = [t for t in (reply_text(r) for r in replies) if t]
        done_at = self._clock.now()
        with self._sessions.begin() as s:
            msg = s.get_one(InboxMessage, msg_id)
            if msg.status != "pending":
                return True
            conv = s.get_one(Conversation, conversation_id)
            for seq, text in enumerate(texts):
                new_outbox_row(
                    s, conv, kind="reply", body=text, now=done_at, inbox_id=msg.id, seq=seq
                )
            msg.status = "done"
            msg.processed_at = done_at
            msg.last_error = None
            conv.holding_sent_at = None
            audit_log.append(
                s,
                kind="inbound_answered",
                conversation_id=conversation_id,
                payload={"message_sid": sid, "replies": len(texts), "attempts": msg.attempts + 1},
                now=done_at,
            )
        return True

    def _maybe_hold(self, s: Session, msg: InboxMessage, now: datetime) -> bool:
        """Queue the one "one moment" message when a prospect has waited too long."""
        if now - msg.received_at < self._policy.holding_after:
            return False
        conv = s.get_one(Conversation, msg.conversation_id)
        if conv.holding_sent_at is not None:
            return False
        conv.holding_sent_at = now
        text = self._policy.holding_text
        if self._screening is not None:  # the flow's wording, in the prospect's language
            text = self._screening.flows.current().text("holding", conv.language)
        new_outbox_row(s, conv, kind="holding", body=text, now=now, inbox_id=msg.id)
        audit_log.append(
            s,
            kind="holding_reply_queued",
            conversation_id=conv.id,
            payload={
                "message_sid": msg.message_sid,
                "waited_seconds": (now - msg.received_at).total_seconds(),
            },
            now=now,
        )
        return True


def reported_bodies(body: str, variables: dict[str, str] | None, template: bool) -> frozenset[str]:
    """Every body the provider may list for this message.

    The text as stored, which is what a plain send carries. A consent prompt may instead
    have gone as the quick-reply template, whose body is its first variable: the provider
    reports that text alone, without the numbered buttons of the plain rendering. Either
    may have gone out, since an attempt falls back to plain text when the template is
    unavailable.
    """
    bodies = {body}
    if template and variables and variables.get("1"):
        bodies.add(variables["1"])
    return frozenset(bodies)


def _kept_content(s: Session, row: OutboxMessage) -> dict[str, object]:
    """What the audit keeps (sealed) of a sent message: its number and its body as
    stored, with an invite's link still a placeholder."""
    vault = vault_of(s)
    return {
        "to": vault.read(s, row.conversation_id, "to_number", row.to_number),
        "body": vault.read(s, row.conversation_id, "outbox_body", row.body),
    }


def _mark_sending(row: OutboxMessage, now: datetime) -> None:
    """Committed before the send: if we die during it, the next attempt asks first."""
    row.status = "sending"
    row.attempts += 1
    row.first_attempt_at = row.first_attempt_at or now
    row.updated_at = now
