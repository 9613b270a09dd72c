"""Ingesting the webhook intake: each delivery becomes an inbox message or a status
event, exactly as if it had been recorded in the request, and its intake row goes.

The webhook only inserts its delivery (``bot.adapters.intake``); the drain here takes
the rows in the order they arrived, a batch per transaction, records each with
``record_inbound`` or ``record_status`` (so the rows and audit records are the same
as ever), deletes them and wakes the worker. On PostgreSQL several service processes
drain side by side, each skipping the rows another holds; one sender's messages are
still ingested one after another, in order of arrival.

A row that cannot be ingested (it does not open, or its form is not a webhook's) is
set aside with the reason and logged without its content, and the rest go on. A batch
rolled back by a database error that may pass (a deadlock, a lost connection) is taken
again at once, a few times with short growing waits, before the drain leaves it to its
next round.

Erasure needs nothing from the drain: an intake row holds a number for the moments
before it is ingested, and one ingested after the number's conversation was erased
starts a new conversation, as any message from the number then does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from bot.adapters import intake
from bot.adapters.db import SessionFactory
from bot.adapters.intake import IntakeSeal
from bot.adapters.intake_tables import WebhookIntake
from bot.adapters.vault import vault_of
from bot.domain.inbound import (
    InboundMessage,
    StatusCallback,
    parse_inbound,
    parse_status_callback,
)
from bot.domain.sender_rate import SenderRate
from bot.service_layer.log_context import unit_of_work
from bot.service_layer.ports import Clock, Metrics, NoMetrics
from bot.service_layer.receiving import hold_rows, record_inbound, record_status

__all__ = ["Batch", "IngestDrain", "ingest_batch"]

log = logging.getLogger(__name__)

# Errors after which the same batch may well go through: a deadlock victim, a dropped
# connection (the pool hands out a fresh one).
_PASSING = (OperationalError, InterfaceError)
BATCH_ATTEMPTS = 3


@dataclass(frozen=True)
class Batch:
    """What one batch did: rows taken off the intake, new inbound messages, redelivered
    ones, and the delivery statuses (with their error codes) that moved a message."""

    done: int
    new_messages: int
    duplicates: int = 0
    delivered: tuple[tuple[str, str], ...] = ()


def ingest_batch(
    session: Session, clock: Clock, *, rate: SenderRate | None, limit: int = 32
) -> Batch:
    """Ingest up to `limit` rows in the caller's transaction.

    The conversations and outbound messages the batch will change are locked first,
    before the first audit record takes the chain's head: holding the head while
    waiting for a row the worker holds (and the worker waiting for the head) would be
    a deadlock. A database error that may pass (a deadlock, a lost connection) rolls
    the whole batch back for the next round; any other error sets its row aside.
    """
    seal = IntakeSeal(vault_of(session).keyring)
    failed = 0
    readable: list[tuple[WebhookIntake, InboundMessage | StatusCallback]] = []
    for row in intake.claim(session, limit):
        try:
            readable.append((row, _read(seal, row)))
        except Exception as exc:
            _set_aside(session, row, exc, clock)
            failed += 1
    hold_rows(
        session,
        lanes=[row.lane for row, _ in readable if row.lane is not None],
        provider_sids=[d.sid for _, d in readable if isinstance(d, StatusCallback)],
    )
    ingested: list[int] = []
    new_messages = duplicates = 0
    delivered: list[tuple[str, str]] = []
    for row, delivery in readable:
        try:
            with session.begin_nested():
                recorded = _record(session, row, delivery, rate)
            if isinstance(delivery, StatusCallback):
                if recorded:
                    delivered.append((delivery.status, delivery.error_code or ""))
            elif recorded:
                new_messages += 1
            else:
                duplicates += 1
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:
            _set_aside(session, row, exc, clock)
            failed += 1
        else:
            ingested.append(row.id)
    intake.forget(session, ingested)
    return Batch(len(ingested) + failed, new_messages, duplicates, tuple(delivered))


def _read(seal: IntakeSeal, row: WebhookIntake) -> InboundMessage | StatusCallback:
    params = seal.open(row.kind, row.sealed)
    if row.kind == "inbound":
        return parse_inbound(params)
    if row.kind == "status":
        return parse_status_callback(params)
    raise ValueError(f"unknown kind {row.kind!r}")


def _record(
    session: Session,
    row: WebhookIntake,
    delivery: InboundMessage | StatusCallback,
    rate: SenderRate | None,
) -> bool:
    """Record one delivery at the time it arrived: True for a new inbound message, or
    a status that moved an outbound message."""
    if isinstance(delivery, InboundMessage):
        return record_inbound(session, delivery, row.received_at, rate=rate)
    return record_status(
        session,
        sid=delivery.sid,
        status=delivery.status,
        error_code=delivery.error_code,
        now=row.received_at,
    )


def _set_aside(session: Session, row: WebhookIntake, exc: Exception, clock: Clock) -> None:
    # The exception's type only: its message could quote the webhook's content.
    reason = type(exc).__name__
    log.error("intake row %d (%s) cannot be ingested (%s): set aside", row.id, row.kind, reason)
    intake.set_aside(session, row.id, reason, clock.now())


class IngestDrain:
    """Drains the intake in a thread of its own: woken by each committed webhook, and
    looking every `poll_interval` seconds besides (for rows another process stored, or
    left behind by a failure).

    ``sleep`` waits between attempts at a batch that failed with a passing database
    error (tests pass one that only records)."""

    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        *,
        rate: SenderRate | None,
        messages_arrived: Callable[[], None],
        poll_interval: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        metrics: Metrics | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._rate = rate
        self._messages_arrived = messages_arrived
        self._metrics = metrics or NoMetrics()
        self._poll = poll_interval
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._running = threading.Lock()  # one drain at a time in this process
        self._thread: threading.Thread | None = None
        self._retrying = Retrying(
            stop=stop_after_attempt(BATCH_ATTEMPTS),
            wait=wait_exponential(multiplier=0.05, max=1.0),
            retry=retry_if_exception_type(_PASSING),
            sleep=sleep,
            before_sleep=_log_retry,
            reraise=True,
        )

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="gangway-ingest", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look at the intake now (called when a webhook's row is committed)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def drain(self) -> int:
        """Ingest batch after batch until none is left that this process may take;
        the number of rows taken off. A drain already running here is waited for."""
        total = 0
        with self._running:
            while True:
                batch = self._retrying(self._batch)
                self._count(batch)
                if batch.new_messages:
                    self._messages_arrived()
                if not batch.done:
                    return total
                total += batch.done

    def _batch(self) -> Batch:
        with self._sessions.begin() as s:
            return ingest_batch(s, self._clock, rate=self._rate)

    def _count(self, batch: Batch) -> None:
        """Counted once the batch is committed (a rolled-back batch is taken again)."""
        for _ in range(batch.duplicates):
            self._metrics.inbound("duplicate")
        for status, error_code in batch.delivered:
            self._metrics.outbound(status, error_code)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            with unit_of_work("ingest"):
                try:
                    self.drain()
                except Exception:  # the loop must outlive a database hiccup
                    log.exception("ingesting the webhook intake failed; trying again")
            self._wake.wait(self._poll)
            self._wake.clear()


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    # The type alone: a database error's text quotes the statement and its parameters.
    log.warning(
        "ingesting a batch failed (%s); attempt %d of %d in %.2fs",
        type(exc).__name__,
        state.attempt_number + 1,
        BATCH_ATTEMPTS,
        wait,
    )
