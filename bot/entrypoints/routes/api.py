"""The service API used by Rasa's custom actions (bearer service token).

- ``POST /api/v1/human-requests``: the prospect asked the bot for a person.
- ``GET /api/v1/conversations/{id}/invite-status``: the chart state, the newest invite
  and the newest handoff, for "what happened to my link?".

Every error is ``{"detail": "<plain words>"}``.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from bot.bootstrap import Container
from bot.entrypoints.routes.path_params import CONVERSATION_ID_PATTERN, ConversationId
from bot.service_layer.conversation_status import InviteStanding, UnknownConversation, status_of

__all__ = [
    "ConversationStatusOut",
    "HandoffStatusOut",
    "HumanRequestIn",
    "HumanRequestOut",
    "InviteStatusOut",
    "router",
]

router = APIRouter(prefix="/api/v1", tags=["actions"])


def _service_caller(request: Request, authorization: Annotated[str, Header()] = "") -> None:
    container: Container = request.app.state.container
    token = container.settings.gangway_service_token
    scheme, _, presented = authorization.partition(" ")
    if (
        token is None
        or scheme.lower() != "bearer"
        or not hmac.compare_digest(presented.encode(), token.get_secret_value().encode())
    ):
        raise HTTPException(
            401, "a valid service token is required", {"WWW-Authenticate": "Bearer"}
        )


ServiceCaller = Annotated[None, Depends(_service_caller)]


class ErrorOut(BaseModel):
    detail: str = Field(description="What went wrong, in plain words.")


_UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No valid service token."},
}
_UNKNOWN: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such conversation."},
}


class HumanRequestIn(BaseModel):
    conversation_id: str = Field(pattern=CONVERSATION_ID_PATTERN)
    text: str = Field(default="", max_length=4096)


class HumanRequestOut(BaseModel):
    id: int
    conversation_id: str


class InviteStatusOut(BaseModel):
    """The conversation's newest secure-channel invite (never its link)."""

    status: Literal["active", "used", "expired", "superseded"] = Field(
        description="An active invite past its expiry reads expired, even before its "
        "expiry timer has marked it so."
    )
    expires_at: datetime
    issued_at: datetime


class HandoffStatusOut(BaseModel):
    """The conversation's newest handoff to people."""

    status: Literal["queued", "assigned", "claimed", "escalated", "closed"]


class ConversationStatusOut(BaseModel):
    state: str = Field(
        description="Where the conversation is in the transition protocol: qualifying, "
        "terms_offered, public_only, invite_sent, handed_off, handoff_requested or opted_out."
    )
    invite: InviteStatusOut | None = Field(description="None until an invite has been issued.")
    handoff: HandoffStatusOut | None = Field(description="None until a handoff has been opened.")


@router.post(
    "/human-requests",
    status_code=201,
    responses={
        **_UNAUTHORIZED,
        **_UNKNOWN,
        409: {"model": ErrorOut, "description": "The conversation has opted out."},
    },
)
async def create_human_request(
    body: HumanRequestIn, request: Request, _caller: ServiceCaller
) -> HumanRequestOut:
    """The prospect asked the bot for a person: the conversation moves to
    handoff_requested and a handoff is opened. The bot words the reply; gangway sends
    none of its own."""
    container: Container = request.app.state.container
    try:
        new_id = await run_in_threadpool(container.request_human, body.conversation_id, body.text)
    except UnknownConversation as exc:
        raise HTTPException(404, str(exc)) from exc
    if new_id is None:
        raise HTTPException(409, "the conversation has opted out; nobody may be asked to reply")
    return HumanRequestOut(id=new_id, conversation_id=body.conversation_id)


@router.get(
    "/conversations/{conversation_id}/invite-status", responses={**_UNAUTHORIZED, **_UNKNOWN}
)
async def invite_status(
    conversation_id: ConversationId, request: Request, _caller: ServiceCaller
) -> ConversationStatusOut:
    """Where the conversation stands with its secure-channel invite and its handoff."""
    container: Container = request.app.state.container
    try:
        found = await run_in_threadpool(
            status_of, container.sessions, conversation_id, container.clock.now()
        )
    except UnknownConversation as exc:
        raise HTTPException(404, str(exc)) from exc
    return ConversationStatusOut(
        state=found.state,
        invite=None if found.invite is None else _invite_out(found.invite),
        handoff=None
        if found.handoff_status is None
        else HandoffStatusOut.model_validate({"status": found.handoff_status}),
    )


def _invite_out(invite: InviteStanding) -> InviteStatusOut:
    return InviteStatusOut.model_validate(
        {"status": invite.status, "expires_at": invite.expires_at, "issued_at": invite.issued_at}
    )
