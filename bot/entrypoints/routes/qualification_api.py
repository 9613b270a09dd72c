"""The qualification answers, for the bot's form (bearer service token, as the rest of
``/api/v1``).

- ``POST /api/v1/conversations/{id}/qualification``: a message the prospect wrote while
  being qualified, Rasa's intent for it and the question asked last; gangway reads and
  keeps the answers and says what to ask next.
- ``GET`` the same path: the answers so far and what to ask next.

Errors are ``{"detail": "<plain words>"}``: 401 no valid token, 404 unknown conversation,
409 opted out or erased (or a flow without questions), 422 a body that is not one.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from bot.bootstrap import Container
from bot.entrypoints.routes.api import ErrorOut, ServiceCaller
from bot.entrypoints.routes.path_params import ConversationId
from bot.service_layer import qualification
from bot.service_layer.qualification import QualificationError, UnknownSlot

__all__ = ["QualificationIn", "QualificationOut", "QualificationStateOut", "router"]

router = APIRouter(prefix="/api/v1", tags=["actions"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No valid service token."},
    404: {"model": ErrorOut, "description": "No such conversation."},
    409: {"model": ErrorOut, "description": "The prospect opted out or was erased."},
}


class QualificationIn(BaseModel):
    text: str = Field(max_length=4096, description="The prospect's message, as written.")
    intent: str | None = Field(
        default=None, max_length=64, description="Rasa's intent for it; None if none."
    )
    requested_slot: str | None = Field(
        default=None, max_length=64, description="The question the bot asked last, if any."
    )


class QualificationStateOut(BaseModel):
    answers: dict[str, str | None] = Field(
        description='Every question\'s slot: its answer, "skipped", or null (not yet).'
    )
    next: str | None = Field(description="The next question to ask; null when done.")
    complete: bool


class QualificationOut(QualificationStateOut):
    changed: list[str] = Field(description="The slots this message set or changed.")
    refused_skip: bool = Field(
        description="A required question was skipped: say why it is needed and ask again."
    )


def _http(exc: QualificationError) -> HTTPException | RequestValidationError:
    """An unknown `requested_slot` is a body FastAPI could not check by itself: it gets
    the same 422 shape as every other invalid body, as the API document says."""
    if isinstance(exc, UnknownSlot):
        return RequestValidationError(
            [{"type": "value_error", "loc": ("body", "requested_slot"), "msg": str(exc)}]
        )
    return HTTPException(exc.status, str(exc))


@router.post("/conversations/{conversation_id}/qualification", responses=_RESPONSES)
async def answer(
    conversation_id: ConversationId, body: QualificationIn, request: Request, _caller: ServiceCaller
) -> QualificationOut:
    """Read and keep the answers in one of the prospect's messages."""
    container: Container = request.app.state.container

    def record() -> QualificationOut:
        with container.sessions.begin() as s:
            outcome = qualification.record_answer(
                s,
                conversation_id,
                body.text,
                body.intent,
                body.requested_slot,
                container.flows.current(),
                container.clock.now(),
                crm=container.crm_scheduler is not None,
            )
        return QualificationOut.model_validate(outcome.as_dict())

    try:
        return await run_in_threadpool(record)
    except QualificationError as exc:
        raise _http(exc) from None


@router.get("/conversations/{conversation_id}/qualification", responses=_RESPONSES)
async def state(
    conversation_id: ConversationId, request: Request, _caller: ServiceCaller
) -> QualificationStateOut:
    """The answers so far and the next question, changing nothing."""
    container: Container = request.app.state.container

    def read() -> QualificationStateOut:
        with container.sessions() as s:
            outcome = qualification.qualification_state(
                s, conversation_id, container.flows.current()
            )
        return QualificationStateOut.model_validate(outcome.as_dict())

    try:
        return await run_in_threadpool(read)
    except QualificationError as exc:
        raise _http(exc) from None
