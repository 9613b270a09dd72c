"""The audit chain: each record carries an HMAC-SHA256 of its canonical content,
which includes the previous record's hash, so changing, removing or reordering
any record breaks every hash after it. The HMAC's key (the audit key) is kept
outside the database: whoever holds only the database cannot rewrite the chain
and compute it again.

Canonical content is JSON with sorted keys, no insignificant whitespace and
UTF-8 text, of the record's sequence number, time, kind, conversation,
payload and previous hash.

Chains begun before the chain was keyed carry plain SHA-256 hashes. Such
records are accepted only at the start of the chain and only when a keyed record
follows them (its HMAC covers the last plain hash), so a chain recomputed with
plain hashes from start to end does not verify.

A record's payload never holds the content it is about (message bodies, numbers,
names): only ids, levels, evidence spans and the content's digest. The content
itself is kept apart, encrypted, and can be erased; see ``content_digest``.

A record is first appended unchained, as a pending entry, and chained later in
batches: appending then never waits for the chain's head. A pending entry carries
its own HMAC under the audit key (``pending_mac``), over a random nonce and every
field the chained record will hold, so an entry changed or made up while it waits
is told apart from one gangway appended; the chained record keeps that MAC, so an
entry copied and appended again is told apart too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GENESIS_HASH",
    "AuditRecord",
    "ChainBreak",
    "canonical_json",
    "content_digest",
    "first_break",
    "head_mac",
    "pending_mac",
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


def content_digest(salt: bytes, content: Any) -> str:
    """The SHA-256 an audit record keeps of its content.

    The salt is random and kept (encrypted) with the content: while the content is
    kept, anyone who reads it can check the digest; once it is erased, the digest
    alone cannot be tested against a guess (a passport number, say).
    """
    return hashlib.sha256(salt + canonical_json(content).encode("utf-8")).hexdigest()


def head_mac(key: bytes, seq: int, digest: str) -> str:
    """The keyed MAC of the chain's head: moving the head back needs the key."""
    return hmac.new(key, f"head|{seq}|{digest}".encode(), hashlib.sha256).hexdigest()


def pending_mac(
    key: bytes,
    *,
    nonce: str,
    recorded_at: str,
    kind: str,
    conversation_id: str | None,
    payload: str,
) -> str:
    """The keyed MAC of a pending entry: whoever holds only the database cannot write
    one that passes, nor change one's fields."""
    content = canonical_json(
        {
            "pending": nonce,
            "recorded_at": recorded_at,
            "kind": kind,
            "conversation_id": conversation_id,
            "payload": payload,
        }
    ).encode("utf-8")
    return hmac.new(key, content, hashlib.sha256).hexdigest()


def _content(
    *,
    seq: int,
    recorded_at: str,
    kind: str,
    conversation_id: str | None,
    payload: str,
    prev_hash: str,
) -> bytes:
    return canonical_json(
        {
            "seq": seq,
            "recorded_at": recorded_at,
            "kind": kind,
            "conversation_id": conversation_id,
            "payload": payload,
            "prev_hash": prev_hash,
        }
    ).encode("utf-8")


def record_hash(
    key: bytes,
    *,
    seq: int,
    recorded_at: str,
    kind: str,
    conversation_id: str | None,
    payload: str,
    prev_hash: str,
) -> str:
    content = _content(
        seq=seq,
        recorded_at=recorded_at,
        kind=kind,
        conversation_id=conversation_id,
        payload=payload,
        prev_hash=prev_hash,
    )
    return hmac.new(key, content, hashlib.sha256).hexdigest()


def _plain_hash(rec: AuditRecord) -> str:
    content = _content(
        seq=rec.seq,
        recorded_at=rec.recorded_at,
        kind=rec.kind,
        conversation_id=rec.conversation_id,
        payload=rec.payload,
        prev_hash=rec.prev_hash,
    )
    return hashlib.sha256(content).hexdigest()


def seal(
    key: bytes,
    *,
    seq: int,
    recorded_at: str,
    kind: str,
    conversation_id: str | None,
    payload: str,
    prev_hash: str,
) -> AuditRecord:
    """The record with these contents, its keyed hash computed."""
    digest = record_hash(
        key,
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


def first_break(key: bytes, records: Iterable[AuditRecord]) -> ChainBreak | None:
    """The first record, in sequence order, whose hash or link does not hold."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    plain_until = 0  # the last record of an unkeyed start of the chain
    for rec in records:
        if rec.seq != expected_seq:
            return ChainBreak(rec.seq, f"expected record {expected_seq}, found {rec.seq}")
        if rec.prev_hash != expected_prev:
            return ChainBreak(rec.seq, "its previous-hash does not match the record before it")
        keyed = record_hash(
            key,
            seq=rec.seq,
            recorded_at=rec.recorded_at,
            kind=rec.kind,
            conversation_id=rec.conversation_id,
            payload=rec.payload,
            prev_hash=rec.prev_hash,
        )
        if not hmac.compare_digest(keyed, rec.hash):
            if plain_until != rec.seq - 1 or _plain_hash(rec) != rec.hash:
                return ChainBreak(
                    rec.seq, "its content does not match its hash (under the audit key)"
                )
            plain_until = rec.seq
        expected_prev = rec.hash
        expected_seq += 1
    if plain_until and plain_until == expected_seq - 1:
        return ChainBreak(1, "no record carries a keyed hash: the chain may have been recomputed")
    return None
