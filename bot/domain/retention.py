"""How long a flow's records are kept, and which conversations a retention run erases.

Periods are written ``90d``, ``6w`` or ``7y`` (a year counts 365 days). A period left
out of the flow keeps those records for good: destroying records takes a decision
written down, never a default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["KEEP_ALL", "Retention", "RetentionCase", "parse_period", "retention_due"]

_PERIOD = re.compile(r"^\s*(\d+)\s*([dwy])\s*$")
_DAYS = {"d": 1, "w": 7, "y": 365}


def parse_period(text: str) -> timedelta:
    """``90d``, ``6w``, ``7y`` as a timedelta; ValueError in plain words otherwise."""
    match = _PERIOD.match(str(text).lower())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(
            f"{text!r} is not a retention period: write a number followed by d, w or y, "
            "for example 90d, 6w or 7y"
        )
    return timedelta(days=int(match.group(1)) * _DAYS[match.group(2)])


@dataclass(frozen=True)
class Retention:
    """Each period runs from the conversation's last message from the prospect."""

    transcripts: timedelta | None = None  # the whole conversation
    media: timedelta | None = None  # the attachments' files only
    declined: timedelta | None = None  # conversations whose prospect declined the terms


KEEP_ALL = Retention()


@dataclass(frozen=True)
class RetentionCase:
    """What a retention run knows of one conversation."""

    last_activity: datetime
    declined: bool


def retention_due(rules: Retention, case: RetentionCase, now: datetime) -> str | None:
    """Why the conversation is to be erased now ("transcripts" or "declined"), or None."""
    age = now - case.last_activity
    if rules.declined is not None and case.declined and age >= rules.declined:
        return "declined"
    if rules.transcripts is not None and age >= rules.transcripts:
        return "transcripts"
    return None
