"""The audit chain: each record carries the SHA-256 of its canonical content,
which includes the previous record's hash, so changing, removing or reordering
any record breaks every hash after it.

Canonical content is JSON with sorted keys, no insignificant whitespace and
UTF-8 text, of the record's sequence number, time, kind, conversation,
payload and previous hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GENESIS_HASH",
    "AuditRecord",
    "ChainBreak",
    "canonical_json",
    "first_break",
    "record_hash",
    "seal",
]

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    recorded_at: str
    kind: str
    conversation_id: str | None
    payload: str  # canonical JSON text, stored as is
    prev_hash: str
    hash: str


def record_hash(
    *,
    seq: int,
    recorded_at: str,
    kind: str,
    conversation_id: str | None,
    payload: str,
    prev_hash: str,
) -> str:
    content = canonical_json(
        {
            "seq": seq,
            "recorded_at": recorded_at,
            "kind": kind,
            "conversation_id": conversation_id,
            "payload": payload,
            "prev_hash": prev_hash,
        }
    )
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def seal(
    *,
    seq: int,
    recorded_at: str,
    kind: str,
    conversation_id: str | None,
    payload: str,
    prev_hash: str,
) -> AuditRecord:
    """The record with these contents, its hash computed."""
    digest = record_hash(
        seq=seq,
        recorded_at=recorded_at,
        kind=kind,
        conversation_id=conversation_id,
        payload=payload,
        prev_hash=prev_hash,
    )
    return AuditRecord(seq, recorded_at, kind, conversation_id, payload, prev_hash, digest)


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    reason: str


def first_break(records: Iterable[AuditRecord]) -> ChainBreak | None:
    """The first record, in sequence order, whose hash or link does not hold."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    for rec in records:
        if rec.seq != expected_seq:
            return ChainBreak(rec.seq, f"expected record {expected_seq}, found {rec.seq}")
        if rec.prev_hash != expected_prev:
            return ChainBreak(rec.seq, "its previous-hash does not match the record before it")
        actual = record_hash(
            seq=rec.seq,
            recorded_at=rec.recorded_at,
            kind=rec.kind,
            conversation_id=rec.conversation_id,
            payload=rec.payload,
            prev_hash=rec.prev_hash,
        )
        if actual != rec.hash:
            return ChainBreak(rec.seq, "its content does not match its hash")
        expected_prev = rec.hash
        expected_seq += 1
    return None
