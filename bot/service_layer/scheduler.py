"""Runs the timer runner in the background with APScheduler 3.

APScheduler only provides the heartbeat: one interval job, kept in memory, that
asks the runner to fire whatever is due. The timers themselves are database
rows (bot.adapters.timers), so nothing is lost when the process stops, and
several processes can run this side by side: the runner's claims make each
timer fire once.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Protocol

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from bot.service_layer.log_context import unit_of_work

__all__ = ["TimerScheduler"]

log = logging.getLogger(__name__)

_JOB_ID = "gangway-fire-due-timers"


class _Runner(Protocol):
    """What the scheduler drives: bot.service_layer.timers.TimerRunner."""

    def fire_due(self) -> int: ...


class TimerScheduler:
    def __init__(
        self, runner: _Runner, *, interval_seconds: float = 1.0, work: str = "beat"
    ) -> None:
        """``work`` names each beat's unit of work in the log lines (``retention-…``)."""
        self._runner = runner
        self._interval = interval_seconds
        self._work = work
        self._scheduler: BackgroundScheduler | None = None
        self._again = threading.Event()

    @property
    def running(self) -> bool:
        return self._scheduler is not None and bool(self._scheduler.running)

    def start(self) -> None:
        if self.running:
            return
        # APScheduler logs every run of every job at INFO: one line a second here.
        logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
        # One thread: the job never runs twice at once (max_instances=1 too), and
        # missed beats collapse into one (coalesce) instead of running in a burst.
        scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(1)},
            timezone=UTC,
        )
        scheduler.add_job(
            self._tick,
            "interval",
            seconds=self._interval,
            id=_JOB_ID,
            max_instances=1,
            coalesce=True,
            # A beat more than a few seconds late is dropped; the next one fires
            # the same timers.
            misfire_grace_time=max(1, round(self._interval * 5)),
        )
        scheduler.start()
        self._scheduler = scheduler

    def fire_due(self) -> int:
        """Fire the due timers now, in the caller's thread (a test, a tool); how many."""
        return self._runner.fire_due()

    def run_now(self) -> None:
        """Fire due timers at once (e.g. just after scheduling one due now)."""
        scheduler = self._scheduler
        if scheduler is None or not scheduler.running:
            return
        # If a run is in progress, APScheduler would skip the extra one
        # (max_instances=1); the flag makes that run go round once more instead.
        self._again.set()
        scheduler.modify_job(_JOB_ID, next_run_time=datetime.now(UTC))

    def stop(self) -> None:
        """Stop the job, waiting for a run in progress to finish."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=True)

    def _tick(self) -> None:
        with unit_of_work(self._work):
            while True:
                self._again.clear()
                try:
                    fired = self._runner.fire_due()
                except Exception:  # the job must outlive a database hiccup
                    log.exception("firing due timers failed; trying again at the next beat")
                    return
                if fired:
                    log.debug("fired %d timer(s)", fired)
                if not self._again.is_set():
                    return
