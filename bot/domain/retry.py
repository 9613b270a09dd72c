"""When to try again after a transient failure."""

from __future__ import annotations

__all__ = ["backoff_seconds"]


def backoff_seconds(attempt: int, *, base: float = 1.0, cap: float = 60.0) -> float:
    """Delay before attempt `attempt + 1`, doubling from `base` up to `cap`.

    No jitter: retries are spread across conversations anyway, and a
    deterministic schedule is what the tests and the operators can reason about.
    """
    if attempt < 1:
        return 0.0
    return float(min(cap, base * 2 ** (attempt - 1)))
