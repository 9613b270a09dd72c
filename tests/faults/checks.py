"""What every fault test ends with: each inbound message recorded once, answered
once, the replies sent once and in order per conversation, the audit chain whole.

The answer is waited for (polled against a deadline) and then checked from both
sides: gangway's rows and what the Twilio stand-in was asked to send.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters import audit_log
from bot.adapters.record_tables import AuditLog
from bot.adapters.tables import InboxMessage, OutboxMessage
from bot.domain.delivery import UNSENT_STATUSES
from tests.audit_helpers import chained
from tests.faults.load import Sent
from tests.faults.stack import FaultStack

__all__ = ["Outcome", "assert_answered_once_in_order"]


@dataclass(frozen=True)
class Outcome:
    """What was measured on the way to the checks."""

    messages: int
    replies: int
    settle_seconds: float


def _inbox(s: Session, sids: set[str]) -> list[InboxMessage]:
    rows = s.execute(select(InboxMessage).where(InboxMessage.message_sid.in_(sids)))
    return list(rows.scalars())


def _outbox(s: Session, conversations: set[str]) -> list[OutboxMessage]:
    rows = s.execute(
        select(OutboxMessage)
        .where(OutboxMessage.conversation_id.in_(conversations))
        .order_by(OutboxMessage.id)
    )
    return list(rows.scalars())


def _audit_sids(s: Session, kind: str) -> Counter[str]:
    payloads = s.execute(select(AuditLog.payload).where(AuditLog.kind == kind)).scalars()
    return Counter(str(json.loads(p)["message_sid"]) for p in payloads)


def _settled(stack: FaultStack, sids: set[str]) -> tuple[bool, str]:
    """Whether everything sent was answered and every answer went out; else what waits."""
    with stack.sessions().begin() as s:
        inbox = _inbox(s, sids)
        conversations = {m.conversation_id for m in inbox}
        outbox = _outbox(s, conversations)
        arrived = _audit_sids(s, "inbound_message")
        answered = _audit_sids(s, "inbound_answered")
    pending = [m for m in inbox if m.status == "pending"]
    unsent = [o for o in outbox if o.status in UNSENT_STATUSES]
    # Audit records may be appended after the rows they describe, in batches.
    unaudited = [
        m
        for m in inbox
        if m.message_sid not in arrived or (m.status == "done" and m.message_sid not in answered)
    ]
    if len(inbox) < len(sids) or pending or unsent or unaudited:
        return False, (
            f"{len(inbox)}/{len(sids)} recorded, {len(pending)} unanswered, "
            f"{len(unsent)} replies unsent, {len(unaudited)} not yet in the audit log"
        )
    return True, ""


def _chain_break(stack: FaultStack) -> object:
    with stack.sessions().begin() as s:
        _count, broken = audit_log.verify(s)
    return broken


def assert_answered_once_in_order(
    stack: FaultStack, sent: Sequence[Sent], timeout: float = 120.0
) -> Outcome:
    """Wait until every message in ``sent`` is answered and its replies are out, then
    check each was recorded once, answered once, sent once, in order, and the audit
    chain holds."""
    started = time.monotonic()
    sids = {m.sid for m in sent}
    assert len(sids) == len(sent), "the test sent the same MessageSid as two messages"
    deadline = started + timeout
    while True:
        done, waiting = _settled(stack, sids)
        if done:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"not settled after {timeout}s: {waiting}\n{stack.log_tails()}")
        time.sleep(0.25)
    settle = time.monotonic() - started

    with stack.sessions().begin() as s:
        inbox = _inbox(s, sids)
        outbox = _outbox(s, {m.conversation_id for m in inbox})
        arrived = _audit_sids(s, "inbound_message")
        answered = _audit_sids(s, "inbound_answered")

    # Recorded once: one inbox row, one arrival record per MessageSid sent.
    assert sorted(m.message_sid for m in inbox) == sorted(sids)
    assert {sid: arrived[sid] for sid in sids} == dict.fromkeys(sids, 1)
    # Answered once.
    assert Counter(m.status for m in inbox) == Counter(done=len(sids))
    assert {sid: answered[sid] for sid in sids} == dict.fromkeys(sids, 1)
    replied = Counter(o.inbox_id for o in outbox if o.kind == "reply")
    assert all(replied[m.id] >= 1 for m in inbox), "a message was answered with nothing"
    failed = [(o.id, o.status, o.last_error) for o in outbox if o.provider_sid is None]
    assert failed == [], "replies that never reached the provider"

    # Sent once: what reached the stand-in is exactly the outbox, message for message.
    numbers = {m.number for m in sent}
    reached = [m for m in stack.sent() if m["to"] in numbers]
    by_provider_sid = {o.provider_sid: o for o in outbox}
    strays = [m["body"][:40] for m in reached if m["sid"] not in by_provider_sid]
    assert strays == [], f"sent to the provider but not recorded (duplicates): {strays}"
    assert len(reached) == len(outbox)

    # In order: per conversation, the replies went out in the order the messages came.
    position = {m.id: i for i, m in enumerate(sorted(inbox, key=lambda m: m.id))}
    went_out: dict[str, list[tuple[int, str, int]]] = defaultdict(list)
    for m in reached:
        row = by_provider_sid[m["sid"]]
        if row.inbox_id is not None:
            went_out[row.conversation_id].append((position[row.inbox_id], row.kind, row.seq))
    for conversation, order in went_out.items():
        replies = [(p, seq) for p, kind, seq in order if kind == "reply"]
        assert replies == sorted(replies), f"{conversation}: replies out of order {replies}"
        assert [p for p, _k, _s in order] == sorted(p for p, _k, _s in order), conversation

    # The audit chain holds, with every record that waited to be chained in it.
    chained(stack.sessions())
    assert _chain_break(stack) is None
    return Outcome(len(sids), len(outbox), settle)
