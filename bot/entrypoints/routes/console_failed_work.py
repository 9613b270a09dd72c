"""The console's "Failed work" page, for admins: what failed and waits for a person
(replies to prospects, prospects' messages, CRM events, set-aside webhook deliveries),
with a Retry button per row that makes it due again for the service.

It shows ids, times and errors, never a message's text or a number (an admin reads no
conversation). Other roles get the console's 403 page, as for the figures. The Retry
button is a POST form with the console's CSRF token, like every other change.
"""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from bot.entrypoints.routes.console import (
    ConsoleRoute,
    FormViewer,
    PageViewer,
    Viewer,
    render_page,
    see_other,
)
from bot.entrypoints.routes.console_api import container_of
from bot.entrypoints.routes.path_params import RowId
from bot.service_layer import failed_work
from bot.service_layer.failed_work import KINDS, FailedWorkError, Kind
from bot.service_layer.handoffs import HandoffError

__all__ = ["router"]

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

TITLES: dict[Kind, tuple[str, str]] = {
    "outbox": ("Replies to prospects", "outbox message"),
    "inbox": ("Prospects' messages not answered", "inbox message"),
    "crm": ("Events for the CRM", "CRM event"),
    "intake": ("Webhook deliveries set aside", "webhook delivery"),
}


def _failed_work_page(
    request: Request,
    viewer: Viewer,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    container = container_of(request)
    try:
        found = failed_work.overview(
            container.sessions, viewer.actor, container.clock.now(), container.flows.current()
        )
    except HandoffError as exc:
        return render_page(request, "error.html", exc.status, viewer=viewer, message=str(exc))
    return render_page(
        request,
        "failed_work.html",
        status,
        viewer=viewer,
        sections=[(kind, *TITLES[kind], found[kind]) for kind in KINDS],
        error=error,
        notice=notice,
    )


def _retried_notice(value: str) -> str | None:
    """The page's word after a retry: ``?retried=outbox-12`` names what was retried."""
    kind, _, item_id = value.partition("-")
    if kind not in KINDS or not item_id.isdigit():
        return None
    noun = TITLES[cast(Kind, kind)][1]
    return f"{noun[0].upper()}{noun[1:]} {item_id} is due again: the service takes it from here."


@router.get("/failed-work", response_class=HTMLResponse)
def failed_work_page(request: Request, viewer: PageViewer) -> HTMLResponse:
    notice = _retried_notice(request.query_params.get("retried", ""))
    return _failed_work_page(request, viewer, notice=notice)


@router.post("/failed-work/{kind}/{item_id}/retry")
def retry(request: Request, viewer: FormViewer, kind: str, item_id: RowId) -> Response:
    if kind not in KINDS:
        return render_page(
            request, "error.html", 404, viewer=viewer, message="There is no such work."
        )
    container = container_of(request)
    try:
        failed_work.retry_as(
            container.sessions,
            viewer.actor,
            cast(Kind, kind),
            item_id,
            container.clock.now(),
            container.flows.current(),
        )
    except HandoffError as exc:
        return render_page(request, "error.html", exc.status, viewer=viewer, message=str(exc))
    except FailedWorkError as exc:
        return _failed_work_page(request, viewer, status=exc.status, error=str(exc))
    return see_other(f"/console/failed-work?retried={kind}-{item_id}")
