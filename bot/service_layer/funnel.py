"""The funnel report's queries: each chosen conversation's milestones, read from the
records, and the funnel of them (bot.domain.funnel says what marks each stage).

Only ids, times, levels, reasons and the grouping columns are read: never a message, a
number or a consent's text, so the report may go to a role that reads no conversation.
The conversations are those that started in the period (``since`` inclusive, ``until``
exclusive); what happened to them after ``until`` is not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from bot.adapters.flow_version_tables import FlowVersion
from bot.adapters.funnel_chart import funnel_png
from bot.adapters.tables import Consent, Conversation, Handoff, Invite
from bot.domain.funnel import STAGES, Funnel, HandoffFacts, Journey, funnel_of, grouped
from bot.domain.levels import Level

__all__ = [
    "GROUPINGS",
    "Grouping",
    "Period",
    "Report",
    "chart",
    "journeys",
    "parse_moment",
    "report",
    "report_dict",
]

Grouping = Literal["variant", "language", "flow_version"]
GROUPINGS: tuple[str, ...] = get_args(Grouping)


@dataclass(frozen=True)
class Period:
    since: datetime | None = None
    until: datetime | None = None

    def words(self) -> str:
        """The period as a title says it: "2026-11-01 – 2026-12-01", "all time", ..."""
        since = self.since.strftime("%Y-%m-%d %H:%M") if self.since else None
        until = self.until.strftime("%Y-%m-%d %H:%M") if self.until else None
        if since and until:
            return f"{since} – {until} UTC"
        if since:
            return f"since {since} UTC"
        if until:
            return f"until {until} UTC"
        return "all time"


@dataclass(frozen=True)
class Report:
    period: Period
    flow: str | None
    by: Grouping | None
    total: Funnel
    groups: dict[str, Funnel]


def _label(by: Grouping | None, row: Any) -> str:
    if by == "variant":
        return str(row.variant or "base")
    if by == "language":
        return str(row.language or "unknown")
    if by == "flow_version":
        return f"{row.flow} v{row.seq}" if row.flow is not None else "unversioned"
    return ""


# id, created_at, level, language, variant, flow, seq (the last two NULL: unversioned)
_Chosen = Select[str, datetime, str, str | None, str | None, str, int]


def _chosen(period: Period, flow: str | None) -> _Chosen:
    query = select(
        Conversation.id,
        Conversation.created_at,
        Conversation.level,
        Conversation.language,
        Conversation.variant,
        FlowVersion.flow,
        FlowVersion.seq,
    ).outerjoin(FlowVersion, FlowVersion.id == Conversation.flow_version_id)
    where: list[ColumnElement[bool]] = []
    if period.since is not None:
        where.append(Conversation.created_at >= period.since)
    if period.until is not None:
        where.append(Conversation.created_at < period.until)
    if flow is not None:
        where.append(FlowVersion.flow == flow)
    return query.where(*where)


def journeys(
    session: Session,
    period: Period,
    threshold: Level,
    *,
    flow: str | None = None,
    by: Grouping | None = None,
) -> list[Journey]:
    """The milestones of each conversation that started in ``period`` (of ``flow``'s
    versions only, when given), grouped by ``by``."""
    chosen = _chosen(period, flow)
    rows = session.execute(chosen).all()
    ids = select(chosen.subquery().c.id)
    at_threshold = {level.label for level in Level if level >= threshold}

    decisions: dict[str, dict[str, datetime | None]] = {}
    offered: dict[str, datetime] = {}
    for cid, decision, first_offered, first_decided in session.execute(
        select(
            Consent.conversation_id,
            Consent.decision,
            func.min(Consent.offered_at),
            func.min(Consent.decided_at),
        )
        .where(Consent.conversation_id.in_(ids))
        .group_by(Consent.conversation_id, Consent.decision)
    ):
        decisions.setdefault(cid, {})[decision] = first_decided
        offered[cid] = min(first_offered, offered.get(cid, first_offered))

    invites = {
        cid: (issued, used)
        for cid, issued, used in session.execute(
            select(Invite.conversation_id, func.min(Invite.issued_at), func.min(Invite.used_at))
            .where(Invite.conversation_id.in_(ids))
            .group_by(Invite.conversation_id)
        )
    }
    handoffs: dict[str, list[HandoffFacts]] = {}
    for h in session.execute(
        select(
            Handoff.conversation_id,
            Handoff.reason,
            Handoff.created_at,
            Handoff.closed_at,
            Handoff.claimed_at,
        ).where(Handoff.conversation_id.in_(ids))
    ):
        facts = HandoffFacts(h.reason, h.created_at, h.closed_at, h.claimed_at)
        handoffs.setdefault(h.conversation_id, []).append(facts)

    found = []
    for row in rows:
        decided = decisions.get(row.id, {})
        issued, used = invites.get(row.id, (None, None))
        found.append(
            Journey(
                started_at=row.created_at,
                group=_label(by, row),
                reached_threshold=row.level in at_threshold,
                offered_at=offered.get(row.id),
                agreed_at=decided.get("agreed"),
                declined_at=decided.get("declined"),
                invited_at=issued,
                activated_at=used,
                handoffs=tuple(handoffs.get(row.id, ())),
            )
        )
    return found


def report(
    session: Session,
    period: Period,
    threshold: Level,
    *,
    flow: str | None = None,
    by: Grouping | None = None,
) -> Report:
    """The funnel of the conversations that started in ``period``, in all and per group."""
    found = journeys(session, period, threshold, flow=flow, by=by)
    groups = grouped(found, period.until) if by is not None else {}
    return Report(period, flow, by, funnel_of(found, period.until), groups)


def parse_moment(value: str, option: str) -> datetime:
    """An ISO 8601 date or time; UTC when it names no offset. ValueError says why not."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(
            f"{option} {value!r} is not an ISO 8601 date or time (e.g. 2026-11-01 "
            "or 2026-11-01T09:00:00Z)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def chart(found: Report) -> bytes:
    """The report as a PNG: a bar chart per group (the whole funnel when not grouped)."""
    funnels = found.groups or {"all": found.total}
    flow = f" · flow {found.flow}" if found.flow else ""
    title = f"Funnel · conversations started {found.period.words()}{flow}"
    return funnel_png({n: f.counts for n, f in funnels.items()}, STAGES, title=title)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _funnel_dict(funnel: Funnel) -> dict[str, Any]:
    return {
        "stages": [{"name": stage, "count": funnel.counts[stage]} for stage in STAGES],
        "drop_off": funnel.drop_off(),
        "branch": funnel.branch(),
        "times": funnel.times(),
    }


def report_dict(found: Report) -> dict[str, Any]:
    """The report as JSON: ``{"stages": [...], "groups": {name: {"stages": ...}}, ...}``."""
    return {
        **_funnel_dict(found.total),
        "groups": {name: _funnel_dict(funnel) for name, funnel in found.groups.items()},
        "by": found.by,
        "flow": found.flow,
        "since": _iso(found.period.since),
        "until": _iso(found.period.until),
    }
