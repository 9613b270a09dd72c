"""The console's "Flow changes" page: each pending flow version with a readable diff
against the live one (texts side by side per language, settings in plain lines), who
proposed it and when; compliance approves or rejects it with a comment, marketing reads
it. Other roles get the console's 403 page. Approve and reject are POST forms with the
console's CSRF token, like every other change.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from bot.domain.access import can_approve_flow_changes, can_see_flow_changes
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
from bot.service_layer import flow_governance
from bot.service_layer.flow_governance import FlowVersionError

__all__ = ["router"]

router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)

_NOT_YOURS = "Only compliance and marketing see flow changes."
_Comment = Annotated[str, Form(max_length=2000)]


def _page(
    request: Request,
    viewer: Viewer,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    if not can_see_flow_changes(viewer.actor):
        return render_page(request, "error.html", 403, viewer=viewer, message=_NOT_YOURS)
    changes = flow_governance.pending_changes(container_of(request).sessions)
    return render_page(
        request,
        "flow_changes.html",
        status,
        viewer=viewer,
        changes=changes,
        decides=can_approve_flow_changes(viewer.actor),
        error=error,
        notice=notice,
    )


@router.get("/flow-changes", response_class=HTMLResponse)
def flow_changes_page(request: Request, viewer: PageViewer) -> HTMLResponse:
    done = request.query_params.get("done", "")
    verb, _, ref = done.partition(" ")
    notice = f"Version {ref} is {verb}." if verb in ("live", "rejected") and ref else None
    return _page(request, viewer, notice=notice)


def _decide(
    request: Request, viewer: Viewer, flow: str, seq: int, comment: str, approve: bool
) -> Response:
    if not can_approve_flow_changes(viewer.actor):
        message = "Only compliance approves or rejects flow changes."
        return render_page(request, "error.html", 403, viewer=viewer, message=message)
    container = container_of(request)
    who = f"{viewer.name} <{viewer.email}>"
    try:
        if approve:
            row = flow_governance.approve(
                container.sessions, f"{flow}:{seq}", who, comment, container.clock.now()
            )
        else:
            row = flow_governance.reject(
                container.sessions, f"{flow}:{seq}", who, comment, container.clock.now()
            )
    except FlowVersionError as exc:
        status = 404 if "no flow version" in str(exc) else 409
        return _page(request, viewer, status=status, error=str(exc))
    return see_other(f"/console/flow-changes?done={row.status}+{row.ref}")


@router.post("/flow-changes/{flow}/{seq}/approve")
def approve(
    request: Request, viewer: FormViewer, flow: str, seq: RowId, comment: _Comment = ""
) -> Response:
    return _decide(request, viewer, flow, seq, comment, approve=True)


@router.post("/flow-changes/{flow}/{seq}/reject")
def reject(
    request: Request, viewer: FormViewer, flow: str, seq: RowId, comment: _Comment = ""
) -> Response:
    return _decide(request, viewer, flow, seq, comment, approve=False)
