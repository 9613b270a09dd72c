"""A turn of one conversation: claim it, send what is due, answer its next inbound
message, send the replies, let it go.

A turn takes few transactions and holds none across a network call (Rasa, Twilio,
an attachment's download). The first claims the conversation's lease and reads all
the turn needs; each later one records what a network call brought and, before it
commits, reads what comes next (the next send, the next message) or lets the lease
go. A message the bot must not see is recorded in one transaction after screening
(no Rasa call); one that goes to Rasa has its screening committed first, since Rasa
calls back for wording in the language screening found, and then its replies go into
the outbox in the same transaction that marks it done.

Every step is committed before the next network call, so a crash between any two
leaves the rows saying exactly what is still to do:

- an inbox message stays `pending` until its replies are recorded, in the same
  transaction that marks it `done` (a crash before that asks Rasa again, without
  screening it again once its classification is recorded; the outbox's unique
  (inbox_id, kind, seq) keeps the replies single);
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

import logging
from collections.abc import Iterator
from contextlib import contextmanager
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
)
from bot.adapters.vault import vault_of
from bot.domain.delivery import UNSENT_STATUSES
from bot.domain.redaction import redact
from bot.domain.retry import backoff_seconds
from bot.service_layer.errors import PermanentError, TransientError
from bot.service_layer.flow_in_force import flow_of, start_turn
from bot.service_layer.outbox import new_outbox_row
from bot.service_layer.ports import (
    BotReply,
    Clock,
    Dialogue,
    MessageSender,
    Metrics,
    NoMetrics,
)
from bot.service_layer.screening import Assessed, Screening, Unscreened
from bot.service_layer.sending import OutboxSending, Send, Turn
from bot.service_layer.transition import (
    chart_model,
)

__all__ = ["ConversationProcessor", "ProcessingPolicy", "reply_text"]

log = logging.getLogger(__name__)


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
class _Answer:
    """The next inbound message to answer; ``forwarded`` is None until it is screened."""

    message: Unscreened
    forwarded: bool | None


_Step = Send | _Answer


@dataclass
class _Turn:
    """Where a turn stands: the answers it may still give, whether it holds the lease."""

    conversation_id: str
    answers_left: int | None
    held: bool = False


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
        metrics: Metrics | None = None,
    ) -> None:
        """``owner`` names this process in the leases it takes (a restarted process with
        the same name takes its own back at once)."""
        self._metrics = metrics or NoMetrics()
        self._sessions = sessions
        self._dialogue = dialogue
        self._clock = clock
        self._screening = screening
        self._policy = policy or ProcessingPolicy()
        self.owner = owner
        self._outbox = OutboxSending(
            sessions,
            sender,
            clock,
            screening.flows,
            screening.templates,
            retry_base=self._policy.retry_base_seconds,
            retry_cap=self._policy.retry_cap_seconds,
            metrics=self._metrics,
        )

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
        turn = _Turn(conversation_id, max_answers)
        try:
            with self._transaction(turn) as s:
                if not turn.held:
                    return False
                step = self._next(s, turn, self._clock.now())
            for _ in range(max_steps):
                if step is None:
                    return True
                step = (
                    self._send(turn, step) if isinstance(step, Send) else self._answer(turn, step)
                )
        except BaseException:
            self._let_go(conversation_id)
            raise
        self._let_go(conversation_id)
        return True

    @contextmanager
    def _transaction(self, turn: _Turn) -> Iterator[Session]:
        """One of the turn's transactions. Its first statement claims (or renews) the
        lease: that locks the conversation's row before anything shared, such as the
        audit log's head, which every transaction touching a conversation locks in the
        same order (a webhook's too), so two of them cannot deadlock. A turn whose lease
        was taken over still records what it did, and then stops."""
        with self._sessions.begin() as s:
            now = self._clock.now()
            turn.held = leases.claim(s, turn.conversation_id, self.owner, now, self._policy.lease)
            yield s

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
        if not turn.held:
            log.warning("conversation %s: lost the lease; stopping this turn", cid)
            return None
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
                send = self._outbox.prepare(s, conv, row, now)
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

    def _backoff(self, attempts: int, retry_after: float | None = None) -> float:
        return backoff_seconds(
            attempts,
            base=self._policy.retry_base_seconds,
            cap=self._policy.retry_cap_seconds,
            retry_after=retry_after,
        )

    # -- outbox ---------------------------------------------------------------

    def _send(self, turn: _Turn, job: Send) -> _Step | None:
        return self._outbox.send(
            job, Turn(lambda: self._transaction(turn), lambda s, now: self._next(s, turn, now))
        )

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
            flow=start_turn(self._screening.flows, conv, msg),
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
                if forward:
                    # Rasa calls back for its wording, in the language screening found:
                    # what screening records commits before Rasa is asked.
                    with self._transaction(turn) as s:
                        if self._screening.record(s, assessed) is not True:
                            return self._next(s, turn, self._clock.now())
                    assessed = None
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
        with self._transaction(turn) as s:
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
        log.info("inbox %s answered; replies queued: %d", message.sid, len(texts))

    def _answer_later(
        self, turn: _Turn, message: Unscreened, assessed: Assessed | None, exc: TransientError
    ) -> _Step | None:
        """Rasa (or an attachment's host) is unreachable: keep what screening found, and
        try the message again after a backoff (no sooner than its Retry-After)."""
        now = self._clock.now()
        with self._transaction(turn) as s:
            msg = s.get_one(InboxMessage, message.msg_id)
            if assessed is not None and msg.status == "pending":
                self._screening.record(s, assessed)
            if msg.status == "pending":
                msg.attempts += 1
                delay = self._backoff(msg.attempts, exc.retry_after)
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
        with self._transaction(turn) as s:
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
                self._metrics.inbound("failed")
            return self._next(s, turn, now)

    def _maybe_hold(self, s: Session, conv: Conversation, msg: InboxMessage, now: datetime) -> bool:
        """Queue the one "one moment" message when a prospect has waited too long."""
        if now - msg.received_at < self._policy.holding_after:
            return False
        if conv.holding_sent_at is not None:
            return False
        conv.holding_sent_at = now
        # The flow's wording, in the prospect's language.
        text = flow_of(self._screening.flows, conv).text("holding", conv.language)
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
