"""Retrying a provider call in-process, and reading a Retry-After: what is retried, how
long each wait is, and what is never tried twice. The waits go to a recording sleep."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from bot.service_layer.errors import IntegrationError, PermanentError, TransientError
from integrations.retrying import in_process, retry_after_seconds
from integrations.twilio_whatsapp import OutcomeUnknownError

NOW = datetime(2026, 3, 5, 12, 0, 0, tzinfo=UTC)


class Provider:
    """Fails with each of ``errors`` in turn, then answers "ok"; counts the calls."""

    def __init__(self, *errors: IntegrationError) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def policy(waits: list[float], *, attempts: int = 3, cap: float = 8.0) -> Callable[..., str]:
    return in_process("the test call", attempts=attempts, base=0.5, cap=cap, sleep=waits.append)


def busy(retry_after: float | None = None) -> TransientError:
    return TransientError("crm", "busy", status=503, retry_after=retry_after)


def test_transient_failures_are_retried_with_growing_waits_until_one_succeeds() -> None:
    """Two 503s, then an answer: three calls, waits of about 0.5 s and 1 s between."""
    waits: list[float] = []
    provider = Provider(busy(), busy())
    assert policy(waits)(provider) == "ok"
    assert provider.calls == 3
    assert len(waits) == 2
    assert 0.25 <= waits[0] <= 0.5 and 0.5 <= waits[1] <= 1.0


def test_the_last_error_is_raised_once_the_attempts_are_spent() -> None:
    """Always busy: three attempts, two waits, and the third error goes up as it is."""
    waits: list[float] = []
    last = busy()
    provider = Provider(busy(), busy(), last, busy())
    with pytest.raises(TransientError) as caught:
        policy(waits)(provider)
    assert caught.value is last
    assert provider.calls == 3 and len(waits) == 2


def test_the_wait_is_at_least_what_retry_after_asks() -> None:
    """Retry-After: 3 means 3 s, not our half a second."""
    waits: list[float] = []
    assert policy(waits)(Provider(busy(retry_after=3))) == "ok"
    assert waits == [3.0]


def test_a_retry_after_longer_than_the_cap_is_not_waited_for_here() -> None:
    """Asked to wait a minute, the call does not hold the thread: the error goes up at
    once, with the Retry-After on it for the persisted retries to honour."""
    waits: list[float] = []
    provider = Provider(busy(retry_after=60))
    with pytest.raises(TransientError) as caught:
        policy(waits)(provider)
    assert caught.value.retry_after == 60
    assert provider.calls == 1 and waits == []


def test_a_permanent_error_is_not_retried() -> None:
    """A 400 will be a 400 again: one call, no wait."""
    waits: list[float] = []
    provider = Provider(PermanentError("crm", "bad request", status=400))
    with pytest.raises(PermanentError):
        policy(waits)(provider)
    assert provider.calls == 1 and waits == []


def test_an_ambiguous_send_is_never_retried_in_process() -> None:
    """A send that may have gone out (a timeout, a 5xx after Twilio took it) is not sent
    again here, whatever its Retry-After: the caller must look before it sends again."""
    waits: list[float] = []
    provider = Provider(OutcomeUnknownError("twilio", "read timeout", retry_after=1))
    with pytest.raises(OutcomeUnknownError):
        policy(waits)(provider)
    assert provider.calls == 1 and waits == []


def test_an_error_that_is_not_a_providers_is_not_retried() -> None:
    """A bug in our own code is not a provider's hiccup."""
    waits: list[float] = []
    calls: list[int] = []

    def broken() -> str:
        calls.append(1)
        raise KeyError("ours")

    with pytest.raises(KeyError):
        policy(waits)(broken)
    assert calls == [1] and waits == []


def test_a_policy_needs_at_least_one_attempt() -> None:
    with pytest.raises(ValueError, match="attempts"):
        in_process("nothing", attempts=0, base=1, cap=1)


# -- Retry-After --------------------------------------------------------------------


def test_retry_after_in_seconds() -> None:
    assert retry_after_seconds({"Retry-After": "120"}) == 120.0


def test_retry_after_as_a_date_counts_from_the_answers_date() -> None:
    """The provider's Date, not ours: our clock may be off by minutes."""
    headers = {
        "Date": format_datetime(NOW, usegmt=True),
        "Retry-After": format_datetime(NOW + timedelta(seconds=45), usegmt=True),
    }
    assert retry_after_seconds(headers, now=lambda: NOW + timedelta(hours=1)) == 45.0


def test_retry_after_as_a_date_without_the_answers_date_counts_from_now() -> None:
    headers = {"Retry-After": format_datetime(NOW + timedelta(seconds=20), usegmt=True)}
    assert retry_after_seconds(headers, now=lambda: NOW) == 20.0


def test_a_retry_after_date_already_past_asks_for_no_wait() -> None:
    headers = {"Retry-After": format_datetime(NOW - timedelta(seconds=20), usegmt=True)}
    assert retry_after_seconds(headers, now=lambda: NOW) == 0.0


@pytest.mark.parametrize("value", ["", "soon", "-5", "1.5e9", "Fri, 99 Foo 2026"])
def test_a_retry_after_that_is_neither_seconds_nor_a_date_is_ignored(value: str) -> None:
    """Our own backoff is as good as a value we cannot read."""
    assert retry_after_seconds({"Retry-After": value}, now=lambda: NOW) is None


def test_no_retry_after_is_none() -> None:
    assert retry_after_seconds({}, now=lambda: NOW) is None
