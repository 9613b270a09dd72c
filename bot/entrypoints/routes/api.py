"""The service API used by Rasa's custom actions (bearer service token)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from bot.adapters import audit_log
from bot.adapters.tables import Conversation, HumanRequest
from bot.bootstrap import Container

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")


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


class HumanRequestIn(BaseModel):
    conversation_id: str = Field(min_length=1, max_length=40)
    text: str = Field(default="", max_length=4096)


class HumanRequestOut(BaseModel):
    id: int
    conversation_id: str


@router.post("/human-requests", status_code=201)
async def create_human_request(
    body: HumanRequestIn, request: Request, _caller: ServiceCaller
) -> HumanRequestOut:
    """Record that the prospect asked for a person (the handoff itself comes later)."""
    container: Container = request.app.state.container

    def store() -> int | None:
        now = container.clock.now()
        with container.sessions.begin() as s:
            if s.get(Conversation, body.conversation_id) is None:
                return None
            row = HumanRequest(conversation_id=body.conversation_id, text=body.text, created_at=now)
            s.add(row)
            s.flush()
            audit_log.append(
                s,
                kind="human_requested",
                conversation_id=body.conversation_id,
                payload={"human_request_id": row.id, "text": body.text},
                now=now,
            )
            return row.id

    new_id = await run_in_threadpool(store)
    if new_id is None:
        raise HTTPException(404, f"no conversation {body.conversation_id!r}")
    return HumanRequestOut(id=new_id, conversation_id=body.conversation_id)
