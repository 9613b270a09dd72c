"""The pure parts of reconciliation: masking numbers, durations, and how gaps read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.reconciliation import (
    Gap,
    Reconciliation,
    Side,
    Tally,
    mask_address,
    parse_duration,
)
from bot.entrypoints.reconcile_cli import report_lines

AT = datetime(2026, 11, 22, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("whatsapp:+12025550123", "whatsapp:+1202*****23"),
        ("whatsapp:+4915112345678", "whatsapp:+4915*******78"),
        ("+493012345678", "+4930******78"),
        ("whatsapp:+3312345", "whatsapp:+*****45"),
        ("whatsapp:+123456", "whatsapp:+******"),
        ("Example Capital", "***"),
        ("", "***"),
    ],
)
def test_mask_address_hides_most_digits(address: str, masked: str) -> None:
    """At most the first four and last two digits show, and never fewer than five hide."""
    assert mask_address(address) == masked


@pytest.mark.parametrize(
    ("text", "span"),
    [("90m", timedelta(minutes=90)), ("24h", timedelta(hours=24)), (" 7d ", timedelta(days=7))],
)
def test_parse_duration_reads_minutes_hours_and_days(text: str, span: timedelta) -> None:
    """90m, 24h and 7d are what --since accepts."""
    assert parse_duration(text) == span


@pytest.mark.parametrize("text", ["", "24", "h", "1.5h", "-2h", "3w", "0m", "yesterday"])
def test_parse_duration_refuses_anything_else(text: str) -> None:
    """Anything but a positive whole number of m, h or d is refused with a reason."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_gap_reads_plainly_and_its_record_holds_no_number() -> None:
    """A gap says what, when, with whom (masked) and which side lacks it; its audit
    record has no number at all."""
    gap = Gap(Side.NOT_AT_PROVIDER, "SM" + "1" * 32, "outbound", AT, "whatsapp:+1202*****23")
    assert gap.describe() == (
        f"outbound {'SM' + '1' * 32} at 2026-11-22T08:30:00+00:00 to whatsapp:+1202*****23: "
        "in gangway but not at the provider"
    )
    assert gap.as_record() == {
        "side": "not_at_provider",
        "sid": "SM" + "1" * 32,
        "direction": "outbound",
        "at": "2026-11-22T08:30:00+00:00",
    }


def test_report_lists_counts_then_gaps_by_side() -> None:
    """The command's report gives both sides' counts, then the gaps, provider side first."""
    gaps = (
        Gap(Side.NOT_AT_PROVIDER, "SMb", "inbound", AT, "whatsapp:+1202*****23"),
        Gap(Side.NOT_IN_GANGWAY, "SMa", "outbound", None, "whatsapp:+1202*****45"),
    )
    result = Reconciliation(
        AT - timedelta(days=1), AT, Tally(3, 2), Tally(3, 2), not_handed_over=1, gaps=gaps
    )
    lines = report_lines(7, result)
    assert lines[0].startswith("reconciliation run 7: 2026-11-21T08:30:00+00:00 to ")
    assert "3 inbound, 2 outbound" in lines[1] and "1 more never accepted" in lines[2]
    assert lines[3] == "GAPS: 1 not in gangway, 1 not at the provider"
    assert "SMa at no send date" in lines[4] and "SMb" in lines[5]
