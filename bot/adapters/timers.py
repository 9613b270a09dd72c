"""Durable timer rows: scheduling, cancelling and claiming them.

A timer is a row, not something held in memory, so it survives a restart. Its
``key`` is unique and chosen by the caller (e.g. ``consent-reminder:<consent id>``),
so scheduling the same timer twice is harmless. A runner claims due timers for a
while (a lease on the row) before firing them; a claim whose runner died expires
and another runner takes the timer over. Every function runs in the caller's
transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.adapters.tables import Timer

__all__ = ["cancel", "claim_due", "pending_for", "schedule"]


def schedule(
    session: Session,
    *,
    key: str,
    kind: str,
    due_at: datetime,
    now: datetime,
    conversation_id: str | None = None,
    payload: Mapping[str, Any] | None = None,
) -> bool:
    """Add a pending timer; False, and nothing changes, when one with this key exists.

    The existing timer wins whatever its status: a fired or cancelled timer is not
    brought back by scheduling it again, and its due time is not moved.
    """
    values = {
        "key": key,
        "kind": kind,
        "due_at": due_at,
        "conversation_id": conversation_id,
        "payload": json.dumps(dict(payload or {}), sort_keys=True),
        "status": "pending",
        "attempts": 0,
        "created_at": now,
    }
    # ON CONFLICT DO NOTHING rather than look-then-insert: two transactions
    # scheduling the same key at once must not fail (on PostgreSQL a unique
    # violation would abort the caller's whole transaction).
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # RETURNING rather than rowcount, which psycopg reports as -1 for a skipped row.
    inserted = session.execute(
        insert(Timer)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(Timer.id)
    ).first()
    return inserted is not None


def cancel(
    session: Session,
    *,
    conversation_id: str,
    now: datetime,
    kinds: Iterable[str] | None = None,
) -> int:
    """Cancel the conversation's pending timers (only those of ``kinds`` if given).

    Returns how many were cancelled. A timer being fired at this moment is locked
    by its runner; on PostgreSQL this waits for it and then leaves it alone, since
    it is no longer pending. ``now`` is taken for symmetry with the other calls;
    the table has no column for the cancellation time yet.
    """
    del now
    stmt = update(Timer).where(Timer.conversation_id == conversation_id, Timer.status == "pending")
    if kinds is not None:
        stmt = stmt.where(Timer.kind.in_(list(kinds)))
    result = session.execute(
        stmt.values(status="cancelled").execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def pending_for(session: Session, conversation_id: str) -> list[Timer]:
    """The conversation's pending timers, soonest first."""
    rows = session.execute(
        select(Timer)
        .where(Timer.conversation_id == conversation_id, Timer.status == "pending")
        .order_by(Timer.due_at, Timer.id)
    ).scalars()
    return list(rows)


def claim_due(
    session: Session, *, now: datetime, owner: str, lease: timedelta, limit: int
) -> list[int]:
    """Claim up to ``limit`` due timers for ``owner`` until ``now + lease``.

    Returns their ids, oldest due first. A timer is claimable when it is pending,
    due, and nobody holds a live claim on it (a claim also postpones a retry:
    see TimerRunner). On PostgreSQL rows another runner has locked are skipped,
    not waited for; SQLite serialises writers, so there is nothing to skip.
    """
    if limit <= 0:
        return []
    ids = list(
        session.execute(
            select(Timer.id)
            .where(
                Timer.status == "pending",
                Timer.due_at <= now,
                or_(Timer.claimed_until.is_(None), Timer.claimed_until <= now),
            )
            .order_by(Timer.due_at, Timer.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if ids:
        session.execute(
            update(Timer)
            .where(Timer.id.in_(ids))
            .values(claimed_by=owner, claimed_until=now + lease)
            .execution_options(synchronize_session=False)
        )
    return ids
