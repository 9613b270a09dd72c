"""gangway's figures for Prometheus: what ``GET /metrics`` shows.

Two kinds of figure:

- **Counts and timings of work done** (messages in and out, classifications, protocol
  steps, reply and Rasa latency, timer lag, SLA breaches): counters and histograms that
  the service layer moves through the ``Metrics`` port as it works.
- **Facts in the database** (backlogs, open handoffs, rows failed for good): read
  from the database each time the figures are asked for (``DatabaseFigures``), never
  counted in memory. They are then right whichever process answers, and across
  restarts.

Several service processes (``gangway serve --workers N``, which ``gangway up
--replicas N`` runs) answer on one port, so a scrape reaches any one of them. They use
prometheus-client's multiprocess mode: the parent makes an empty directory of its own
under the state directory (``prepare_process_figures``) and names it in
``PROMETHEUS_MULTIPROC_DIR`` before any worker starts; each worker writes its counts
there, and the one that answers a scrape adds them all up. Per-process labels cannot
work on one port: each scrape would reach one worker and see only its series. Counts
of a worker that died stay in the directory, so the totals never go down when uvicorn
replaces it; a worker that stops marks itself dead (``close``; that matters only to
live gauges, and gangway's gauges come from the database), and the directory goes
when ``serve`` ends. One process alone (``gangway serve``, each container of the
compose file, the tests) keeps its figures in memory, in a registry of its own.

No label ever holds a phone number, a message body or a conversation id: each is one
of a small, fixed set of words.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import InstrumentedAttribute

from bot.adapters.tables import CrmDelivery, Handoff, InboxMessage, OutboxMessage
from bot.domain.conversation_chart import CHART_EVENTS
from bot.domain.delivery import UNSENT_STATUSES
from bot.domain.levels import LEVEL_NAMES

__all__ = [
    "MULTIPROCESS_ENV",
    "DatabaseFigures",
    "PrometheusMetrics",
    "prepare_process_figures",
]

log = logging.getLogger(__name__)

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

# What an inbound message came to (``Metrics.inbound``).
INBOUND_OUTCOMES = ("forwarded", "withheld", "opted_out", "duplicate", "failed")

# Replies take seconds (screening, Rasa, Twilio); a holding reply goes after 20.
REPLY_BUCKETS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0, 120.0, 300.0)
RASA_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)
# Timers are looked at every few seconds; minutes late means the service was down.
TIMER_LAG_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0)

# Rows failed for good: a failure of Twilio's API, or one its callback reported.
_OUTBOX_FAILED = ("failed", "undelivered")
_HANDOFF_OPEN = ("queued", "assigned", "escalated", "claimed")


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROCESS_ENV))


def prepare_process_figures(state_dir: Path, pid: int) -> Path:
    """An empty directory for the figures of the processes the parent ``pid`` is about to
    start, named in the environment they inherit. Directories of earlier runs whose
    parent is gone are removed: their counts belong to processes that no longer exist."""
    parent = state_dir / "metrics"
    parent.mkdir(parents=True, exist_ok=True)
    for old in parent.iterdir():
        if old.is_dir() and (not old.name.isdigit() or not _alive(int(old.name))):
            shutil.rmtree(old, ignore_errors=True)
    path = parent / str(pid)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    os.environ[MULTIPROCESS_ENV] = str(path)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DatabaseFigures(Collector):
    """The gauges that are facts in the database, read at each scrape (a few counts over
    indexed status columns)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def describe(self) -> Iterable[Metric]:
        # Registration asks for the names; it must not query the database.
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        try:
            counts = self._counts()
        except Exception as exc:
            # The figures go missing from the scrape, which alerts can see; the reason
            # goes to the log (its type only: a driver's message names hosts and users).
            log.warning("database figures unavailable: %s", type(exc).__name__)
            return []
        return list(self._families(counts))

    def _counts(self) -> dict[str, int]:
        def by_status(column: InstrumentedAttribute[str]) -> dict[str, int]:
            rows = conn.execute(select(column, func.count()).group_by(column)).all()
            return {status: int(n) for status, n in rows}

        with self._engine.connect() as conn:
            inbox = by_status(InboxMessage.status)
            outbox = by_status(OutboxMessage.status)
            handoffs = by_status(Handoff.status)
            crm = by_status(CrmDelivery.status)
        return {
            "gangway_inbox_backlog": inbox.get("pending", 0),
            "gangway_inbox_failed": inbox.get("failed", 0),
            "gangway_outbox_backlog": sum(outbox.get(s, 0) for s in UNSENT_STATUSES),
            "gangway_outbox_failed": sum(outbox.get(s, 0) for s in _OUTBOX_FAILED),
            "gangway_handoffs_open": sum(handoffs.get(s, 0) for s in _HANDOFF_OPEN),
            "gangway_crm_outbox_failed": crm.get("failed", 0),
        }

    def _families(self, counts: dict[str, int] | None = None) -> Iterator[GaugeMetricFamily]:
        for name, help_text in _DATABASE_GAUGES.items():
            family = GaugeMetricFamily(name, help_text)
            if counts is not None:
                family.add_metric([], counts[name])
            yield family


_DATABASE_GAUGES = {
    "gangway_inbox_backlog": "Inbound messages recorded and not yet answered.",
    "gangway_inbox_failed": "Inbound messages that failed for good.",
    "gangway_outbox_backlog": "Outbound messages waiting to be handed to Twilio.",
    "gangway_outbox_failed": "Outbound messages failed for good (failed or undelivered).",
    "gangway_handoffs_open": "Handoffs not closed: queued, assigned, escalated or claimed.",
    "gangway_crm_outbox_failed": "CRM pushes that failed for good.",
}


class PrometheusMetrics:
    """The ``Metrics`` port on prometheus-client, and the page ``GET /metrics`` shows."""

    def __init__(self, engine: Engine) -> None:
        # A ``_created`` series per counter would double the page for nothing a
        # dashboard uses.
        disable_created_metrics()
        self._multiprocess = multiprocess_mode()
        self.registry = CollectorRegistry()
        r = self.registry
        self._inbound = Counter(
            "gangway_inbound_messages",
            "Inbound WhatsApp messages by what came of them.",
            ["outcome"],
            registry=r,
        )
        self._outbound = Counter(
            "gangway_outbound_messages",
            "Outbound messages reaching each status (Twilio's), with Twilio's error code.",
            ["status", "error_code"],
            registry=r,
        )
        self._reply = Histogram(
            "gangway_reply_seconds",
            "From a prospect's message reaching the webhook to its first reply handed to Twilio.",
            buckets=REPLY_BUCKETS,
            registry=r,
        )
        self._rasa = Histogram(
            "gangway_rasa_request_seconds",
            "Requests to Rasa: a dialogue turn or an NLU parse.",
            ["call"],
            buckets=RASA_BUCKETS,
            registry=r,
        )
        self._classified = Counter(
            "gangway_classification",
            "Inbound messages by the sensitivity level screening gave them.",
            ["level"],
            registry=r,
        )
        self._transitions = Counter(
            "gangway_transitions",
            "Protocol steps: the conversation chart's events.",
            ["step"],
            registry=r,
        )
        self._timer_lag = Histogram(
            "gangway_timer_lag_seconds",
            "How long after its due time a timer fired.",
            buckets=TIMER_LAG_BUCKETS,
            registry=r,
        )
        self._sla = Counter(
            "gangway_handoff_sla_breaches",
            "Handoffs unclaimed past their SLA, escalated to a supervisor.",
            registry=r,
        )
        # Every known label value shows from the start, at zero: a rate over a series
        # that appears only with its first count misses that count.
        for outcome in INBOUND_OUTCOMES:
            self._inbound.labels(outcome)
        for level in LEVEL_NAMES:
            self._classified.labels(level)
        for step in CHART_EVENTS:
            self._transitions.labels(step)
        for call in ("dialogue", "nlu"):
            self._rasa.labels(call)
        self._database = DatabaseFigures(engine)
        if not self._multiprocess:
            r.register(self._database)

    # -- the Metrics port -----------------------------------------------------

    def inbound(self, outcome: str) -> None:
        self._inbound.labels(outcome).inc()

    def outbound(self, status: str, error_code: str) -> None:
        self._outbound.labels(status, error_code).inc()

    def reply_latency(self, seconds: float) -> None:
        self._reply.observe(max(0.0, seconds))

    def rasa_request(self, call: str, seconds: float) -> None:
        self._rasa.labels(call).observe(seconds)

    def classified(self, level: str) -> None:
        self._classified.labels(level).inc()

    def transition(self, step: str) -> None:
        self._transitions.labels(step).inc()

    def timer_lag(self, seconds: float) -> None:
        self._timer_lag.observe(max(0.0, seconds))

    def sla_breach(self) -> None:
        self._sla.inc()

    # -- the page -------------------------------------------------------------

    def exposition(self) -> tuple[bytes, str]:
        """The figures in Prometheus' text format, and its content type. With several
        processes, every process's counts added up, plus the database's figures."""
        registry = self.registry
        if self._multiprocess:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            registry.register(self._database)
        return generate_latest(registry), CONTENT_TYPE_LATEST

    def names(self) -> frozenset[str]:
        """The name of every series the page can show (``_total``, ``_bucket``... as
        queries name them)."""
        names: set[str] = set()
        instruments: list[Counter | Histogram] = [self._inbound, self._outbound, self._reply]
        instruments += [self._rasa, self._classified, self._transitions, self._timer_lag, self._sla]
        families = [f for instrument in instruments for f in instrument.describe()]
        for family in [*families, *self._database.describe()]:
            if family.type == "counter":
                names.add(family.name + "_total")
            elif family.type == "histogram":
                names.update(family.name + s for s in ("_bucket", "_sum", "_count"))
            else:
                names.add(family.name)
        return frozenset(names)

    def close(self) -> None:
        """This process stops: in multiprocess mode it is marked dead (its counts stay,
        so the totals never go down)."""
        if self._multiprocess:
            multiprocess.mark_process_dead(os.getpid())
