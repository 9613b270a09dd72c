"""Delivery status of an outbound message, and how callbacks move it.

Twilio's status callbacks arrive in any order ("delivered" may come before
"sent"), so a status only ever moves forward. Before the provider has the
message, gangway itself uses two statuses of its own: `pending` (waiting in the
outbox) and `sending` (a send was started; if the process died right then, the
outcome is unknown and must be reconciled with the provider before retrying).
"""

from __future__ import annotations

__all__ = [
    "FINAL_STATUSES",
    "PROVIDER_STATUSES",
    "UNSENT_STATUSES",
    "advance_status",
    "is_known_status",
]

UNSENT_STATUSES = frozenset({"pending", "sending"})

# Rank of each status: a callback may only move a message to a higher rank.
_RANK = {
    "pending": 0,
    "sending": 1,
    "accepted": 2,
    "scheduled": 2,
    "queued": 3,
    "sent": 4,
    "failed": 5,
    "undelivered": 5,
    "delivered": 6,
    "read": 7,
}
PROVIDER_STATUSES = frozenset(_RANK) - UNSENT_STATUSES
FINAL_STATUSES = frozenset({"failed", "undelivered", "read"})


def is_known_status(status: str) -> bool:
    return status in _RANK


def advance_status(current: str, reported: str) -> str:
    """The status after a callback reports `reported` for a message now in `current`.

    Unknown statuses (Twilio adds some from time to time) never move a message.
    """
    if reported not in _RANK:
        return current
    if _RANK[reported] > _RANK.get(current, -1):
        return reported
    return current
