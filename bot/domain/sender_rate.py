"""How fast one WhatsApp sender's messages are taken up, so that one chatty (or
hostile) number cannot keep the workers, Rasa and the detectors busy while others
wait.

Every message is still recorded at once and acknowledged to Twilio; only the
moment it becomes due for processing moves. Each message gets a slot: at most
`count` slots of one sender fall in any `window`, slots never go backwards, so the
sender's messages are answered later, in order, and none is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["SenderRate", "next_slot", "parse_sender_rate"]

_UNITS = {"s": 1, "m": 60, "h": 3600}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([smh])\s*$")


@dataclass(frozen=True)
class SenderRate:
    """At most `count` messages of one sender are processed per `window`."""

    count: int
    window: timedelta

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("a sender rate must allow at least one message per window")
        if self.window <= timedelta(0):
            raise ValueError("a sender rate's window must be longer than zero")


def parse_sender_rate(text: str) -> SenderRate | None:
    """Read "10/60s", "30/5m", "100/h" (count per window); "0", "off" or "" mean no limit.

    Raises ValueError with a plain reason for anything else, so a typo in the
    configuration stops the service at start rather than silently allowing all.
    """
    if text.strip().lower() in ("", "0", "off", "none"):
        return None
    match = _RATE.match(text.lower())
    if match is None:
        raise ValueError(
            f"{text!r} is not a sender rate: write COUNT/WINDOW such as 10/60s, 30/5m or 100/h"
        )
    count, amount, unit = match.groups()
    seconds = float(amount or 1) * _UNITS[unit]
    return SenderRate(int(count), timedelta(seconds=seconds))


def next_slot(recent: Sequence[datetime], now: datetime, rate: SenderRate) -> datetime:
    """When a new message of a sender becomes due, given the slots of that sender's
    latest messages (newest last; only the last `rate.count` matter).

    With fewer than `count` earlier messages, or the `count`-th latest one's slot a
    whole window ago, the message is due now; otherwise a window after that slot.
    The result is never before the latest slot, which keeps the sender's order.
    """
    latest = list(recent[-rate.count :])
    slot = now
    if len(latest) == rate.count:
        slot = max(slot, latest[0] + rate.window)
    if latest:
        slot = max(slot, latest[-1])
    return slot
