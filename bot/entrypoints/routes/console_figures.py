"""The console's figures page, marketing's home: the funnel per flow version and per
variant (a chart and a table each) for a chosen period, the counts by state, status
and queue, the flow and routing files in force, the flow versions live and pending,
and the latest run of the flow's conversation tests.

The period is chosen by ``?since=`` and ``?until=`` (ISO dates, ``until`` not included;
by default the last 30 days, ``since=`` empty for all time). The charts are PNGs from
``/console/figures/funnel.png?by=flow_version|variant`` with the same period, drawn by
the same code as `gangway report funnel --format png`. Counts only: no transcript,
phone number, message text or evidence reaches these pages (``can_see_figures``);
other roles get the console's 403 page.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import cast
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from bot.domain.funnel import PERCENTILES, STAGES, in_words
from bot.entrypoints.routes.console import ConsoleRoute, PageViewer, Viewer, render_page
from bot.entrypoints.routes.console_api import container_of
from bot.service_layer import figures as figures_service
from bot.service_layer.funnel import GROUPINGS, Grouping, Period, parse_moment
from bot.service_layer.handoffs import HandoffError

__all__ = ["DEFAULT_DAYS", "router"]

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

DEFAULT_DAYS = 30
PRESETS = (7, 30, 90)
_PNG_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _period(request: Request, now: datetime) -> Period:
    """The period the query asks for (ValueError with a plain message when it is bad)."""
    query = request.query_params
    if "since" in query:
        since = parse_moment(query["since"], "since") if query["since"].strip() else None
    else:
        since = datetime.combine(now.date() - timedelta(days=DEFAULT_DAYS), time(), now.tzinfo)
    until_text = query.get("until", "").strip()
    until = parse_moment(until_text, "until") if until_text else None
    if since is not None and until is not None and since >= until:
        raise ValueError("the period's start must come before its end")
    return Period(since, until)


def _query(period: Period, **extra: str) -> str:
    return urlencode(
        {
            "since": period.since.date().isoformat() if period.since else "",
            **({"until": period.until.date().isoformat()} if period.until else {}),
            **extra,
        }
    )


def _refused(request: Request, viewer: Viewer, status: int, message: str) -> HTMLResponse:
    return render_page(request, "error.html", status, viewer=viewer, message=message)


@router.get("/figures", response_class=HTMLResponse)
def figures_page(request: Request, viewer: PageViewer) -> HTMLResponse:
    """Counts, the funnel and the flow's versions and tests; never a conversation."""
    container = container_of(request)
    now = container.clock.now()
    try:
        period = _period(request, now)
    except ValueError as exc:
        return _refused(request, viewer, 400, str(exc))
    try:
        with container.sessions.begin() as s:
            found = figures_service.marketing_figures(
                s,
                viewer.actor,
                container.flows.current(),
                container.routing.current(),
                period,
                container.settings.flow_test_results,
            )
    except HandoffError as exc:
        return _refused(request, viewer, exc.status, str(exc))
    presets = [
        (f"Last {days} days", _query(Period(now - timedelta(days=days)))) for days in PRESETS
    ]
    return render_page(
        request,
        "figures.html",
        viewer=viewer,
        figures=found.figures,
        found=found,
        period=period,
        since_value=period.since.date().isoformat() if period.since else "",
        until_value=period.until.date().isoformat() if period.until else "",
        presets=[*presets, ("All time", "since=")],
        chart_query={by: _query(period, by=by) for by in GROUPINGS},
        stages=STAGES,
        percentiles=PERCENTILES,
        in_words=in_words,
    )


@router.get("/figures/funnel.png")
def funnel_png(request: Request, viewer: PageViewer) -> Response:
    """The funnel of the period as a bar chart per group (``by``: variant by default)."""
    container = container_of(request)
    by = request.query_params.get("by", "variant")
    if by not in GROUPINGS:
        return _refused(request, viewer, 400, f"by must be one of {', '.join(GROUPINGS)}")
    try:
        period = _period(request, container.clock.now())
    except ValueError as exc:
        return _refused(request, viewer, 400, str(exc))
    try:
        with container.sessions.begin() as s:
            png = figures_service.funnel_chart(
                s, viewer.actor, container.flows.current(), period, cast(Grouping, by)
            )
    except HandoffError as exc:
        return _refused(request, viewer, exc.status, str(exc))
    return Response(png, media_type="image/png", headers=_PNG_HEADERS)
