"""Appending to and reading the hash-chained audit log.

The chain is keyed by the vault's audit key (bot.domain.audit); content an entry is
about goes, sealed, to ``audit_contents``, and the record keeps its digest.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from bot.adapters.tables import AuditContent, AuditHead, AuditLog
from bot.adapters.vault import Erased, vault_of
from bot.domain.audit import (
    AuditRecord,
    ChainBreak,
    canonical_json,
    content_digest,
    first_break,
    head_mac,
    seal,
)

__all__ = ["RecordContent", "append", "iter_records", "open_content", "verify"]

_CONTENT_FIELD = "audit_content"


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
    digest under "content". Returns the record's sequence number. Plain Core
    statements, not the ORM: this runs for every message and status change, and the
    unit of work's bookkeeping cost more than the hashing.
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
    key = vault.keyring.audit
    head_seq, head_hash = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1).with_for_update()
    ).one()
    record = seal(
        key,
        seq=head_seq + 1,
        recorded_at=now.astimezone(UTC).isoformat(timespec="microseconds"),
        kind=kind,
        conversation_id=conversation_id,
        payload=canonical_json(payload),
        prev_hash=head_hash,
    )
    session.execute(insert(AuditLog).values(**asdict(record)))
    session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(seq=record.seq, hash=record.hash, mac=head_mac(key, record.seq, record.hash))
    )
    return record.seq


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
