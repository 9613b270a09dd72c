"""A turn of one conversation: claim it, send what is due, answer its next inbound
message, send the replies, let it go.

A turn takes few transactions and holds none across a network call (Rasa, Twilio,
an attachment's download). The first claims the conversation's lease and reads all
the turn needs; each later one records what a network call brought and, before it
commits, reads what comes next (the next send, the next message) or lets the lease
go. Answering a message is one transaction after its network calls: the screening's
record, the replies into the outbox and the message marked done commit together.

Every step is committed before the next network call, so a crash between any two
leaves the rows saying exactly what is still to do:

- an inbox message stays `pending` until its screening and replies are recorded,
  in the same transaction that marks it `done` (a crash before that screens it and
  asks Rasa again; the outbox's unique (inbox_id, kind, seq) keeps the replies
  single);
- an outbox message is marked `sending` before the send; if the process dies
  before the provider's id is stored, the next attempt first asks the provider
  whether the message went out (and adopts it) before sending again;
- a message waiting longer than the policy allows (Rasa down, the sender over its
  rate: its `next_attempt_at` lies ahead) gets one holding message;
- an opted-out conversation is sent nothing but the opt-out confirmation.

One lease holder at a time keeps a conversation's messages in order, across
threads and service processes; the timers of a leased conversation wait for it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters import audit_log, leases
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
from bot.service_layer.outbox import new_outbox_row, outgoing
from bot.service_layer.ports import (
    BotReply,
    Clock,
    Dialogue,
    MessageSender,
    SentMessage,
)
from bot.service_layer.screening import Assessed, Screening, Unscreened
from bot.service_layer.transition import (
    CONSENT_KIND,
    OPT_OUT_KIND,
    chart_model,
    consent_buttons,
)
from integrations.errors import IntegrationError, PermanentError, TransientError

__all__ = ["ConversationProcessor", "ProcessingPolicy", "reply_text", "reported_bodies"]

log = logging.getLogger(__name__)

# How far back to look when asking the provider whether an unconfirmed send went out:
# its timestamps have one-second resolution and its clock is not ours.
_RECONCILE_SKEW = timedelta(minutes=2)


@dataclass(frozen=True)
class ProcessingPolicy:
    holding_after: timedelta = timedelta(seconds=20)
    retry_base_seconds: float = 1.0
    retry_cap_seconds: float = 60.0
    # How long a conversation's lease lasts unless renewed: a turn renews it as it
    # goes, so only a process that died (or hung) loses its conversations.
    lease: timedelta = timedelta(seconds=60)


def reply_text(reply: BotReply) -> str | None:
    """The WhatsApp text for one Rasa reply (buttons become a numbered list)."""
    parts = [reply.text] if reply.text else []
    if reply.buttons:
        parts.append("\n".join(f"{i}. {title}" for i, (title, _p) in enumerate(reply.buttons, 1)))
    if reply.image:
        parts.append(reply.image)
    text = "\n".join(parts).strip()
    return text or None


@dataclass(frozen=True)
class _Send:
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


@dataclass(frozen=True)
class _Answer:
    """The next inbound message to answer; ``forwarded`` is None until it is screened."""

    message: Unscreened
    forwarded: bool | None


_Step = _Send | _Answer


@dataclass
class _Turn:
    conversation_id: str
    answers_left: int | None
    renewed: datetime


class ConversationProcessor:
    def __init__(
        self,
        sessions: SessionFactory,
        dialogue: Dialogue,
        sender: MessageSender,
        clock: Clock,
        screening: Screening,
        policy: ProcessingPolicy | None = None,
        *,
        owner: str,
    ) -> None:
        """``owner`` names this process in the leases it takes (a restarted process with
        the same name takes its own back at once)."""
        self._sessions = sessions
        self._dialogue = dialogue
        self._sender = sender
        self._clock = clock
        self._screening = screening
        self._policy = policy or ProcessingPolicy()
        self.owner = owner
        self._template_sids: dict[str, str] = {}

    def run(
        self, conversation_id: str, max_answers: int | None = None, max_steps: int = 1000
    ) -> bool:
        """Take a turn of this conversation: do what is due in it now; False when another
        process holds it.

        `max_answers` caps how many inbound messages are answered in this turn (their
        replies are always sent): the worker answers one and then lets the longest-
        waiting conversation go next, so a chatty prospect cannot hold a worker while
        others wait.
        """
        now = self._clock.now()
        turn = _Turn(conversation_id, max_answers, now)
        try:
            with self._sessions.begin() as s:
                if not leases.claim(s, conversation_id, self.owner, now, self._policy.lease):
                    return False
                step = self._next(s, turn, now)
            for _ in range(max_steps):
                if step is None:
                    return True
                step = (
                    self._send(turn, step) if isinstance(step, _Send) else self._answer(turn, step)
                )
        except BaseException:
            self._let_go(conversation_id)
            raise
        self._let_go(conversation_id)
        return True

    def _let_go(self, conversation_id: str) -> None:
        """Release the lease outside a turn's own transactions (a turn that failed or ran
        out of steps), so the conversation is taken again without waiting for expiry."""
        try:
            with self._sessions.begin() as s:
                leases.release(s, conversation_id, self.owner)
        except Exception:
            log.exception("conversation %s: could not release the lease", conversation_id)

    def _next(self, s: Session, turn: _Turn, now: datetime) -> _Step | None:
        """In the caller's transaction: what this turn does next, or None with the lease
        released (or lost). An outbox message to send comes first, marked `sending`;
        then the next inbound message, read with all its screening needs."""
        cid = turn.conversation_id
        if now - turn.renewed >= self._policy.lease / 3:
            if not leases.claim(s, cid, self.owner, now, self._policy.lease):
                log.warning("conversation %s: lost the lease; stopping this turn", cid)
                return None
            turn.renewed = now
        conv = s.get_one(Conversation, cid)
        while True:
            row = s.execute(
                select(OutboxMessage)
                .where(
                    OutboxMessage.conversation_id == cid,
                    OutboxMessage.status.in_(UNSENT_STATUSES),
                )
                .order_by(OutboxMessage.id)
                .limit(1)
            ).scalar_one_or_none()
            if row is not None and row.next_attempt_at <= now:
                send = self._prepare_send(s, conv, row, now)
                if send is not None:
                    return send
                continue  # cancelled: look at the next one
            if turn.answers_left is None or turn.answers_left > 0:
                msg = s.execute(
                    select(InboxMessage)
                    .where(InboxMessage.conversation_id == cid, InboxMessage.status == "pending")
                    .order_by(InboxMessage.id)
                    .limit(1)
                ).scalar_one_or_none()
                if msg is not None and msg.next_attempt_at <= now:
                    answer = self._read_answer(s, conv, msg)
                    if answer is not None:
                        if turn.answers_left is not None:
                            turn.answers_left -= 1
                        return answer
                    continue
                if msg is not None and self._maybe_hold(s, conv, msg, now):
                    continue  # the holding message is due: send it
            leases.release(s, cid, self.owner)
            return None

    def _backoff(self, attempts: int) -> float:
        return backoff_seconds(
            attempts, base=self._policy.retry_base_seconds, cap=self._policy.retry_cap_seconds
        )

    # -- outbox ---------------------------------------------------------------

    def _prepare_send(
        self, s: Session, conv: Conversation, row: OutboxMessage, now: datetime
    ) -> _Send | None:
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
        send = _Send(
            out_id=row.id,
            to=opened.to,
            body=opened.body,
            variables=variables,
            template=row.kind == CONSENT_KIND and variables is not None,
            queued_sid=row.content_sid,
            language=conv.language,
            unconfirmed=unconfirmed,
            since=row.first_attempt_at or now,
        )
        if not unconfirmed:
            _mark_sending(row, now)
        return send

    def _send(self, turn: _Turn, job: _Send) -> _Step | None:
        content_sid = self._consent_template(job.language) if job.template else job.queued_sid
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
        return self._record_sent(turn, out_id, sent, reconciled=False, content_sid=content_sid)

    def _consent_template(self, language: str | None) -> str | None:
        """The quick-reply template for the consent buttons in ``language``, or None to
        send the plain-text rendering (no template port, or the provider refused)."""
        templates = self._screening.templates
        if templates is None:
            return None
        flow = self._screening.flows.current()
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
        turn: _Turn,
        out_id: int,
        sent: SentMessage,
        *,
        reconciled: bool,
        content_sid: str | None = None,
    ) -> _Step | None:
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
            return self._next(s, turn, now)

    def _retry_later(self, turn: _Turn, out_id: int, exc: IntegrationError) -> _Step | None:
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
            return self._next(s, turn, now)

    def _still_uncertain(self, turn: _Turn, out_id: int, exc: IntegrationError) -> _Step | None:
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
            return self._next(s, turn, now)

    def _fail(self, turn: _Turn, out_id: int, exc: IntegrationError) -> _Step | None:
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
            return self._next(s, turn, now)

    # -- inbox ----------------------------------------------------------------

    def _read_answer(self, s: Session, conv: Conversation, msg: InboxMessage) -> _Answer | None:
        """Everything answering ``msg`` needs, read in the caller's transaction; None when
        it turned out to need no answer (it is closed here)."""
        vault = vault_of(s)
        body = vault.read(s, conv.id, "body", msg.body)
        forwarded = s.execute(
            select(MessageClassification.forwarded).where(MessageClassification.inbox_id == msg.id)
        ).scalar_one_or_none()
        if forwarded is False:
            # Withheld messages are done in the transaction that classifies them; one
            # left pending is closed rather than looked at again and again.
            msg.status = "done"
            msg.processed_at = self._clock.now()
            return None
        message = Unscreened(
            conversation_id=conv.id,
            msg_id=msg.id,
            sid=msg.message_sid,
            body=body,
            params_json=vault.read(s, conv.id, "params", msg.params),
            language=conv.language,
            chart=chart_model(conv),
            previous=() if forwarded else self._screening.previous(s, msg, body),
        )
        return _Answer(message, forwarded)

    def _answer(self, turn: _Turn, job: _Answer) -> _Step | None:
        """Screen the message and ask Rasa (network only), then record it all at once."""
        message = job.message
        assessed: Assessed | None = None
        forward = job.forwarded
        try:
            if forward is None:
                assessed = self._screening.assess(message, self._clock)
                forward = assessed.forward
            replies = None
            if forward:
                replies = self._dialogue.send_message(
                    message.conversation_id, message.body, metadata={"message_sid": message.sid}
                )
        except TransientError as exc:
            return self._answer_later(turn, message, assessed, exc)
        except PermanentError as exc:
            return self._answer_failed(turn, message, assessed, exc)

        texts = None if replies is None else [t for t in map(reply_text, replies) if t]
        done_at = self._clock.now()
        with self._sessions.begin() as s:
            self._record_answer(s, message, assessed, texts, done_at)
            return self._next(s, turn, done_at)

    def _record_answer(
        self,
        s: Session,
        message: Unscreened,
        assessed: Assessed | None,
        texts: list[str] | None,
        now: datetime,
    ) -> None:
        """The screening's record, then Rasa's replies (``texts``, None when Rasa was not
        asked) into the outbox with the message done."""
        msg = s.get_one(InboxMessage, message.msg_id)
        if msg.status != "pending":
            return
        if assessed is not None:
            forwarded = self._screening.record(s, assessed)
            if forwarded is None:
                return
            if not forwarded:
                if texts is not None:
                    # The conversation changed while Rasa answered, and now withholds
                    # the message: its answer is not sent.
                    log.warning("inbox %s: withheld after Rasa answered; dropped", message.sid)
                return
        if texts is None:
            # Screened as forwarded only on the conversation as it is now: the message
            # stays pending and the next step asks Rasa.
            return
        conv = s.get_one(Conversation, message.conversation_id)
        for seq, text in enumerate(texts):
            new_outbox_row(s, conv, kind="reply", body=text, now=now, inbox_id=msg.id, seq=seq)
        msg.status = "done"
        msg.processed_at = now
        msg.last_error = None
        conv.holding_sent_at = None
        audit_log.append(
            s,
            kind="inbound_answered",
            conversation_id=message.conversation_id,
            payload={
                "message_sid": message.sid,
                "replies": len(texts),
                "attempts": msg.attempts + 1,
            },
            now=now,
        )

    def _answer_later(
        self, turn: _Turn, message: Unscreened, assessed: Assessed | None, exc: TransientError
    ) -> _Step | None:
        """Rasa (or an attachment's host) is unreachable: keep what screening found, and
        try the message again after a backoff."""
        now = self._clock.now()
        with self._sessions.begin() as s:
            msg = s.get_one(InboxMessage, message.msg_id)
            if assessed is not None and msg.status == "pending":
                self._screening.record(s, assessed)
            if msg.status == "pending":
                msg.attempts += 1
                delay = self._backoff(msg.attempts)
                msg.next_attempt_at = now + timedelta(seconds=delay)
                msg.last_error = redact(repr(exc))
                log.warning(
                    "inbox %s: %s; retrying in %.1fs", message.sid, redact(repr(exc)), delay
                )
            return self._next(s, turn, now)

    def _answer_failed(
        self, turn: _Turn, message: Unscreened, assessed: Assessed | None, exc: PermanentError
    ) -> _Step | None:
        now = self._clock.now()
        with self._sessions.begin() as s:
            msg = s.get_one(InboxMessage, message.msg_id)
            if assessed is not None and msg.status == "pending":
                self._screening.record(s, assessed)
            if msg.status == "pending":
                msg.status = "failed"
                msg.last_error = redact(repr(exc))
                msg.processed_at = now
                audit_log.append(
                    s,
                    kind="inbound_failed",
                    conversation_id=message.conversation_id,
                    payload={
                        "message_sid": message.sid,
                        "error": redact(exc.message),
                        "status": exc.status,
                    },
                    now=now,
                )
                log.error("inbox %s failed for good: %s", message.sid, redact(repr(exc)))
            return self._next(s, turn, now)

    def _maybe_hold(self, s: Session, conv: Conversation, msg: InboxMessage, now: datetime) -> bool:
        """Queue the one "one moment" message when a prospect has waited too long."""
        if now - msg.received_at < self._policy.holding_after:
            return False
        if conv.holding_sent_at is not None:
            return False
        conv.holding_sent_at = now
        # The flow's wording, in the prospect's language.
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
