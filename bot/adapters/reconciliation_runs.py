"""Gangway's side of a reconciliation: its messages in a range, which provider ids it
knows, and the record of each run (``reconciliation_runs``).

Every function runs in the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.adapters.record_tables import AuditLog, AuditPending
from bot.adapters.tables import Conversation, InboxMessage, OutboxMessage, ReconciliationRun
from bot.adapters.vault import vault_of
from bot.domain.reconciliation import Direction

__all__ = [
    "RETRIED_KIND",
    "RecordedMessage",
    "finish_run",
    "inbound_between",
    "known_sids",
    "not_handed_over_between",
    "outbound_between",
    "scheduled_resume_point",
    "slot_free",
    "start_run",
]

# The audit record of a failed message made due again: a reconciliation reads the
# provider id it had before.
RETRIED_KIND = "failed_work_retried"
# Ids per IN (...) list: well inside SQLite's and PostgreSQL's parameter limits.
_CHUNK = 500


@dataclass(frozen=True)
class RecordedMessage:
    """One message as gangway recorded it: its provider id, when, and with whom."""

    sid: str
    direction: Direction
    at: datetime
    counterpart: str


def inbound_between(s: Session, start: datetime, end: datetime) -> list[RecordedMessage]:
    """Inbox messages received in [start, end)."""
    vault = vault_of(s)
    rows = s.execute(
        select(
            InboxMessage.message_sid,
            InboxMessage.received_at,
            Conversation.id,
            Conversation.number_sealed,
        )
        .join(Conversation, Conversation.id == InboxMessage.conversation_id)
        .where(InboxMessage.received_at >= start, InboxMessage.received_at < end)
        .order_by(InboxMessage.received_at, InboxMessage.id)
    )
    return [
        RecordedMessage(sid, "inbound", at, vault.read(s, conv_id, "number", number))
        for sid, at, conv_id, number in rows
    ]


def outbound_between(s: Session, start: datetime, end: datetime) -> list[RecordedMessage]:
    """Outbox messages the provider accepted (they carry its id), first sent in [start, end).

    No column holds the moment the provider accepted a message; the first attempt is
    the closest (a retried send is accepted a little later, and its send date may then
    fall in the next range: the comparison looks ids up on either side, not times).
    """
    vault = vault_of(s)
    at = func.coalesce(OutboxMessage.first_attempt_at, OutboxMessage.created_at)
    rows = s.execute(
        select(
            OutboxMessage.provider_sid, at, OutboxMessage.conversation_id, OutboxMessage.to_number
        )
        .where(OutboxMessage.provider_sid.is_not(None), at >= start, at < end)
        .order_by(at, OutboxMessage.id)
    )
    return [
        RecordedMessage(sid, "outbound", when, vault.read(s, conv_id, "to_number", number))
        for sid, when, conv_id, number in rows
        if sid is not None
    ]


def not_handed_over_between(s: Session, start: datetime, end: datetime) -> int:
    """Outbox messages created in [start, end) that the provider never accepted."""
    return int(
        s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.provider_sid.is_(None),
                OutboxMessage.created_at >= start,
                OutboxMessage.created_at < end,
            )
        )
        or 0
    )


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def known_sids(s: Session, direction: Direction, sids: Collection[str]) -> set[str]:
    """Those of ``sids`` gangway holds: inbound in the inbox (``message_sid``), outbound
    in the outbox (``provider_sid``), whenever gangway recorded them.

    An outbox message that failed after it was handed over and was then retried from
    the failed-work list has a new provider id; the failed attempt's is kept in the
    audit record of that retry, and counts as known too.
    """
    column = InboxMessage.message_sid if direction == "inbound" else OutboxMessage.provider_sid
    known: set[str] = set()
    for chunk in _chunks(sorted(set(sids))):
        known.update(v for v in s.execute(select(column).where(column.in_(chunk))).scalars() if v)
    if direction == "outbound":
        known.update(_retried_sids(s, set(sids) - known))
    return known


def _retried_sids(s: Session, sids: Collection[str]) -> set[str]:
    """Those of ``sids`` that a retried outbox message was handed over as before its
    retry. Few are asked about (the ids the outbox does not hold): one look-up each."""
    found: set[str] = set()
    for sid in sids:
        for table in (AuditLog, AuditPending):
            payloads = s.execute(
                select(table.payload).where(
                    table.kind == RETRIED_KIND, table.payload.contains(sid, autoescape=True)
                )
            ).scalars()
            if any(json.loads(p).get("previous_provider_sid") == sid for p in payloads):
                found.add(sid)
                break
    return found


def start_run(
    s: Session,
    *,
    trigger: str,
    start: datetime,
    end: datetime,
    now: datetime,
    slot: str | None = None,
) -> int | None:
    """Record a run as running; its id, or None when another run holds ``slot``."""
    values = {
        "trigger": trigger,
        "slot": slot,
        "range_start": start,
        "range_end": end,
        "started_at": now,
        "outcome": "running",
    }
    # ON CONFLICT DO NOTHING: two processes claiming one slot at once must not fail
    # (on PostgreSQL a unique violation would abort the whole transaction).
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    return s.execute(
        insert(ReconciliationRun)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["slot"])
        .returning(ReconciliationRun.id)
    ).scalar_one_or_none()


def slot_free(s: Session, slot: str) -> bool:
    """True when no run holds ``slot`` yet (a cheap look before claiming it)."""
    return s.scalar(select(ReconciliationRun.id).where(ReconciliationRun.slot == slot)) is None


def finish_run(
    s: Session,
    run_id: int,
    *,
    outcome: str,
    now: datetime,
    counts: Mapping[str, int] | None = None,
    error: str | None = None,
) -> None:
    """Record how a run ended: clean, gaps (with its counts) or failed (with the error)."""
    s.execute(
        update(ReconciliationRun)
        .where(ReconciliationRun.id == run_id)
        .values(outcome=outcome, finished_at=now, error=error, **dict(counts or {}))
        .execution_options(synchronize_session=False)
    )


def scheduled_resume_point(s: Session) -> datetime | None:
    """Where the next scheduled run must start so no stretch goes unchecked: the end of
    the last completed scheduled run, else the start of the first scheduled run that
    failed or never finished, else None (no scheduled run yet)."""
    scheduled = ReconciliationRun.trigger == "schedule"
    done = s.scalar(
        select(func.max(ReconciliationRun.range_end)).where(
            scheduled, ReconciliationRun.outcome.in_(("clean", "gaps"))
        )
    )
    if done is not None:
        return done
    return s.scalar(select(func.min(ReconciliationRun.range_start)).where(scheduled))
