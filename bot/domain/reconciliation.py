"""Completeness of the record: messages one side holds and the other does not.

A firm must be able to prove that its records are complete: every WhatsApp message to
or from the business number that the provider holds is in gangway's records, and every
message gangway recorded as received or handed over is at the provider. A message on
one side only is a `Gap`. Gaps name the message by its provider id (sid), direction and
time; the prospect's number only ever appears masked (`mask_address`), since gaps are
printed, logged and kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

__all__ = [
    "Direction",
    "Gap",
    "Reconciliation",
    "Side",
    "Tally",
    "mask_address",
    "parse_duration",
]

Direction = Literal["inbound", "outbound"]

# Digits of a number shown in clear: at most the first few (country, area) and the
# last two, and never fewer than this many hidden.
_HEAD_DIGITS = 4
_TAIL_DIGITS = 2
_MIN_HIDDEN = 5
_ADDRESS = re.compile(r"^(?P<channel>[a-z]+:)?(?P<plus>\+?)(?P<digits>\d+)$")
_DURATION = re.compile(r"^\s*(?P<amount>\d+)\s*(?P<unit>[mhd])\s*$")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


class Side(StrEnum):
    """Where a message is missing."""

    NOT_IN_GANGWAY = "not_in_gangway"  # the provider holds it; gangway has no record of it
    NOT_AT_PROVIDER = "not_at_provider"  # gangway recorded it; the provider does not know it


def mask_address(address: str) -> str:
    """The address with most of its digits hidden: ``whatsapp:+1202*****23``.

    Enough to tell two prospects apart in a report, not enough to call anyone. An
    address of another shape (an alphanumeric sender, say) is hidden entirely.
    """
    match = _ADDRESS.match(address.strip())
    if match is None:
        return "***"
    digits = match["digits"]
    head = max(0, min(_HEAD_DIGITS, len(digits) - _TAIL_DIGITS - _MIN_HIDDEN))
    tail = _TAIL_DIGITS if len(digits) > _TAIL_DIGITS + _MIN_HIDDEN - 1 else 0
    hidden = len(digits) - head - tail
    shown = digits[:head] + "*" * hidden + (digits[-tail:] if tail else "")
    return f"{match['channel'] or ''}{match['plus']}{shown}"


def parse_duration(text: str) -> timedelta:
    """``90m``, ``24h`` or ``7d`` as a timedelta; ValueError for anything else or zero."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration: write minutes, hours or days, e.g. 90m, 24h, 7d"
        )
    amount = int(match["amount"])
    if amount == 0:
        raise ValueError(f"{text!r} is an empty duration")
    return amount * _UNITS[match["unit"]]


@dataclass(frozen=True)
class Gap:
    """One message found on one side only. ``counterpart`` is already masked."""

    side: Side
    sid: str
    direction: Direction
    at: datetime | None
    counterpart: str

    def describe(self) -> str:
        """One plain line for people: what, when, who (masked), and which side lacks it."""
        when = self.at.isoformat(timespec="seconds") if self.at is not None else "no send date"
        where = (
            "at the provider but not in gangway"
            if self.side is Side.NOT_IN_GANGWAY
            else "in gangway but not at the provider"
        )
        party = "from" if self.direction == "inbound" else "to"
        return f"{self.direction} {self.sid} at {when} {party} {self.counterpart}: {where}"

    def as_record(self) -> dict[str, Any]:
        """What the audit log keeps of a gap: ids and time, no number at all."""
        return {
            "side": self.side.value,
            "sid": self.sid,
            "direction": self.direction,
            "at": self.at.isoformat() if self.at is not None else None,
        }


@dataclass(frozen=True)
class Tally:
    """How many messages one side holds in the range, per direction."""

    inbound: int = 0
    outbound: int = 0


@dataclass(frozen=True)
class Reconciliation:
    """The outcome of comparing both sides over [start, end)."""

    start: datetime
    end: datetime
    provider: Tally
    gangway: Tally
    # Outbox messages the provider never accepted (no provider id): not gaps, since
    # nothing was sent, but worth a number beside the others.
    not_handed_over: int
    gaps: tuple[Gap, ...]

    @property
    def clean(self) -> bool:
        return not self.gaps

    def missing(self, side: Side) -> int:
        return sum(1 for gap in self.gaps if gap.side is side)

    def counts(self) -> dict[str, int]:
        """Every count of the run, named as the run's record and audit payload name them."""
        return {
            "provider_inbound": self.provider.inbound,
            "provider_outbound": self.provider.outbound,
            "gangway_inbound": self.gangway.inbound,
            "gangway_outbound": self.gangway.outbound,
            "not_handed_over": self.not_handed_over,
            "not_in_gangway": self.missing(Side.NOT_IN_GANGWAY),
            "not_at_provider": self.missing(Side.NOT_AT_PROVIDER),
        }
