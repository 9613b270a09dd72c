"""Aggregate figures as JSON, under ``/api/v1/figures``, with the console API's per-user
tokens: conversations per chart state, handoffs per status, open handoffs per queue,
and the flow and routing files in force. Counts only, never a conversation: marketing,
supervisors and compliance may read them; other roles get 403.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from bot.domain.access import Actor
from bot.entrypoints.routes.console_api import ApiActor, ErrorOut, container_of
from bot.service_layer import figures as figures_service
from bot.service_layer.handoffs import HandoffError

__all__ = ["FiguresOut", "VersionOut", "figures_of", "router"]

router = APIRouter(prefix="/api/v1", tags=["figures"])


class VersionOut(BaseModel):
    name: str = Field(description="The flow's name (routing for the routing rules).")
    file: str = Field(description="The file it was loaded from.")
    sha256: str = Field(description="SHA-256 of the file's content as loaded.")


class FiguresOut(BaseModel):
    conversations_by_state: dict[str, int] = Field(
        description="Conversations per chart state: the funnel (qualifying, terms_offered, "
        "invite_sent, handed_off, ...)."
    )
    handoffs_by_status: dict[str, int]
    open_handoffs_by_queue: dict[str, int]
    flow: VersionOut
    routing: VersionOut


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No valid API token."},
    403: {"model": ErrorOut, "description": "The caller's role does not see the figures."},
}


def figures_of(request: Request, actor: Actor) -> FiguresOut:
    """The figures for ``actor`` (HandoffError when their role may not see them)."""
    container = container_of(request)
    flow, rules = container.flows.current(), container.routing.current()
    with container.sessions.begin() as s:
        found = figures_service.figures(s, actor, flow, rules)
    return FiguresOut(
        conversations_by_state=found.conversations_by_state,
        handoffs_by_status=found.handoffs_by_status,
        open_handoffs_by_queue=found.open_handoffs_by_queue,
        flow=VersionOut(**vars(found.flow)),
        routing=VersionOut(**vars(found.routing)),
    )


@router.get("/figures", responses=_ERRORS)
def get_figures(request: Request, actor: ApiActor) -> FiguresOut:
    """Counts and versions in force; never a transcript, phone number or summary."""
    try:
        return figures_of(request, actor)
    except HandoffError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
