"""The sign-in throttle: failed sign-ins counted per account and per client address.

The failures are rows in the database, so every service process behind one database
sees the same count: guessing does not get faster with more replicas. Two limits hold
at once, over a sliding window: per account (what was typed as the email, known or
not, so the answer never tells whether an account exists), which stops guessing one
person's password from many addresses; and per client address, which stops one
address trying a password on every account. A successful sign-in clears its account's
failures (not its address's: one right password must not buy an address more tries).

Counting then recording is not one atomic step: a burst of parallel guesses can pass
a limit by the number in flight. That bounds the overshoot to one burst, which is
what a throttle needs; the row lock a strict count would need would serialise every
sign-in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import Session

from bot.adapters.tables import SignInFailure

__all__ = ["SignInThrottle"]


def _account_key(email: str) -> str:
    """The account as typed, normalised and hashed (typed text may be a password)."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SignInThrottle:
    """At most ``account_limit`` failures per account and ``address_limit`` per client
    address within ``window``; beyond either, sign-in waits."""

    account_limit: int = 5
    address_limit: int = 20
    window: timedelta = timedelta(minutes=15)

    def retry_after(
        self, session: Session, email: str, address: str, now: datetime
    ) -> timedelta | None:
        """How long until this email may be tried from this address, or None: now."""
        since = now - self.window
        waits = [
            self._wait(session, SignInFailure.account_sha256 == _account_key(email), since),
            self._wait(session, SignInFailure.address == address[:64], since, by_address=True),
        ]
        latest = max((w for w in waits if w is not None), default=None)
        if latest is None:
            return None
        return max(latest + self.window - now, timedelta(seconds=1))

    def _wait(
        self,
        session: Session,
        which: ColumnElement[bool],
        since: datetime,
        *,
        by_address: bool = False,
    ) -> datetime | None:
        """When the failure that keeps this key at its limit happened, or None if the
        key is under its limit (the window slides: it frees when that one ages out)."""
        limit = self.address_limit if by_address else self.account_limit
        times = session.execute(
            select(SignInFailure.failed_at)
            .where(which, SignInFailure.failed_at > since)
            .order_by(SignInFailure.failed_at.desc())
            .limit(limit)
        ).scalars()
        recent = list(times)
        return recent[-1] if len(recent) >= limit else None

    def failed(self, session: Session, email: str, address: str, now: datetime) -> None:
        """Count one failed sign-in; failures older than the window are forgotten here."""
        session.execute(delete(SignInFailure).where(SignInFailure.failed_at <= now - self.window))
        session.add(
            SignInFailure(account_sha256=_account_key(email), address=address[:64], failed_at=now)
        )
        session.flush()

    def succeeded(self, session: Session, email: str) -> None:
        """The account signed in: its failures no longer count against it (they still
        count against the addresses they came from)."""
        session.execute(
            update(SignInFailure)
            .where(SignInFailure.account_sha256 == _account_key(email))
            .values(account_sha256=None)
        )
