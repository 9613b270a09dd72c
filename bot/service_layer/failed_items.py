"""What failed work looks like to an operator, and the record a retry leaves.

See ``bot.service_layer.failed_work`` for the use cases.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from bot.adapters import audit_log
from bot.adapters.reconciliation_runs import RETRIED_KIND

__all__ = [
    "FAILED_STATUSES",
    "KINDS",
    "FailedItem",
    "FailedWorkError",
    "Kind",
    "NoSuchItem",
    "NotRetryable",
    "Operator",
    "not_failed",
    "record_retry",
]

log = logging.getLogger(__name__)

Kind = Literal["outbox", "crm", "inbox", "intake"]
KINDS: tuple[Kind, ...] = ("outbox", "crm", "inbox", "intake")
# What counts as failed, per kind (an intake row has no status: it is set aside).
FAILED_STATUSES: dict[Kind, frozenset[str]] = {
    "outbox": frozenset({"failed", "undelivered"}),
    "crm": frozenset({"failed"}),
    "inbox": frozenset({"failed"}),
    "intake": frozenset({"set aside"}),
}


class FailedWorkError(Exception):
    """A retry that was refused; nothing was changed. ``status`` is its HTTP status."""

    status = 409


class NoSuchItem(FailedWorkError):
    status = 404


class NotRetryable(FailedWorkError):
    status = 409


@dataclass(frozen=True)
class Operator:
    """Who retries, for the audit record: a console user, or a person at the command line."""

    user_id: int | None = None
    name: str | None = None

    def as_payload(self) -> dict[str, Any]:
        if self.user_id is not None:
            return {"user_id": self.user_id}
        return {"operator": self.name or "unknown"}


@dataclass(frozen=True)
class FailedItem:
    """One row of work as an operator sees it: never a body or a number.

    ``what`` is the row's own kind (an outbox row's reply, holding, protocol...; a CRM
    event's name; an intake delivery's inbound or status). ``refusal`` says why it cannot
    be retried now, None when it can (only failed rows can).
    """

    kind: Kind
    id: int
    status: str
    what: str
    conversation_id: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    attempts: int
    error_code: str | None
    error: str | None
    refusal: str | None

    @property
    def retryable(self) -> bool:
        return self.refusal is None


def not_failed(what: str, item_id: int, status: str) -> str:
    return f"{what} {item_id} is {status}, not failed: only a failed one can be retried"


def record_retry(
    s: Session,
    kind: Kind,
    item_id: int,
    conversation_id: str | None,
    previous: dict[str, Any],
    now: datetime,
    by: Operator,
) -> None:
    """The audit record of one retry, in the caller's transaction: what the row was
    (status, error, attempts) before it was made due again, and who did it."""
    who = by.as_payload()
    log.info("%s %s retried by %s", kind, item_id, next(iter(who.values())))
    audit_log.append(
        s,
        kind=RETRIED_KIND,
        conversation_id=conversation_id,
        payload={"item": kind, "id": item_id, **previous, **who},
        now=now,
    )
