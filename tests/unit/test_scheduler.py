"""The APScheduler wrapper that drives the timer runner in the background."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters import timers
from bot.adapters.db import SessionFactory
from bot.adapters.tables import Timer
from bot.service_layer.scheduler import TimerScheduler
from bot.service_layer.timers import TimerHandler, TimerRunner
from tests.fakes.clock import FakeClock

WAIT = 10.0  # seconds; only reached when something is broken


class ClockThatFailsOnce:
    """A clock whose first reading fails, as a database or clock hiccup would."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self.failed = threading.Event()

    def now(self) -> datetime:
        if not self.failed.is_set():
            self.failed.set()
            raise OSError("clock unavailable")
        return self._clock.now()


def schedule_due_now(sessions: SessionFactory, clock: FakeClock, key: str) -> None:
    with sessions.begin() as s:
        timers.schedule(s, key=key, kind="invite_reminder", due_at=clock.now(), now=clock.now())


def status_of(sessions: SessionFactory, key: str) -> str:
    with sessions.begin() as s:
        return s.scalars(select(Timer.status).where(Timer.key == key)).one()


def signalling_handler(event: threading.Event) -> TimerHandler:
    def handler(session: Session, timer: Timer, now: datetime) -> None:
        event.set()

    return handler


def test_run_now_fires_a_due_timer_without_waiting_for_the_interval(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A timer due now fires as soon as the scheduler is woken, not an hour later."""
    fired = threading.Event()
    runner = TimerRunner(
        sessions, clock, {"invite_reminder": signalling_handler(fired)}, owner="svc-1"
    )
    scheduler = TimerScheduler(runner, interval_seconds=3600)
    scheduler.start()
    try:
        schedule_due_now(sessions, clock, "invite-reminder:1")
        scheduler.run_now()
        assert fired.wait(timeout=WAIT)
    finally:
        scheduler.stop()
    assert status_of(sessions, "invite-reminder:1") == "fired"


def test_stop_lets_a_firing_in_progress_finish_and_ends_the_job(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Stopping waits for the timer being fired to be recorded, then nothing runs any more."""
    entered, release = threading.Event(), threading.Event()

    def slow_handler(session: Session, timer: Timer, now: datetime) -> None:
        entered.set()
        assert release.wait(timeout=WAIT)

    runner = TimerRunner(sessions, clock, {"invite_reminder": slow_handler}, owner="svc-1")
    scheduler = TimerScheduler(runner, interval_seconds=3600)
    scheduler.start()
    assert scheduler.running
    schedule_due_now(sessions, clock, "invite-reminder:2")
    scheduler.run_now()
    assert entered.wait(timeout=WAIT)
    stopper = threading.Thread(target=scheduler.stop)
    stopper.start()
    release.set()
    stopper.join(timeout=WAIT)

    assert not scheduler.running
    assert status_of(sessions, "invite-reminder:2") == "fired"
    scheduler.run_now()  # harmless once stopped
    scheduler.stop()


def test_a_failing_run_is_logged_and_the_next_run_still_happens(
    sessions: SessionFactory, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """One run that fails does not stop timers from firing at the following beat."""
    fired = threading.Event()
    flaky = ClockThatFailsOnce(clock)
    runner = TimerRunner(
        sessions,
        flaky,
        {"invite_reminder": signalling_handler(fired)},
        owner="svc-1",
        lease=timedelta(seconds=60),
    )
    schedule_due_now(sessions, clock, "invite-reminder:3")
    scheduler = TimerScheduler(runner, interval_seconds=0.05)
    with caplog.at_level(logging.ERROR, logger="bot.service_layer.scheduler"):
        scheduler.start()
        try:
            assert fired.wait(timeout=WAIT)
        finally:
            scheduler.stop()
    assert flaky.failed.is_set()
    assert "firing due timers failed" in caplog.text
    assert status_of(sessions, "invite-reminder:3") == "fired"
