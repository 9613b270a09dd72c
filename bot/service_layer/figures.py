"""Aggregate figures and the versions in force: what marketing tunes the flows by.

Only counts leave this module — conversations per chart state, handoffs per status and
open handoffs per queue, the funnel (bot.service_layer.funnel) per flow version and per
variant — and which flow and routing files are in force (name, file name, SHA-256 of
the content), the flow versions live and pending (who proposed them, when), and the
latest run of the flow's conversation tests. Never a transcript, phone number, summary,
message text or evidence, so a role that reads no conversation may see them
(``can_see_figures``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from bot.adapters.flow_test_runs import FlowTestRun, FlowTestRunsError, latest_run
from bot.adapters.flow_version_tables import FlowVersion
from bot.adapters.tables import Conversation, Handoff
from bot.domain.access import Actor, can_see_figures
from bot.domain.flows import Flow
from bot.domain.routing import RoutingRules
from bot.service_layer import funnel
from bot.service_layer.funnel import Grouping, Period, Report
from bot.service_layer.handoffs import OPEN_STATUSES, NotAllowed

__all__ = [
    "Figures",
    "FlowVersionRow",
    "MarketingFigures",
    "Version",
    "figures",
    "funnel_chart",
    "marketing_figures",
]


@dataclass(frozen=True)
class Version:
    """One file in force: what it is called and the SHA-256 of what was loaded."""

    name: str
    file: str
    sha256: str


@dataclass(frozen=True)
class Figures:
    conversations_by_state: dict[str, int]
    handoffs_by_status: dict[str, int]
    open_handoffs_by_queue: dict[str, int]
    flow: Version
    routing: Version


def _counts(
    session: Session, column: InstrumentedAttribute[Any], *where: ColumnElement[bool]
) -> dict[str, int]:
    rows = session.execute(select(column, func.count()).where(*where).group_by(column))
    return dict(sorted((str(key) if key is not None else "not started", n) for key, n in rows))


def _allowed(actor: Actor) -> None:
    if not can_see_figures(actor):
        raise NotAllowed(f"your role ({actor.role}) does not see the figures")


def figures(session: Session, actor: Actor, flow: Flow, rules: RoutingRules) -> Figures:
    """The counts and versions, for those who may see them (NotAllowed otherwise)."""
    _allowed(actor)
    return Figures(
        conversations_by_state=_counts(session, Conversation.state),
        handoffs_by_status=_counts(session, Handoff.status),
        open_handoffs_by_queue=_counts(session, Handoff.queue, Handoff.status.in_(OPEN_STATUSES)),
        flow=Version(flow.name, PurePath(flow.source).name, flow.digest),
        routing=Version("routing", PurePath(rules.source).name, rules.digest),
    )


@dataclass(frozen=True)
class FlowVersionRow:
    """A flow version as the figures page lists it: which, whose, when, and its standing."""

    flow: str
    seq: int
    sha256: str
    status: str
    proposed_by: str
    proposed_at: datetime
    decided_by: str | None
    decided_at: datetime | None


@dataclass(frozen=True)
class MarketingFigures:
    figures: Figures
    by_flow_version: Report
    by_variant: Report
    versions: list[FlowVersionRow]
    tests: FlowTestRun | None
    tests_problem: str | None  # the results file is there but could not be read


def _versions(session: Session) -> list[FlowVersionRow]:
    """The live and pending versions: live first, then pending, oldest proposal first."""
    rows = session.scalars(
        select(FlowVersion)
        .where(FlowVersion.status.in_(("live", "pending")))
        .order_by(FlowVersion.flow, FlowVersion.status, FlowVersion.seq)
    )
    return [
        FlowVersionRow(
            v.flow,
            v.seq,
            v.sha256,
            v.status,
            v.proposed_by,
            v.proposed_at,
            v.decided_by,
            v.decided_at,
        )
        for v in rows
    ]


def marketing_figures(
    session: Session,
    actor: Actor,
    flow: Flow,
    rules: RoutingRules,
    period: Period,
    test_results: Path,
) -> MarketingFigures:
    """Everything the figures page shows, for those who may see it (NotAllowed otherwise):
    the counts, the funnel of ``period`` per flow version and per variant, the live and
    pending flow versions and the latest flow-test run (read from ``test_results``)."""
    _allowed(actor)
    try:
        tests, problem = latest_run(test_results), None
    except FlowTestRunsError as exc:
        tests, problem = None, str(exc)
    threshold = flow.transition_at
    return MarketingFigures(
        figures=figures(session, actor, flow, rules),
        by_flow_version=funnel.report(session, period, threshold, by="flow_version"),
        by_variant=funnel.report(session, period, threshold, by="variant"),
        versions=_versions(session),
        tests=tests,
        tests_problem=problem,
    )


def funnel_chart(session: Session, actor: Actor, flow: Flow, period: Period, by: Grouping) -> bytes:
    """The funnel of ``period`` as a PNG, a bar chart per group of ``by``."""
    _allowed(actor)
    return funnel.chart(funnel.report(session, period, flow.transition_at, by=by))
