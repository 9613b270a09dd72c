"""When to try again after a transient failure."""

from __future__ import annotations

__all__ = ["backoff_seconds"]


def backoff_seconds(
    attempt: int, *, base: float = 1.0, cap: float = 60.0, retry_after: float | None = None
) -> float:
    """Delay before attempt `attempt + 1`, doubling from `base` up to `cap`.

    No jitter: retries are spread across conversations anyway, and a
    deterministic schedule is what the tests and the operators can reason about.

    ``retry_after`` is how long the provider asked us to wait (its ``Retry-After``):
    the delay is at least that, so the next attempt never comes sooner than it asked.
    It is still held to ``cap``: a provider asking for an hour would otherwise park a
    prospect's reply for that hour, and one attempt too early costs only another
    refusal (with another ``Retry-After``).
    """
    delay = base * 2 ** (attempt - 1) if attempt >= 1 else 0.0
    if retry_after is not None:
        delay = max(delay, retry_after)
    return float(min(cap, delay))
