"""Appending to and reading the hash-chained audit log.

The chain is keyed by the vault's audit key (bot.domain.audit); content an entry is
about goes, sealed, to ``audit_contents``, and the record keeps its digest.

Appending does not touch the chain: the record waits in ``audit_pending``, committed
or rolled back with the caller's transaction, and ``chain_pending`` (run by the
service's chainer, bot.service_layer.audit_chainer) gives waiting records their place
in the chain in batches. Only chaining takes the lock on the chain's head, once per
batch; every transaction that records something used to hold it until it committed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.orm import Session

from bot.adapters.db import SessionFactory
from bot.adapters.tables import AuditContent, AuditHead, AuditLog, AuditPending
from bot.adapters.vault import Erased, vault_of
from bot.domain.audit import (
    AuditRecord,
    ChainBreak,
    canonical_json,
    content_digest,
    first_break,
    head_mac,
    pending_mac,
    seal,
)

__all__ = [
    "APPENDED",
    "TAMPER_KIND",
    "PendingRecords",
    "RecordContent",
    "WaitingRecord",
    "append",
    "chain_all",
    "chain_pending",
    "iter_records",
    "open_content",
    "pending_records",
    "verify",
    "waiting_records",
]

log = logging.getLogger(__name__)

_CONTENT_FIELD = "audit_content"
# Set in a session's info by an append: the chainer, told after the commit, runs soon.
APPENDED = "audit_appended"
# The record the chainer writes in place of a pending entry whose MAC does not hold.
TAMPER_KIND = "audit_tamper"
# What of a pending entry becomes the chained record.
_CHAINED = ("recorded_at", "kind", "conversation_id", "payload")
_PENDING = cast(Table, AuditPending.__table__)
_LOG = cast(Table, AuditLog.__table__)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def append(
    session: Session,
    *,
    kind: str,
    conversation_id: str | None,
    payload: dict[str, Any],
    now: datetime,
    content: dict[str, Any] | None = None,
) -> int:
    """Append one record in the caller's transaction (it commits or rolls back with it).

    ``payload`` is what the record shows: ids, levels, evidence spans, never personal
    content. ``content`` (message bodies, webhook parameters, numbers) is sealed with
    the conversation's data key into its own table, and the payload gets its id and
    digest under "content". The record waits, with a MAC under the audit key, until
    ``chain_pending`` chains it: returns its pending entry's id, not a sequence number,
    which it gets then. Plain Core statements, not the ORM: this runs for every
    message and status change, and the unit of work's bookkeeping cost more than the
    hashing.
    """
    vault = vault_of(session)
    if content is not None:
        if conversation_id is None:
            raise ValueError("content can only be kept for a conversation")
        salt = secrets.token_bytes(16)
        try:
            sealed = vault.seal(
                session,
                conversation_id,
                _CONTENT_FIELD,
                canonical_json({"salt": salt.hex(), "content": content}),
            )
        except Erased:
            # What happens to an erased conversation is still recorded, its content not.
            payload = {**payload, "content": "erased"}
        else:
            digest = content_digest(salt, content)
            content_id = session.execute(
                insert(AuditContent)
                .values(
                    conversation_id=conversation_id, sha256=digest, sealed=sealed, recorded_at=now
                )
                .returning(AuditContent.id)
            ).scalar_one()
            payload = {**payload, "content": {"id": content_id, "sha256": digest}}
    recorded_at, text, nonce = _stamp(now), canonical_json(payload), secrets.token_hex(16)
    mac = pending_mac(
        vault.keyring.audit,
        nonce=nonce,
        recorded_at=recorded_at,
        kind=kind,
        conversation_id=conversation_id,
        payload=text,
    )
    pending_id = session.execute(
        insert(_PENDING)
        .values(
            recorded_at=recorded_at,
            kind=kind,
            conversation_id=conversation_id,
            payload=text,
            nonce=nonce,
            mac=mac,
        )
        .returning(_PENDING.c.id)
    ).scalar_one()
    session.info[APPENDED] = True
    return int(pending_id)


def _holds(key: bytes, row: Any) -> bool:
    expected = pending_mac(
        key,
        nonce=row.nonce,
        recorded_at=row.recorded_at,
        kind=row.kind,
        conversation_id=row.conversation_id,
        payload=row.payload,
    )
    return hmac.compare_digest(expected, row.mac)


def _tamper_fields(row: Any, reason: str, now: datetime) -> dict[str, Any]:
    """The record written in place of an entry that cannot be trusted: what it claimed
    to be (cut to the columns' size) and its payload's digest, never the payload."""
    payload = {
        "pending_id": row.id,
        "reason": reason,
        "claimed_kind": str(row.kind)[:40],
        "claimed_conversation_id": None
        if row.conversation_id is None
        else str(row.conversation_id)[:40],
        "claimed_recorded_at": str(row.recorded_at)[:40],
        "payload_sha256": hashlib.sha256(str(row.payload).encode()).hexdigest(),
    }
    return {
        "recorded_at": _stamp(now),
        "kind": TAMPER_KIND,
        "conversation_id": None,
        "payload": canonical_json(payload),
    }


def chain_all(sessions: SessionFactory, clock: Callable[[], datetime], batch: int = 500) -> int:
    """Chain everything waiting, a batch per transaction; how many records it chained.

    ``clock`` gives the time a tamper record is made at.
    """
    total = 0
    while True:
        with sessions.begin() as s:
            done = chain_pending(s, now=clock(), limit=batch)
        total += done
        if done < batch:
            return total


def chain_pending(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Chain up to ``limit`` waiting records, oldest entry first; how many it took.

    Runs in the caller's transaction and holds the chain's head until it commits, so
    chainers in several processes take turns. On PostgreSQL an entry with a lower id
    can commit after one with a higher id was chained: it is chained in a later batch,
    after it; the chain's order is its sequence numbers. An entry whose MAC does not
    hold (changed, or made without the audit key) or that was chained before (copied
    back in) is not chained as it claims: a ``TAMPER_KIND`` record, made at ``now``,
    takes its place, and the entry is removed.
    """
    key = vault_of(session).keyring.audit
    seq, prev = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1).with_for_update()
    ).one()
    # Plain rows, not ORM objects: nothing to track, and the caller's session is left
    # as it was.
    entries = session.execute(select(_PENDING).order_by(_PENDING.c.id).limit(limit)).all()
    if not entries:
        return 0
    chained = set(
        session.execute(
            select(AuditLog.pending_mac).where(AuditLog.pending_mac.in_([e.mac for e in entries]))
        ).scalars()
    )
    records = []
    for entry in entries:
        if entry.mac in chained:
            fields, mac = _tamper_fields(entry, "already chained: appended again", now), None
        elif not _holds(key, entry):
            fields, mac = _tamper_fields(entry, "changed while waiting", now), entry.mac
        else:
            fields, mac = {c: getattr(entry, c) for c in _CHAINED}, entry.mac
        if fields["kind"] == TAMPER_KIND:
            log.error("audit entry %s cannot be trusted: %s", entry.id, fields["payload"])
        seq += 1
        record = seal(key, seq=seq, prev_hash=prev, **fields)
        prev = record.hash
        records.append({**asdict(record), "pending_mac": mac})
        chained.add(entry.mac)
    session.execute(insert(_LOG), records)
    session.execute(delete(_PENDING).where(_PENDING.c.id.in_([e.id for e in entries])))
    session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(seq=seq, hash=prev, mac=head_mac(key, seq, prev))
    )
    return len(entries)


@dataclass(frozen=True)
class WaitingRecord:
    """A record appended but not chained yet, and whether its MAC holds."""

    pending_id: int
    recorded_at: str
    kind: str
    payload: str
    intact: bool


def waiting_records(session: Session, conversation_id: str) -> list[WaitingRecord]:
    """The conversation's records still waiting to be chained, in the order appended."""
    key = vault_of(session).keyring.audit
    mine = _PENDING.c.conversation_id == conversation_id
    rows = session.execute(select(_PENDING).where(mine).order_by(_PENDING.c.id)).all()
    return [WaitingRecord(r.id, r.recorded_at, r.kind, r.payload, _holds(key, r)) for r in rows]


@dataclass(frozen=True)
class PendingRecords:
    """The records still waiting to be chained, as ``verify``'s reader sees them."""

    count: int
    oldest_recorded_at: datetime | None
    altered: int  # entries whose MAC does not hold: changed or made up while waiting


def pending_records(session: Session) -> PendingRecords:
    """What waits to be chained: how many, since when, and whether each is as appended.

    Read-only, like ``verify``: an operator checks a live service without moving its
    chain. Entries are few (the chainer takes them within a fraction of a second), so
    every one's MAC is checked.
    """
    key = vault_of(session).keyring.audit
    count, oldest = session.execute(select(func.count(), func.min(AuditPending.recorded_at))).one()
    altered = 0
    last = 0
    while True:
        batch = session.execute(
            select(_PENDING).where(_PENDING.c.id > last).order_by(_PENDING.c.id).limit(1000)
        ).all()
        if not batch:
            break
        altered += sum(not _holds(key, e) for e in batch)
        last = batch[-1].id
    return PendingRecords(int(count), _moment(oldest), altered)


def _moment(stamp: str | None) -> datetime | None:
    """A waiting record's time; None for none, or for one an intruder made unreadable
    (its MAC fails, and ``altered`` counts it)."""
    try:
        return datetime.fromisoformat(stamp) if stamp else None
    except ValueError:
        return None


@dataclass(frozen=True)
class RecordContent:
    """What an audit record's content says, and whether it still matches its digest."""

    content: dict[str, Any] | None  # None once the conversation was erased
    sha256: str
    matches: bool | None  # None when there is nothing left to check


def open_content(session: Session, content_id: int) -> RecordContent:
    row = session.get_one(AuditContent, content_id)
    if row.conversation_id is None:
        raise ValueError(f"audit content {content_id} belongs to no conversation")
    text = vault_of(session).open(session, row.conversation_id, _CONTENT_FIELD, row.sealed)
    if text is None:
        return RecordContent(None, row.sha256, None)
    kept = json.loads(text)
    digest = content_digest(bytes.fromhex(kept["salt"]), kept["content"])
    return RecordContent(kept["content"], row.sha256, hmac.compare_digest(digest, row.sha256))


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


def _head(session: Session) -> tuple[int, str, str]:
    seq, digest, mac = session.execute(
        select(AuditHead.seq, AuditHead.hash, AuditHead.mac).where(AuditHead.id == 1)
    ).one()
    return int(seq), str(digest), str(mac)


def verify(
    session: Session, progress: Callable[[int], None] | None = None
) -> tuple[int, ChainBreak | None]:
    """Recompute the chain. Returns how many records were checked and the first break.

    A chain whose head row disagrees with the last record (records removed from
    the end) is reported as broken too. A record and its head move in one
    transaction, so a head beyond the last record read means records were appended
    while verify read: it reads on from there, rather than report a break that is not.
    """
    key = vault_of(session).keyring.audit
    count = 0
    last: AuditRecord | None = None
    head = (0, "", "")

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

    broken = first_break(key, watched())
    if broken is not None:
        return count, broken
    head_seq, head_hash, mac = head
    last_seq = last.seq if last else 0
    if head_seq != last_seq or (last is not None and head_hash != last.hash):
        return count, ChainBreak(
            last_seq + 1, f"the chain ends at record {last_seq} but its head says {head_seq}"
        )
    if head_seq and not hmac.compare_digest(mac, head_mac(key, head_seq, head_hash)):
        return count, ChainBreak(
            head_seq,
            "the chain's head was not written with the audit key: records may "
            "have been cut off its end",
        )
    return count, None
