"""The pure rules: delivery status ordering, retry schedule, inbound parsing, the audit chain."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from bot.domain.audit import (
    GENESIS_HASH,
    AuditRecord,
    canonical_json,
    first_break,
    record_hash,
)
from bot.domain.delivery import advance_status
from bot.domain.inbound import InvalidInbound, parse_inbound
from bot.domain.retry import backoff_seconds


def test_status_moves_forward_only() -> None:
    """A late "sent" callback does not undo "delivered"."""
    assert advance_status("queued", "delivered") == "delivered"
    assert advance_status("delivered", "sent") == "delivered"
    assert advance_status("sent", "read") == "read"


def test_failure_after_sent_is_kept_but_not_after_delivery() -> None:
    """ "undelivered" after "sent" is news; after "delivered" it is contradictory and ignored."""
    assert advance_status("sent", "undelivered") == "undelivered"
    assert advance_status("delivered", "failed") == "delivered"


def test_unknown_status_changes_nothing() -> None:
    """A status Twilio invents later does not move the message."""
    assert advance_status("sent", "partially_delivered") == "sent"


def test_backoff_doubles_up_to_the_cap() -> None:
    """Retries wait 1, 2, 4 ... seconds, never more than the cap."""
    assert [backoff_seconds(n, base=1, cap=10) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_backoff_waits_at_least_what_retry_after_asks() -> None:
    """A provider's Retry-After of 7 s makes the first retry wait 7 s, not 1 s; once our
    own schedule is longer, the schedule wins."""
    assert backoff_seconds(1, base=1, cap=60, retry_after=7) == 7
    assert backoff_seconds(5, base=1, cap=60, retry_after=7) == 16


def test_a_long_retry_after_is_held_to_the_cap() -> None:
    """Asked for a day, a reply is tried again after the cap, not parked for the day."""
    assert backoff_seconds(1, base=1, cap=60, retry_after=86_400) == 60


def test_inbound_takes_button_title_when_body_is_empty() -> None:
    """A tapped quick-reply button counts as the text the prospect sent."""
    msg = parse_inbound({"MessageSid": "SM1", "From": "whatsapp:+12025550101", "ButtonText": "Yes"})
    assert msg.body == "Yes"


@pytest.mark.parametrize("params", [{"From": "whatsapp:+12025550101"}, {"MessageSid": "SM1"}])
def test_inbound_without_sid_or_sender_is_refused(params: dict[str, str]) -> None:
    """A webhook lacking MessageSid or From is not a message."""
    with pytest.raises(InvalidInbound):
        parse_inbound(params)


KEY = b"k" * 32


def _chain(n: int, key: bytes = KEY, plain: int = 0) -> list[AuditRecord]:
    """A chain of n records keyed by ``key``; its first ``plain`` ones hashed unkeyed,
    as a chain begun before keying has them."""
    records, prev = [], GENESIS_HASH
    for seq in range(1, n + 1):
        fields = dict(
            seq=seq,
            recorded_at=f"2026-11-22T09:00:0{seq}+00:00",
            kind="inbound_message",
            conversation_id="c-1",
            payload=f'{{"n":{seq}}}',
            prev_hash=prev,
        )
        if seq <= plain:
            content = canonical_json(fields).encode()
            digest = hashlib.sha256(content).hexdigest()
        else:
            digest = record_hash(key, **fields)  # type: ignore[arg-type]
        records.append(AuditRecord(hash=digest, **fields))  # type: ignore[arg-type]
        prev = digest
    return records


def test_intact_chain_verifies() -> None:
    """An untouched chain has no break."""
    assert first_break(KEY, _chain(5)) is None


def test_chain_recomputed_without_the_audit_key_is_found() -> None:
    """Whoever rewrites the chain and computes it again without the key is caught,
    whether with another key or with plain hashes from start to end."""
    assert first_break(KEY, _chain(4, key=b"x" * 32)) is not None
    broken = first_break(KEY, _chain(4, plain=4))
    assert broken is not None and "recomputed" in broken.reason


def test_unkeyed_start_of_a_chain_verifies_when_keyed_records_follow() -> None:
    """Records written before the chain was keyed still verify, once a keyed one
    follows them."""
    assert first_break(KEY, _chain(5, plain=2)) is None


def test_edited_payload_is_found() -> None:
    """Changing one record's content is reported at that record."""
    records = _chain(5)
    records[2] = dataclasses.replace(records[2], payload='{"n":99}')
    broken = first_break(KEY, records)
    assert broken is not None and broken.seq == 3


def test_removed_record_is_found() -> None:
    """Deleting a record from the middle is reported where the gap is."""
    records = _chain(5)
    del records[1]
    broken = first_break(KEY, records)
    assert broken is not None and broken.seq == 3


def test_rehashed_record_breaks_the_next_link() -> None:
    """Re-computing an edited record's own hash still breaks the link after it."""
    records = _chain(4)
    r = records[1]
    new_payload = '{"n":"forged"}'
    forged_hash = record_hash(
        KEY,
        seq=r.seq,
        recorded_at=r.recorded_at,
        kind=r.kind,
        conversation_id=r.conversation_id,
        payload=new_payload,
        prev_hash=r.prev_hash,
    )
    records[1] = dataclasses.replace(r, payload=new_payload, hash=forged_hash)
    broken = first_break(KEY, records)
    assert broken is not None and broken.seq == 3
