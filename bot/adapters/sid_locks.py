"""Locks on a provider's message id, for the two writers that meet on it.

Recording a send stores the provider's id on its outbox row and folds in the status
callbacks that came before it; a status callback looks the outbox row up by that id.
If the callback is recorded while the send's record is still uncommitted, neither sees
the other, and the callback's status is lost. Both take this lock first, so one of them
always commits before the other reads.

On PostgreSQL it is a transaction-scoped advisory lock on a hash of the id (a hash
shared by two ids only makes them wait for each other). SQLite runs one writing
transaction at a time, so it needs none.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["lock_provider_sids"]

_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:sid, 0))")


def lock_provider_sids(session: Session, sids: Iterable[str]) -> None:
    """Hold the lock of every id in ``sids`` until the transaction ends, taken in a
    fixed order so that two callers never wait for each other in a circle."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for sid in sorted(set(sids)):
        session.execute(_LOCK, {"sid": sid})
