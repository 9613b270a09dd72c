"""How long `gangway up` waits before restarting a child that died.

Pure: the caller passes the time (any monotonic clock), so the policy is tested
without waiting. A child that keeps dying is restarted after 1 s, 2 s, 4 s ... up
to 30 s, so a crash loop neither spins the CPU nor floods the log; once a child
has stayed up for a minute, its next death counts as a first one again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass
class Backoff:
    """Restart delays for one child: ``first`` doubling up to ``cap`` seconds, back to
    ``first`` after the child ran ``stable_after`` seconds without dying."""

    first: float = 1.0
    cap: float = 30.0
    stable_after: float = 60.0
    _next: float = field(init=False)
    _started_at: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if not 0 < self.first <= self.cap:
            raise ValueError(f"need 0 < first <= cap, got first={self.first}, cap={self.cap}")
        self._next = self.first

    def started(self, now: float) -> None:
        """The child was (re)started at ``now``."""
        self._started_at = now

    def died(self, now: float) -> float:
        """The child died at ``now``: the seconds to wait before starting it again."""
        if self._started_at is not None and now - self._started_at >= self.stable_after:
            self._next = self.first
        delay = self._next
        self._next = min(self.cap, delay * 2)
        self._started_at = None
        return delay
