"""When `gangway up` restarts a child that died: exponential backoff with a cap and a reset."""

from __future__ import annotations

import pytest

from bot.entrypoints.backoff import Backoff


def test_a_child_that_keeps_dying_waits_twice_as_long_each_time_up_to_the_cap() -> None:
    """1 s, 2 s, 4 s ... then 30 s at most, however often it dies."""
    backoff, now, delays = Backoff(), 0.0, []
    for _ in range(8):
        backoff.started(now)
        now += 0.5  # dies half a second after each start
        delays.append(backoff.died(now))
        now += delays[-1]
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]


def test_a_child_that_stayed_up_a_minute_is_restarted_after_the_first_delay_again() -> None:
    """A crash after a long healthy run is not punished for the crash loop before it."""
    backoff = Backoff()
    for now in (0.0, 2.0, 5.0):
        backoff.started(now)
        backoff.died(now + 1)
    backoff.started(100.0)
    assert backoff.died(100.0 + 59.9) == 8  # not yet stable: the doubling goes on
    backoff.started(200.0)
    assert backoff.died(200.0 + 60.0) == 1


def test_a_child_that_dies_before_it_was_ever_started_counts_as_a_crash() -> None:
    """No start recorded (it died while starting): the delay still grows."""
    backoff = Backoff(first=0.5, cap=2.0)
    assert [backoff.died(0.0) for _ in range(4)] == [0.5, 1.0, 2.0, 2.0]


def test_a_first_delay_above_the_cap_is_refused() -> None:
    """A misconfiguration is an error, not a silent cap."""
    with pytest.raises(ValueError, match="first <= cap"):
        Backoff(first=40, cap=30)
