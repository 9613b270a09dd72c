"""The CRM outbox: events for the firm's CRM, kept until the CRM has taken them.

`enqueue` adds an event in the caller's transaction, so it exists if and only if
the change it reports (a handoff created, claimed, closed...) was committed. Its
payload is fixed there, as canonical JSON, and sent byte for byte on every
attempt; its idempotency key is the body's ``id``.

`CrmPusher.push_due` sends what is due, one event at a time:

1. claim: in a short transaction, take the oldest due pending event whose
   handoff has no earlier event still pending, and push its ``next_attempt_at``
   forward by the lease. That is the claim: its status stays ``pending`` and
   nothing about the delivery is recorded yet. On PostgreSQL the row is taken
   with ``FOR UPDATE SKIP LOCKED``, so pushers in several processes never wait
   for nor take the same row; SQLite has one writer at a time anyway.
2. deliver: call the webhook outside any transaction (no row is locked while
   the CRM thinks).
3. record, in a transaction with its audit record:
   2xx -> ``sent`` (audit ``crm_delivered``) and never picked again;
   transient error -> still ``pending``, due again after an exponential
   backoff (`bot.domain.retry.backoff_seconds`, no jitter; no sooner than the
   CRM's Retry-After, up to the cap), retried for as long as it takes;
   permanent error -> ``failed`` (audit ``crm_failed``), for an operator.

Order: an event of a handoff is sent only after every earlier event (by id) of
that handoff left ``pending``. Callers enqueue a handoff's events in the
transaction that changes the handoff, which holds its row, so ids follow the
order of the changes. A failed event does not hold back later ones: it needs an
operator whatever happens, and blocking would silently stop the handoff's
history from reaching the CRM. Events without a handoff are independent.

At least once, never again after a recorded 2xx. If the process dies after the
CRM answered 2xx but before ``sent`` was committed, or the answer was lost
(a timeout after the CRM stored the event), the claim expires and the event is
sent again with the SAME idempotency key: that is what the key is for, and the
receiver answers 2xx to a key it already has without storing it twice. The
lease must therefore outlast one webhook call (its timeout), or a second pusher
may send the event while the first is still waiting for the answer -- harmless
for the same reason, but noisy.

After a transient error the round stops: the CRM is probably down, and trying
every other event would only wait out a timeout for each.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Protocol

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session, aliased

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory
from bot.adapters.tables import CrmDelivery, Handoff
from bot.domain.audit import canonical_json
from bot.domain.redaction import redact
from bot.domain.retry import backoff_seconds
from bot.service_layer.errors import IntegrationError, PermanentError
from bot.service_layer.ports import Clock

__all__ = ["CrmPusher", "CrmSender", "enqueue"]

log = logging.getLogger(__name__)

_MAX_EVENT_CHARS = 64  # the column's width
_MAX_ERROR_CHARS = 2000


class CrmSender(Protocol):
    """Sends one signed event to the CRM (a signed webhook in production).

    Returns the 2xx status; raises `TransientError` or `PermanentError` otherwise.
    """

    def deliver(self, body: bytes, *, idempotency_key: str, event: str, timestamp: int) -> int: ...


def enqueue(
    session: Session,
    *,
    event: str,
    handoff_id: int | None,
    data: Mapping[str, Any],
    now: datetime,
) -> str:
    """Add an event for the CRM in the caller's transaction; returns its idempotency key.

    The body is ``{"id": key, "event": event, "occurred_at": now (ISO 8601, UTC),
    "data": data}`` as canonical JSON (sorted keys, no spaces, UTF-8). ``data``
    must be JSON-serialisable and must not hold the sensitive values themselves.
    """
    if not event or len(event) > _MAX_EVENT_CHARS:
        raise ValueError(f"event must be 1 to {_MAX_EVENT_CHARS} characters, got {event!r}")
    key = str(uuid.uuid4())
    payload = canonical_json(
        {
            "id": key,
            "event": event,
            "occurred_at": now.astimezone(UTC).isoformat(timespec="microseconds"),
            "data": dict(data),
        }
    )
    session.add(
        CrmDelivery(
            idempotency_key=key,
            handoff_id=handoff_id,
            event=event,
            payload=payload,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return key


@dataclass(frozen=True)
class _Claim:
    id: int
    key: str
    event: str
    payload: str
    lease_until: datetime  # the row's next_attempt_at while the claim is ours


class _Outcome(Enum):
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"


class CrmPusher:
    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        webhook: CrmSender,
        *,
        retry_base_seconds: float = 5.0,
        retry_cap_seconds: float = 600.0,
        batch: int = 20,
        lease_seconds: float = 60.0,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self._sessions = sessions
        self._clock = clock
        self._webhook = webhook
        self._retry_base = retry_base_seconds
        self._retry_cap = retry_cap_seconds
        self._batch = batch
        self._lease = timedelta(seconds=lease_seconds)

    def push_due(self) -> int:
        """Send up to ``batch`` due events; returns how many the CRM took (2xx)."""
        sent = 0
        for _ in range(self._batch):
            claim = self._claim_next()
            if claim is None:
                break
            outcome = self._attempt(claim)
            if outcome is _Outcome.SENT:
                sent += 1
            elif outcome is _Outcome.RETRY:
                break
        return sent

    def fire_due(self) -> int:
        """`push_due`, by the name bot.service_layer.scheduler.TimerScheduler calls."""
        return self.push_due()

    def _claim_next(self) -> _Claim | None:
        now = self._clock.now()
        earlier = aliased(CrmDelivery)
        held_back = exists().where(
            earlier.handoff_id == CrmDelivery.handoff_id,
            earlier.status == "pending",
            earlier.id < CrmDelivery.id,
        )
        with self._sessions.begin() as s:
            row = s.execute(
                select(
                    CrmDelivery.id,
                    CrmDelivery.idempotency_key,
                    CrmDelivery.event,
                    CrmDelivery.payload,
                )
                .where(
                    CrmDelivery.status == "pending",
                    CrmDelivery.next_attempt_at <= now,
                    ~held_back,
                )
                .order_by(CrmDelivery.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            lease_until = now + self._lease
            s.execute(
                update(CrmDelivery)
                .where(CrmDelivery.id == row.id)
                .values(next_attempt_at=lease_until)
                .execution_options(synchronize_session=False)
            )
        return _Claim(row.id, row.idempotency_key, row.event, row.payload, lease_until)

    def _attempt(self, claim: _Claim) -> _Outcome:
        timestamp = int(self._clock.now().timestamp())
        try:
            status = self._webhook.deliver(
                claim.payload.encode("utf-8"),
                idempotency_key=claim.key,
                event=claim.event,
                timestamp=timestamp,
            )
        except PermanentError as exc:
            log.error("CRM refused %s %s for good: %s", claim.event, claim.key, redact(str(exc)))
            self._record_failure(claim, exc)
            return _Outcome.FAILED
        except Exception as exc:
            # TransientError, or a fault in the sender itself: retrying is safe
            # (same key) and losing the event is not.
            if not isinstance(exc, IntegrationError):
                log.exception("sending %s %s to the CRM failed", claim.event, claim.key)
            else:
                log.warning(
                    "CRM push %s %s will be retried: %s", claim.event, claim.key, redact(str(exc))
                )
            self._record_retry(claim, exc)
            return _Outcome.RETRY
        self._record_sent(claim, status)
        return _Outcome.SENT

    def _locked(self, s: Session, claim: _Claim) -> CrmDelivery | None:
        return s.scalars(
            select(CrmDelivery)
            .where(CrmDelivery.id == claim.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one_or_none()

    def _record_sent(self, claim: _Claim, status: int) -> None:
        now = self._clock.now()
        with self._sessions.begin() as s:
            row = self._locked(s, claim)
            # Whoever holds the claim now (even one that saw a refusal meanwhile),
            # the CRM has the event: it is sent.
            if row is None or row.status == "sent":
                return
            row.status = "sent"
            row.sent_at = now
            row.attempts += 1
            row.last_status = status
            row.last_error = None
            self._audit(s, "crm_delivered", row, now)

    def _record_retry(self, claim: _Claim, exc: Exception) -> None:
        now = self._clock.now()
        with self._sessions.begin() as s:
            row = self._locked(s, claim)
            if row is None or not self._still_ours(row, claim):
                return
            row.attempts += 1
            row.last_status = getattr(exc, "status", None)
            row.last_error = _describe(exc)
            # No sooner than the CRM's Retry-After, if it said (up to the cap).
            delay = backoff_seconds(
                row.attempts,
                base=self._retry_base,
                cap=self._retry_cap,
                retry_after=exc.retry_after if isinstance(exc, IntegrationError) else None,
            )
            row.next_attempt_at = now + timedelta(seconds=delay)

    def _record_failure(self, claim: _Claim, exc: PermanentError) -> None:
        now = self._clock.now()
        with self._sessions.begin() as s:
            row = self._locked(s, claim)
            if row is None or not self._still_ours(row, claim):
                return
            row.status = "failed"
            row.attempts += 1
            row.last_status = exc.status
            row.last_error = _describe(exc)
            self._audit(s, "crm_failed", row, now)

    @staticmethod
    def _still_ours(row: CrmDelivery, claim: _Claim) -> bool:
        """Pending and not taken over by another pusher after our claim expired."""
        return row.status == "pending" and row.next_attempt_at == claim.lease_until

    @staticmethod
    def _audit(s: Session, kind: str, row: CrmDelivery, now: datetime) -> None:
        conversation_id = (
            s.scalar(select(Handoff.conversation_id).where(Handoff.id == row.handoff_id))
            if row.handoff_id is not None
            else None
        )
        payload: dict[str, Any] = {
            "delivery_id": row.id,
            "idempotency_key": row.idempotency_key,
            "event": row.event,
            "handoff_id": row.handoff_id,
            "attempts": row.attempts,
            "http_status": row.last_status,
        }
        if row.last_error is not None:
            payload["error"] = row.last_error
        audit_log.append(s, kind=kind, conversation_id=conversation_id, payload=payload, now=now)


def _describe(exc: Exception) -> str:
    text = exc.message if isinstance(exc, IntegrationError) else f"{type(exc).__name__}: {exc}"
    return text[:_MAX_ERROR_CHARS]
