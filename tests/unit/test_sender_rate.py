"""The per-sender rate: how it is written in the configuration and where each
message's slot falls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.sender_rate import SenderRate, next_slot, parse_sender_rate

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def test_rates_are_written_count_per_window() -> None:
    """Rates read as count per window ("10/60s", "30/5m", "100/h"); "off" and "0": none."""
    assert parse_sender_rate("10/60s") == SenderRate(10, timedelta(seconds=60))
    assert parse_sender_rate(" 30 / 5m ") == SenderRate(30, timedelta(minutes=5))
    assert parse_sender_rate("100/h") == SenderRate(100, timedelta(hours=1))
    assert parse_sender_rate("off") is None
    assert parse_sender_rate("0") is None


@pytest.mark.parametrize("text", ["10", "ten/60s", "10/60", "0/60s", "10/0s", "10/-5s"])
def test_a_malformed_rate_is_refused_with_the_expected_form(text: str) -> None:
    """A typo is an error naming the form to use, never a silent "no limit"."""
    with pytest.raises(ValueError, match="sender rate"):
        parse_sender_rate(text)


def test_the_first_messages_of_a_window_are_due_at_once() -> None:
    """Up to the count, a sender's messages are due when they arrive."""
    rate = SenderRate(3, timedelta(seconds=60))
    slots: list[datetime] = []
    for _ in range(3):
        slots.append(next_slot(slots, T0, rate))
    assert slots == [T0, T0, T0]


def test_a_burst_is_spread_one_window_per_count_in_order() -> None:
    """Ten messages at once at 3 per minute fall in windows 0, 1, 2 and 3, never earlier
    than the one before."""
    rate = SenderRate(3, timedelta(seconds=60))
    slots: list[datetime] = []
    for _ in range(10):
        slots.append(next_slot(slots, T0, rate))
    minutes = [int((s - T0).total_seconds() // 60) for s in slots]
    assert minutes == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]
    assert slots == sorted(slots)


def test_a_quiet_sender_is_due_at_once_again() -> None:
    """Once a window has passed since the count-th latest message, a new one is due now."""
    rate = SenderRate(2, timedelta(seconds=60))
    later = T0 + timedelta(seconds=61)
    assert next_slot([T0, T0], later, rate) == later
