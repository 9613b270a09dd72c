"""Appending to and reading the hash-chained audit log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from bot.adapters.tables import AuditHead, AuditLog
from bot.domain.audit import AuditRecord, ChainBreak, canonical_json, first_break, seal

__all__ = ["append", "iter_records", "verify"]


def append(
    session: Session,
    *,
    kind: str,
    conversation_id: str | None,
    payload: dict[str, Any],
    now: datetime,
) -> int:
    """Append one record in the caller's transaction (it commits or rolls back with it).

    Returns its sequence number. Plain Core statements, not the ORM: this runs for
    every message and status change, and the unit of work's bookkeeping cost more
    than the hashing.
    """
    head_seq, head_hash = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1).with_for_update()
    ).one()
    record = seal(
        seq=head_seq + 1,
        recorded_at=now.astimezone(UTC).isoformat(timespec="microseconds"),
        kind=kind,
        conversation_id=conversation_id,
        payload=canonical_json(payload),
        prev_hash=head_hash,
    )
    session.execute(insert(AuditLog).values(**asdict(record)))
    session.execute(
        update(AuditHead).where(AuditHead.id == 1).values(seq=record.seq, hash=record.hash)
    )
    return record.seq


def iter_records(session: Session, batch: int = 1000, after: int = 0) -> Iterator[AuditRecord]:
    """The records in order, from the one after sequence number ``after``."""
    last = after
    while True:
        rows = (
            session.execute(
                select(AuditLog).where(AuditLog.seq > last).order_by(AuditLog.seq).limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            return
        for r in rows:
            yield AuditRecord(
                r.seq, r.recorded_at, r.kind, r.conversation_id, r.payload, r.prev_hash, r.hash
            )
        last = rows[-1].seq


# How often verify reads on when the head moved while it read: a live service appends
# while an operator verifies. Each round reads only the records appended meanwhile.
_CATCH_UP_ROUNDS = 10


def _head(session: Session) -> tuple[int, str]:
    seq, digest = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
    ).one()
    return int(seq), str(digest)


def verify(
    session: Session, progress: Callable[[int], None] | None = None
) -> tuple[int, ChainBreak | None]:
    """Recompute the chain. Returns how many records were checked and the first break.

    A chain whose head row disagrees with the last record (records removed from
    the end) is reported as broken too. A record and its head move in one
    transaction, so a head beyond the last record read means records were appended
    while verify read: it reads on from there, rather than report a break that is not.
    """
    count = 0
    last: AuditRecord | None = None
    head = (0, "")

    def watched() -> Iterator[AuditRecord]:
        nonlocal count, last, head
        after = 0
        for _ in range(_CATCH_UP_ROUNDS):
            for last in iter_records(session, after=after):
                count += 1
                if progress is not None and count % 1000 == 0:
                    progress(count)
                yield last
            after = last.seq if last else 0
            head = _head(session)
            if head[0] <= after:
                return

    broken = first_break(watched())
    if broken is not None:
        return count, broken
    head_seq, head_hash = head
    last_seq = last.seq if last else 0
    if head_seq != last_seq or (last is not None and head_hash != last.hash):
        return count, ChainBreak(
            last_seq + 1, f"the chain ends at record {last_seq} but its head says {head_seq}"
        )
    return count, None
