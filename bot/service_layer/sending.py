"""Sending one outbox message, safely across crashes.

A message is marked `sending` and committed before the provider is called, and its
provider id is recorded after: if the process dies in between, the next attempt
first asks the provider whether the message went out (and adopts it) before sending
again. A timed-out send may have gone out too, and is treated the same way.

The mark is written in the caller's transaction (``prepare``), so a turn folds it
into the transaction that found the message due; each outcome is recorded in a
transaction the caller opens and continues before it commits (``Turn``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory
from bot.adapters.sid_locks import lock_provider_sids
from bot.adapters.tables import Conversation, InboxMessage, OutboxMessage, StatusEvent
from bot.adapters.vault import vault_of
from bot.domain.conversation_chart import ConversationChart
from bot.domain.delivery import advance_status
from bot.domain.flow_variants import effective
from bot.domain.redaction import redact
from bot.domain.retry import backoff_seconds
from bot.service_layer.errors import IntegrationError, PermanentError, TransientError
from bot.service_layer.outbox import outgoing
from bot.service_layer.ports import (
    Clock,
    ContentTemplates,
    FlowSource,
    MessageSender,
    Metrics,
    NoMetrics,
    SentMessage,
)
from bot.service_layer.transition import CONSENT_KIND, OPT_OUT_KIND, consent_buttons

__all__ = ["OutboxSending", "Send", "Turn", "reported_bodies"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Turn(Generic[T]):
    """The caller's side of the transactions that record a send's outcome: ``begin``
    opens one (locking what the caller locks first), ``then`` continues the caller's
    work in it before it commits."""

    begin: Callable[[], AbstractContextManager[Session]]
    then: Callable[[Session, datetime], T]


# How far back to look when asking the provider whether an unconfirmed send went out:
# its timestamps have one-second resolution and its clock is not ours.
_RECONCILE_SKEW = timedelta(minutes=2)


@dataclass(frozen=True)
class Send:
    """An outbox message marked `sending` (or found so) and what its send needs."""

    out_id: int
    to: str
    body: str
    variables: dict[str, str] | None
    template: bool  # the consent prompt, to go as the quick-reply template
    queued_sid: str | None  # a template chosen when it was queued (outside the window)
    language: str | None
    unconfirmed: bool  # an earlier attempt may have gone out
    since: datetime
    # When the inbound message this first answers reached the webhook (reply latency).
    answers_received_at: datetime | None = None
    # The conversation's variant, whose consent buttons the quick-reply template shows.
    variant: str | None = None


class OutboxSending:
    """Sends a conversation's outbox messages one at a time through the provider port;
    the consent prompt as a quick-reply template where the provider has one."""

    def __init__(
        self,
        sessions: SessionFactory,
        sender: MessageSender,
        clock: Clock,
        flows: FlowSource,
        templates: ContentTemplates | None,
        *,
        retry_base: float,
        retry_cap: float,
        metrics: Metrics | None = None,
    ) -> None:
        self._sessions = sessions
        self._sender = sender
        self._clock = clock
        self._flows = flows
        self._templates = templates
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._metrics = metrics or NoMetrics()
        self._template_sids: dict[str, str] = {}

    def prepare(
        self, s: Session, conv: Conversation, row: OutboxMessage, now: datetime
    ) -> Send | None:
        """Mark ``row`` `sending` and say how to send it; None when it was cancelled."""
        if conv.state == ConversationChart.opted_out.id and row.kind != OPT_OUT_KIND:
            # Nothing but the opt-out confirmation goes to an opted-out number.
            row.status = "cancelled"
            row.updated_at = now
            return None
        opened = outgoing(s, row, now)
        if opened.body is None:
            # Its conversation was erased, or the invite whose link it carries is
            # spent: a dead link, or nothing at all, is not worth sending.
            row.status = "cancelled"
            row.updated_at = now
            return None
        variables = opened.content_variables
        unconfirmed = row.status == "sending"
        send = Send(
            out_id=row.id,
            to=opened.to,
            body=opened.body,
            variables=variables,
            template=row.kind == CONSENT_KIND and variables is not None,
            queued_sid=row.content_sid,
            language=conv.language,
            unconfirmed=unconfirmed,
            variant=conv.variant,
            since=row.first_attempt_at or now,
            answers_received_at=_answers_received_at(s, row),
        )
        if not unconfirmed:
            _mark_sending(row, now)
        return send

    def send(self, job: Send, turn: Turn[T]) -> T:
        content_sid = (
            self._consent_template(job.language, job.variant) if job.template else job.queued_sid
        )
        out_id = job.out_id
        if job.unconfirmed:
            try:
                found = self._find_unrecorded_send(
                    to=job.to,
                    bodies=reported_bodies(job.body, job.variables, job.template),
                    since=job.since,
                )
            except IntegrationError as exc:
                # Twilio's list could not be read, so the earlier attempt may still have
                # gone out: only a list that lacks it may make it resendable.
                return self._still_uncertain(turn, out_id, exc)
            if found is not None:
                log.info("outbox %s: adopting %s sent before a restart", out_id, found.sid)
                return self._record_sent(turn, out_id, found, reconciled=True)
            with self._sessions.begin() as s:
                _mark_sending(s.get_one(OutboxMessage, out_id), self._clock.now())
        try:
            if content_sid is not None:
                sent = self._sender.send(
                    to=job.to,
                    body=job.body,
                    content_sid=content_sid,
                    content_variables=job.variables,
                )
            else:
                sent = self._sender.send(to=job.to, body=job.body)
        except TransientError as exc:
            return self._retry_later(turn, out_id, exc)
        except PermanentError as exc:
            return self._fail(turn, out_id, exc)
        if job.answers_received_at is not None:
            waited = self._clock.now() - job.answers_received_at
            self._metrics.reply_latency(waited.total_seconds())
        self._metrics.outbound(sent.status or "queued", "")
        return self._record_sent(turn, out_id, sent, reconciled=False, content_sid=content_sid)

    def _consent_template(self, language: str | None, variant: str | None = None) -> str | None:
        """The quick-reply template for the consent buttons in ``language``, or None to
        send the plain-text rendering (no template port, or the provider refused)."""
        templates = self._templates
        if templates is None:
            return None
        flow = effective(self._flows.current(), variant)
        lang = language or flow.default_language
        buttons = consent_buttons(flow, lang)
        wording = hashlib.sha256(json.dumps(buttons).encode()).hexdigest()[:12]
        name = f"gangway_consent_{lang}_{wording}"
        if name not in self._template_sids:
            try:
                self._template_sids[name] = templates.ensure_quick_reply(name, lang, buttons)
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
        self,
        turn: Turn[T],
        out_id: int,
        sent: SentMessage,
        *,
        reconciled: bool,
        content_sid: str | None = None,
    ) -> T:
        now = self._clock.now()
        with turn.begin() as s:
            # Before reading the callbacks that came early: one being recorded now
            # commits first, or waits for this record and finds the id stored.
            lock_provider_sids(s, [sent.sid])
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
            log.info("outbox %s (%s) sent as %s: %s", row.id, row.kind, sent.sid, status)
            return turn.then(s, now)

    def _retry_later(self, turn: Turn[T], out_id: int, exc: IntegrationError) -> T:
        now = self._clock.now()
        with turn.begin() as s:
            row = s.get_one(OutboxMessage, out_id)
            # A timed-out send may have gone through: keep it `sending` so the next
            # attempt asks the provider first. Otherwise it plainly did not go out.
            row.status = "sending" if getattr(exc, "ambiguous", False) else "pending"
            # No sooner than the provider's Retry-After, if it said (up to the cap).
            delay = backoff_seconds(
                max(row.attempts, 1),
                base=self._retry_base,
                cap=self._retry_cap,
                retry_after=exc.retry_after,
            )
            row.next_attempt_at = now + timedelta(seconds=delay)
            row.last_error = redact(f"{exc.status or ''} {exc.code or ''} {exc.message}".strip())
            row.updated_at = now
            log.warning("outbox %s: %s; retrying in %.1fs", out_id, redact(repr(exc)), delay)
            return turn.then(s, now)

    def _still_uncertain(self, turn: Turn[T], out_id: int, exc: IntegrationError) -> T:
        """The look-up for an unconfirmed send failed: the row stays ``sending`` (never
        back to ``pending``, which would send without asking) and is asked about again
        after a backoff, however the look-up failed.

        No send is attempted, so the attempts do not grow; the wait grows instead with
        how long the message has been uncertain (about doubling it each time, up to the
        cap), so a long outage of Twilio's list is not asked about every second, and
        never sooner than a Retry-After the look-up was answered with (up to the cap).
        """
        now = self._clock.now()
        with turn.begin() as s:
            row = s.get_one(OutboxMessage, out_id)
            row.status = "sending"
            waited = (now - (row.first_attempt_at or now)).total_seconds()
            delay = min(self._retry_cap, max(self._retry_base, waited, exc.retry_after or 0.0))
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
            return turn.then(s, now)

    def _fail(self, turn: Turn[T], out_id: int, exc: IntegrationError) -> T:
        now = self._clock.now()
        with turn.begin() as s:
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
            self._metrics.outbound("failed", row.error_code or "")
            return turn.then(s, now)


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


def _answers_received_at(s: Session, row: OutboxMessage) -> datetime | None:
    """When the inbound message that ``row`` is the first answer to was received, or None
    for any other message (a later reply, a holding message, a timer's)."""
    if row.inbox_id is None or row.kind == "holding":
        return None
    first = s.scalar(
        select(func.min(OutboxMessage.id)).where(
            OutboxMessage.inbox_id == row.inbox_id, OutboxMessage.kind != "holding"
        )
    )
    if first != row.id:
        return None
    return s.get_one(InboxMessage, row.inbox_id).received_at


def _mark_sending(row: OutboxMessage, now: datetime) -> None:
    """Committed before the send: if we die during it, the next attempt asks first."""
    row.status = "sending"
    row.attempts += 1
    row.first_attempt_at = row.first_attempt_at or now
    row.updated_at = now
