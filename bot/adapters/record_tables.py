"""The tables that make the records provable and erasable: the audit chain, the
records waiting to join it and the contents its records refer to, the conversations'
data keys, legal holds, and the reconciliation runs against the provider."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.adapters.schema_base import Base, UTCDateTime

__all__ = [
    "AuditContent",
    "AuditHead",
    "AuditLog",
    "AuditPending",
    "DataKey",
    "KeyCheck",
    "LegalHold",
    "ReconciliationRun",
]


class AuditLog(Base):
    """Append-only: database triggers refuse UPDATE, DELETE, TRUNCATE and an insert
    that would overwrite a record (migrations 0001 and 0005).

    ``hash`` is an HMAC keyed by the audit key, which is not in the database.
    """

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    recorded_at: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(40), index=True)
    conversation_id: Mapped[str | None] = mapped_column(String(40), index=True)
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # The MAC of the pending entry the record was chained from (NULL before pending
    # entries, and for a record the chainer wrote itself): unique, so an entry copied
    # and appended again is found out, and what lets the entry be deleted (0012).
    pending_mac: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)


class AuditPending(Base):
    """Records appended but not chained yet: an append inserts here, in the caller's
    transaction, and never waits for the chain's head; the chainer moves them into
    ``audit_log`` in batches (bot.adapters.audit_log).

    ``mac`` is keyed by the audit key over a random nonce and the fields
    (bot.domain.audit.pending_mac). Database triggers refuse UPDATE and TRUNCATE, and
    a DELETE of an entry no chained record names by its MAC (migration 0012).
    """

    __tablename__ = "audit_pending"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recorded_at: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(40))
    conversation_id: Mapped[str | None] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str] = mapped_column(String(32))
    mac: Mapped[str] = mapped_column(String(64), unique=True, index=True)


class AuditHead(Base):
    """One row: the last record's sequence and hash. The chainer updates it in the
    same transaction as the records it chains, which serialises chainers (a row lock
    on PostgreSQL), not appends."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    # A keyed MAC of (seq, hash): cutting records off the end and moving the head back
    # needs the audit key.
    mac: Mapped[str] = mapped_column(String(64), default="")


class AuditContent(Base):
    """Append-only: the content an audit record refers to by digest, sealed with the
    conversation's data key. The record keeps the digest; erasure leaves the digest
    and makes the content unreadable."""

    __tablename__ = "audit_contents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str | None] = mapped_column(String(40), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    sealed: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DataKey(Base):
    """A conversation's data key, wrapped by the master key ``key_id`` (bot.adapters.vault).

    ``wrapped`` is NULL once the conversation is erased.
    """

    __tablename__ = "data_keys"

    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(40), index=True)
    wrapped: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class KeyCheck(Base):
    """A keyed MAC of a fixed text under each key that is not checked otherwise (the
    lookup and audit keys): a process given other keys is told so at start, instead
    of finding no numbers and calling the audit chain broken."""

    __tablename__ = "key_checks"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(64))


class LegalHold(Base):
    """A conversation no erasure or retention run may touch while the hold lasts."""

    __tablename__ = "legal_holds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    release_reason: Mapped[str | None] = mapped_column(Text)


class ReconciliationRun(Base):
    """One comparison of gangway's messages with the provider's over a time range.

    Counts only (the gaps' sids are in the run's audit record): what monitoring reads
    to see that runs happen and find nothing missing. A scheduled run holds its
    ``slot`` (unique), so several service processes run each scheduled check once.
    """

    __tablename__ = "reconciliation_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trigger: Mapped[str] = mapped_column(String(16))  # command | schedule
    slot: Mapped[str | None] = mapped_column(String(64), unique=True)
    range_start: Mapped[datetime] = mapped_column(UTCDateTime())
    range_end: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str] = mapped_column(String(16))  # running | clean | gaps | failed
    provider_inbound: Mapped[int | None] = mapped_column(Integer)
    provider_outbound: Mapped[int | None] = mapped_column(Integer)
    gangway_inbound: Mapped[int | None] = mapped_column(Integer)
    gangway_outbound: Mapped[int | None] = mapped_column(Integer)
    not_handed_over: Mapped[int | None] = mapped_column(Integer)
    not_in_gangway: Mapped[int | None] = mapped_column(Integer)
    not_at_provider: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
