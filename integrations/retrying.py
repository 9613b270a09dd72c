"""What the adapters share about trying a provider call again: reading a ``Retry-After``,
and retrying a call in-process (with tenacity) where that is harmless.

A provider that refuses for a while (429 Too Many Requests, 503 Service Unavailable)
may say when to come back, in ``Retry-After``: a number of seconds, or an HTTP date
(RFC 9110, section 10.2.3). `retry_after_seconds` reads either; the adapter puts it on
the `IntegrationError` it raises (``retry_after``), and whoever tries again waits at
least that long: `in_process` here, or the persisted retries (an outbox row's next
attempt) in the service layer.

`in_process` retries only what a second attempt cannot make worse: an error that is
retryable and not ambiguous. An ambiguous error (a send that may have gone out) is
never repeated here: the caller has to look before it sends again. Nor does it hold
the thread for longer than ``cap`` seconds between attempts: a provider asking for
more than that gets its error raised at once, for the persisted retries to wait out.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_exponential

from bot.service_layer.errors import IntegrationError

__all__ = ["RETRY_AFTER_STATUSES", "in_process", "retry_after_seconds", "worth_retrying"]

log = logging.getLogger(__name__)

# The answers whose Retry-After means "come back then" (on a 3xx it means something else).
RETRY_AFTER_STATUSES = frozenset({429, 503})


def retry_after_seconds(
    headers: Mapping[str, str], *, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> float | None:
    """The wait an answer's ``Retry-After`` asks for, in seconds; None when it has none
    (or one that is neither a number of seconds nor an HTTP date).

    A date is measured from the answer's own ``Date`` when it has one (the provider's
    clock, which set the date), else from ``now``; a date already past asks for 0.
    """
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    if value.isascii() and value.isdigit():
        return float(value)
    when = _http_date(value)
    if when is None:
        return None
    sent = _http_date(headers.get("Date") or "") or now()
    return max(0.0, (when - sent).total_seconds())


def _http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    # An HTTP date is GMT; a date without a zone is taken as such, not as local time.
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def worth_retrying(exc: BaseException) -> bool:
    """A provider error a second attempt cannot make worse: retryable, not ambiguous."""
    return isinstance(exc, IntegrationError) and exc.retryable and not exc.ambiguous


def _asked_for(state: RetryCallState) -> float | None:
    exc = state.outcome.exception() if state.outcome is not None else None
    return exc.retry_after if isinstance(exc, IntegrationError) else None


class EqualJitter(wait_exponential):
    """Exponential, half of it random: replicas that failed together do not retry
    together, and no wait is shorter than half the schedule's."""

    def __call__(self, retry_state: RetryCallState) -> float:
        ceiling = super().__call__(retry_state)
        return ceiling / 2 + random.uniform(0, ceiling / 2)


class WaitRetryAfter(wait_base):
    """The provider's Retry-After, when the error carries one and it is longer than
    ``otherwise`` would wait; ``otherwise`` else."""

    def __init__(self, otherwise: wait_base) -> None:
        self.otherwise = otherwise

    def __call__(self, retry_state: RetryCallState) -> float:
        ours = self.otherwise(retry_state)
        asked = _asked_for(retry_state)
        return ours if asked is None else max(ours, asked)


class StopWhenAskedOver(stop_base):
    """Stop when the provider asks for a longer wait than ``cap``."""

    def __init__(self, cap: float) -> None:
        self.cap = cap

    def __call__(self, retry_state: RetryCallState) -> bool:
        asked = _asked_for(retry_state)
        return asked is not None and asked > self.cap


def in_process(
    what: str,
    *,
    attempts: int,
    base: float,
    cap: float,
    sleep: Callable[[float], None] = time.sleep,
    retry: Callable[[BaseException], bool] = worth_retrying,
) -> Retrying:
    """Up to ``attempts`` attempts of a call (``what`` names it in the log), waiting
    ``base`` seconds, then twice as long each time (half of it random), up to ``cap``,
    or as long as a Retry-After asks if that is longer. ``retry`` says which errors are
    worth another attempt; the last error is raised as it is.

    ``sleep`` waits between attempts (tests pass one that only records).
    """
    if attempts < 1 or base < 0 or cap < 0:
        raise ValueError("attempts must be at least 1, base and cap not negative")

    def logged(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        said = (exc.status or exc.message) if isinstance(exc, IntegrationError) else exc
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "%s failed (%s); attempt %d of %d in %.2fs",
            what,
            said,
            state.attempt_number + 1,
            attempts,
            wait,
        )

    return Retrying(
        stop=stop_after_attempt(attempts) | StopWhenAskedOver(cap),
        wait=WaitRetryAfter(EqualJitter(multiplier=base, max=cap)),
        retry=retry_if_exception(retry),
        sleep=sleep,
        before_sleep=logged,
        reraise=True,
    )
