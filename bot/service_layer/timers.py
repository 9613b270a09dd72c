"""Firing due timers, each exactly once, through the handler for its kind.

A runner first claims a batch of due timers (a short transaction), then fires
each in a transaction of its own: it locks the row, checks that the timer is
still pending and still claimed by this runner, runs the handler, marks the
timer fired and appends a ``timer_fired`` audit record. Because all of that
commits or rolls back together, a crash anywhere in between leaves the timer
pending with nothing of the handler's work kept, and the row lock plus the
status check mean no two runners can both fire it.

Handlers run inside that transaction and must only write to the database
(e.g. an outbox row for a reminder); anything sent to the outside from a
handler could not be rolled back.

A timer of a conversation that a worker is processing right now (a live
conversation lease, see bot.adapters.leases) waits a moment instead: the
worker handles a message across several transactions, and a handler changing
the conversation in between would race with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.adapters import audit_log, timers
from bot.adapters.db import SessionFactory
from bot.adapters.tables import Conversation, Timer
from bot.domain.retry import backoff_seconds
from bot.service_layer.log_context import unit_of_work, working_on
from bot.service_layer.ports import Clock, Metrics, NoMetrics

__all__ = ["TimerHandler", "TimerRunner"]

log = logging.getLogger(__name__)

TimerHandler = Callable[[Session, Timer, datetime], None]
"""Does a timer's work inside the firing transaction: (session, timer, now)."""

_MAX_ERROR_CHARS = 2000


class _Outcome(Enum):
    FIRED = "fired"
    SKIPPED = "skipped"  # fired, cancelled or taken over by another runner meanwhile
    DEFERRED = "deferred"  # its conversation is being processed
    DROPPED = "dropped"  # no handler for its kind


class TimerRunner:
    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        handlers: Mapping[str, TimerHandler],
        *,
        owner: str,
        lease: timedelta = timedelta(seconds=60),
        retry_base_seconds: float = 5.0,
        retry_cap_seconds: float = 300.0,
        batch: int = 50,
        wait_for_conversation_lease: bool = True,
        metrics: Metrics | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._handlers = dict(handlers)
        self._owner = owner
        self._lease = lease
        self._retry_base = retry_base_seconds
        self._retry_cap = retry_cap_seconds
        self._batch = batch
        self._wait_for_conversation_lease = wait_for_conversation_lease
        self._metrics = metrics or NoMetrics()

    def fire_due(self) -> int:
        """Fire the timers due now (up to one batch); returns how many fired."""
        now = self._clock.now()
        with self._sessions.begin() as s:
            ids = timers.claim_due(
                s, now=now, owner=self._owner, lease=self._lease, limit=self._batch
            )
        return sum(1 for timer_id in ids if self._fire_one(timer_id) is _Outcome.FIRED)

    def _fire_one(self, timer_id: int) -> _Outcome | None:
        now = self._clock.now()
        with unit_of_work("timer"):
            try:
                with self._sessions.begin() as s:
                    return self._fire_in(s, timer_id, now)
            except Exception as exc:
                # The handler (or the commit) failed: its transaction rolled back.
                log.warning("timer %d failed; will retry", timer_id, exc_info=True)
                self._retry_later(timer_id, now, exc)
                return None

    def _fire_in(self, s: Session, timer_id: int, now: datetime) -> _Outcome:
        conversation_id = s.scalar(select(Timer.conversation_id).where(Timer.id == timer_id))
        working_on(conversation_id)
        # Lock the conversation before the timer: the worker's transactions touch
        # the conversation first and its timers after, and the same order here
        # keeps PostgreSQL from deadlocking the two.
        if conversation_id is not None and self._wait_for_conversation_lease:
            lease_until = s.scalar(
                select(Conversation.lease_until)
                .where(Conversation.id == conversation_id)
                .with_for_update()
            )
            if lease_until is not None and lease_until > now:
                self._postpone(s, timer_id, now + timedelta(seconds=self._retry_base))
                return _Outcome.DEFERRED
        timer = s.scalars(
            select(Timer)
            .where(Timer.id == timer_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none()
        if timer is None or timer.status != "pending" or timer.claimed_by != self._owner:
            return _Outcome.SKIPPED
        handler = self._handlers.get(timer.kind)
        if handler is None:
            # Retrying cannot help, and a timer nobody can fire must not loop.
            log.error(
                "timer %d (%s): no handler for kind %r; cancelled", timer.id, timer.key, timer.kind
            )
            timer.status = "cancelled"
            timer.last_error = f"no handler for timer kind {timer.kind!r}"
            timer.claimed_until = None
            return _Outcome.DROPPED
        handler(s, timer, now)
        timer.status = "fired"
        timer.fired_at = now
        timer.claimed_until = None
        audit_log.append(
            s,
            kind="timer_fired",
            conversation_id=timer.conversation_id,
            # The key and kind say what fired; the payload stays out of the
            # append-only log, since callers may put anything in it.
            payload={
                "timer_id": timer.id,
                "key": timer.key,
                "kind": timer.kind,
                "due_at": timer.due_at.isoformat(),
                "attempt": timer.attempts + 1,
            },
            now=now,
        )
        self._metrics.timer_lag((now - timer.due_at).total_seconds())
        return _Outcome.FIRED

    def _postpone(self, s: Session, timer_id: int, until: datetime) -> None:
        s.execute(
            update(Timer)
            .where(
                Timer.id == timer_id,
                Timer.status == "pending",
                Timer.claimed_by == self._owner,
            )
            .values(claimed_until=until)
            .execution_options(synchronize_session=False)
        )

    def _retry_later(self, timer_id: int, now: datetime, exc: Exception) -> None:
        """Count the failure and keep the timer claimed until its backoff is over."""
        try:
            with self._sessions.begin() as s:
                timer = s.scalars(
                    select(Timer).where(Timer.id == timer_id).with_for_update()
                ).one_or_none()
                if timer is None or timer.status != "pending" or timer.claimed_by != self._owner:
                    return
                timer.attempts += 1
                timer.last_error = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR_CHARS]
                delay = backoff_seconds(timer.attempts, base=self._retry_base, cap=self._retry_cap)
                timer.claimed_until = now + timedelta(seconds=delay)
        except Exception:
            # The claim still expires after the lease, and the timer is retried then.
            log.exception("timer %d: could not record its failure", timer_id)
