"""Reconciling gangway's records with the provider's: is every message in both?

For a range [start, end) of send times:

- every message the provider holds to or from the business number must be in
  gangway: an inbound one in the inbox (its ``message_sid``), an outbound one in the
  outbox (its ``provider_sid``), whenever gangway recorded it;
- every message gangway received or handed over in the range must be at the
  provider. One missing from the provider's list for the range is fetched by its id
  before it counts as missing: the list filters on the provider's send date, which a
  message still queued there does not have yet, and which can differ by a few seconds
  from gangway's own time at the range's edges.

Outbox messages the provider never accepted (no provider id) are no gaps: nothing was
sent. The range ends a grace period before now, so that messages in flight (a webhook
on its way, a send whose id is not stored yet) are not reported.

Each run is recorded (``reconciliation_runs``) and appended to the audit log with its
counts and the gaps' ids; each gap is logged at ERROR with the number masked. The
provider is read outside any database transaction.

`Reconciler` checks a range on demand (the ``gangway audit reconcile`` command);
`ScheduledReconciliation` runs it every interval in the service, once per interval
across processes, each run continuing where the last completed one ended.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.adapters import audit_log
from bot.adapters import reconciliation_runs as runs
from bot.adapters.db import SessionFactory
from bot.domain.reconciliation import (
    Gap,
    Reconciliation,
    Side,
    Tally,
    mask_address,
)
from bot.service_layer.errors import IntegrationError
from bot.service_layer.ports import Clock, MessageHistory, ProviderMessage

__all__ = [
    "DEFAULT_GRACE",
    "MAX_CATCH_UP",
    "Reconciler",
    "ReconciliationFailed",
    "RunReport",
    "ScheduledReconciliation",
]

log = logging.getLogger(__name__)

DEFAULT_GRACE = timedelta(minutes=10)
# How far back a scheduled run reaches after the service was down (or runs failed)
# for a long time: catching up on more would mean one very long listing.
MAX_CATCH_UP = timedelta(days=7)
_MAX_ERROR_CHARS = 500


class ReconciliationFailed(Exception):
    """The run could not complete (provider or database unreachable); it is recorded
    as failed. ``run_id`` names the record, ``__cause__`` holds the underlying error."""

    def __init__(self, run_id: int, message: str) -> None:
        super().__init__(message)
        self.run_id = run_id

    def __repr__(self) -> str:
        return f"ReconciliationFailed(run_id={self.run_id!r}, message={str(self)!r})"


@dataclass(frozen=True)
class RunReport:
    """One completed run: its record's id and what it found."""

    run_id: int
    result: Reconciliation


def _error_text(exc: Exception) -> str:
    # Integration errors name host, path, status and the provider's message, never
    # parameters; anything else is named by its type only, as its text could hold data.
    if isinstance(exc, IntegrationError):
        return f"{type(exc).__name__}: {exc.message}"[:_MAX_ERROR_CHARS]
    return type(exc).__name__


def _provider_gap(message: ProviderMessage) -> Gap:
    counterpart = message.from_ if message.direction == "inbound" else message.to
    return Gap(
        Side.NOT_IN_GANGWAY,
        message.sid,
        message.direction,
        message.date_sent,
        mask_address(counterpart),
    )


def _recorded_gap(message: runs.RecordedMessage) -> Gap:
    return Gap(
        Side.NOT_AT_PROVIDER,
        message.sid,
        message.direction,
        message.at,
        mask_address(message.counterpart),
    )


class Reconciler:
    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        history: MessageHistory,
        *,
        grace: timedelta = DEFAULT_GRACE,
    ) -> None:
        if grace < timedelta(0):
            raise ValueError("the grace period must not be negative")
        self._sessions = sessions
        self._clock = clock
        self._history = history
        self.grace = grace

    def reconcile_since(self, since: timedelta) -> RunReport:
        """Check the messages sent from ``since`` ago until the grace period before now.

        ValueError when that range is empty (``since`` not longer than the grace
        period); `ReconciliationFailed` when the run could not complete.
        """
        now = self._clock.now()
        start, end = now - since, now - self.grace
        if start >= end:
            raise ValueError(
                f"the range must reach back further than the grace period ({self.grace})"
            )
        with self._sessions.begin() as s:
            run_id = runs.start_run(s, trigger="command", start=start, end=end, now=now)
        assert run_id is not None  # only scheduled runs hold a slot that can be taken
        return self.run(run_id, "command", start, end)

    def run(self, run_id: int, trigger: str, start: datetime, end: datetime) -> RunReport:
        """Compare both sides over [start, end) for the run ``run_id`` and record it."""
        try:
            result = self._compare(start, end)
        except Exception as exc:
            self._record_failure(run_id, trigger, start, end, exc)
            raise ReconciliationFailed(run_id, _error_text(exc)) from exc
        self._record(run_id, trigger, result)
        return RunReport(run_id, result)

    def _compare(self, start: datetime, end: datetime) -> Reconciliation:
        listed = list(self._history.sent_between(start, end))
        with self._sessions.begin() as s:
            ours = runs.inbound_between(s, start, end) + runs.outbound_between(s, start, end)
            unsent = runs.not_handed_over_between(s, start, end)
            known = {
                direction: runs.known_sids(
                    s, direction, [m.sid for m in listed if m.direction == direction]
                )
                for direction in ("inbound", "outbound")
            }
        not_in_gangway = [_provider_gap(m) for m in listed if m.sid not in known[m.direction]]
        listed_sids = {m.sid for m in listed}
        not_at_provider = [
            _recorded_gap(m)
            for m in ours
            if m.sid not in listed_sids and self._history.lookup(m.sid) is None
        ]
        gaps = sorted(
            not_in_gangway + not_at_provider,
            key=lambda g: (g.at or start, g.sid),
        )
        return Reconciliation(
            start=start,
            end=end,
            provider=Tally(
                inbound=sum(1 for m in listed if m.direction == "inbound"),
                outbound=sum(1 for m in listed if m.direction == "outbound"),
            ),
            gangway=Tally(
                inbound=sum(1 for m in ours if m.direction == "inbound"),
                outbound=sum(1 for m in ours if m.direction == "outbound"),
            ),
            not_handed_over=unsent,
            gaps=tuple(gaps),
        )

    def _record(self, run_id: int, trigger: str, result: Reconciliation) -> None:
        now = self._clock.now()
        counts = result.counts()
        with self._sessions.begin() as s:
            runs.finish_run(
                s, run_id, outcome="clean" if result.clean else "gaps", now=now, counts=counts
            )
            audit_log.append(
                s,
                kind="reconciliation",
                conversation_id=None,
                payload={
                    "run_id": run_id,
                    "trigger": trigger,
                    "range_start": result.start.astimezone(UTC).isoformat(),
                    "range_end": result.end.astimezone(UTC).isoformat(),
                    **counts,
                    "gaps": [gap.as_record() for gap in result.gaps],
                },
                now=now,
            )
        for gap in result.gaps:
            log.error("reconciliation run %d: %s", run_id, gap.describe())
        log.info(
            "reconciliation run %d of %s to %s: %s",
            run_id,
            result.start.isoformat(timespec="seconds"),
            result.end.isoformat(timespec="seconds"),
            ", ".join(f"{name} {value}" for name, value in counts.items()),
        )

    def _record_failure(
        self, run_id: int, trigger: str, start: datetime, end: datetime, exc: Exception
    ) -> None:
        now = self._clock.now()
        error = _error_text(exc)
        log.error("reconciliation run %d failed: %s", run_id, error)
        try:
            with self._sessions.begin() as s:
                runs.finish_run(s, run_id, outcome="failed", now=now, error=error)
                audit_log.append(
                    s,
                    kind="reconciliation_failed",
                    conversation_id=None,
                    payload={
                        "run_id": run_id,
                        "trigger": trigger,
                        "range_start": start.astimezone(UTC).isoformat(),
                        "range_end": end.astimezone(UTC).isoformat(),
                        "error": error,
                    },
                    now=now,
                )
        except Exception:
            # The database itself may be what failed; the run then stays "running".
            log.exception("reconciliation run %d: could not record its failure", run_id)


class ScheduledReconciliation:
    """Runs the reconciliation every ``interval`` from the service's scheduler.

    Time is cut into slots of ``interval`` (counted from the Unix epoch, so a daily
    interval is a UTC day); the first beat in a slot that finds it free claims it and
    runs, so the check happens once per slot across service processes, and at start-up
    when the current slot has not run yet. Each run covers from where the last
    completed scheduled run ended, or where failed ones began (at most `MAX_CATCH_UP`
    back; the very first: one interval), to the grace period before now, so the ranges
    join without a hole.
    """

    def __init__(
        self,
        reconciler: Reconciler,
        sessions: SessionFactory,
        clock: Clock,
        *,
        interval: timedelta,
    ) -> None:
        if interval <= timedelta(0):
            raise ValueError("the interval must be positive")
        self._reconciler = reconciler
        self._sessions = sessions
        self._clock = clock
        self._interval = interval

    def slot(self, now: datetime) -> str:
        seconds = int(self._interval.total_seconds())
        return f"every-{seconds}s:{int(now.timestamp()) // seconds}"

    def fire_due(self) -> int:
        """Run the check when this slot's has not run yet; how many ran (0 or 1)."""
        now = self._clock.now()
        slot = self.slot(now)
        end = now - self._reconciler.grace
        with self._sessions.begin() as s:
            if not runs.slot_free(s, slot):
                return 0
            last_end = runs.scheduled_resume_point(s)
            start = end - self._interval
            if last_end is not None:
                earliest = end - max(self._interval, MAX_CATCH_UP)
                if last_end < earliest:
                    log.warning(
                        "reconciliation: nothing checked %s to %s (too long ago to catch "
                        "up on); check it with `gangway audit reconcile`",
                        last_end.isoformat(timespec="seconds"),
                        earliest.isoformat(timespec="seconds"),
                    )
                start = max(last_end, earliest)
            if start >= end:
                return 0
            run_id = runs.start_run(s, trigger="schedule", start=start, end=end, now=now, slot=slot)
        if run_id is None:  # another process took the slot meanwhile
            return 0
        # A failure is logged and recorded; the next slot's run covers this range again.
        with contextlib.suppress(ReconciliationFailed):
            self._reconciler.run(run_id, "schedule", start, end)
        return 1
