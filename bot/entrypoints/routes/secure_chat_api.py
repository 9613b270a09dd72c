"""The advisor's side of the built-in secure chat as JSON, under
``/api/v1/handoffs/{id}/secure-messages``, with the console API's per-user tokens.

Whoever may read the handoff may read its chat (404 otherwise, as for the handoff);
only the advisor who claimed it may write (403 otherwise). A file is a PDF, PNG or
JPEG of at most 10 MB (415, 413). An erased conversation answers 410; one whose
prospect never opened the chat, 409. The models are also what the console's handoff
page renders beside the WhatsApp transcript.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request, Response, UploadFile
from pydantic import BaseModel, Field

from bot.adapters.db import SessionFactory
from bot.domain.access import Actor
from bot.entrypoints.routes.console_api import ApiActor, ErrorOut, container_of
from bot.entrypoints.routes.path_params import RowId
from bot.entrypoints.routes.secure_chat import file_response
from bot.service_layer import advisor_chat, secure_chat
from bot.service_layer.handoffs import HandoffError
from bot.service_layer.secure_chat import MAX_FILE_BYTES, MAX_TEXT, AdvisorChat, MessageView, Upload
from bot.service_layer.transition import InviteSettings

__all__ = [
    "SecureChatOut",
    "SecureMessageOut",
    "SecureTextIn",
    "links_of",
    "pane",
    "read_upload",
    "router",
]

router = APIRouter(prefix="/api/v1/handoffs", tags=["secure chat"])


class SecureFileOut(BaseModel):
    name: str
    content_type: str | None
    size: int | None
    url: str = Field(description="Where the file downloads (as an attachment).")


class SecureMessageOut(BaseModel):
    id: int
    author: str = Field(description="prospect or advisor.")
    advisor: str | None = Field(description="The advisor's display name, for theirs.")
    text: str = Field(description='The message; "[erased]" once the conversation was erased.')
    at: datetime
    file: SecureFileOut | None
    seen: bool = Field(description="An advisor's message: whether the prospect's page showed it.")


class SecureChatOut(BaseModel):
    handoff_id: int
    conversation_id: str
    opened: bool = Field(description="Whether the prospect ever opened the secure chat.")
    erased: bool
    can_write: bool = Field(description="Whether the caller may write in it now.")
    write_refusal: str | None = Field(description="Why not, in plain words.")
    prospect_present: bool = Field(description="Whether the prospect's page is open now.")
    messages: list[SecureMessageOut]


class SecureTextIn(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT)


def _message_out(m: MessageView, file_url: str) -> SecureMessageOut:
    file = None
    if m.file_name is not None:
        file = SecureFileOut(
            name=m.file_name, content_type=m.file_type, size=m.file_size, url=f"{file_url}/{m.id}"
        )
    return SecureMessageOut(
        id=m.id,
        author=m.author,
        advisor=m.advisor,
        text=m.text,
        at=m.at,
        file=file,
        seen=m.seen_at is not None,
    )


def chat_out(chat: AdvisorChat, file_url: str) -> SecureChatOut:
    return SecureChatOut(
        handoff_id=chat.handoff_id,
        conversation_id=chat.conversation_id,
        opened=chat.opened,
        erased=chat.erased,
        can_write=chat.can_write,
        write_refusal=chat.write_refusal,
        prospect_present=chat.prospect_present,
        messages=[_message_out(m, file_url) for m in chat.messages],
    )


def pane(sessions: SessionFactory, actor: Actor, handoff_id: int, now: datetime) -> SecureChatOut:
    """The secure chat as the console's handoff page shows it."""
    chat = advisor_chat.read(sessions, actor, handoff_id, now)
    return chat_out(chat, f"/console/handoffs/{handoff_id}/secure-files")


def links_of(container: Any) -> InviteSettings:
    """How links back into the chat are made (the notice of an advisor's message)."""
    return InviteSettings(container.invite_secret, container.settings.gangway_public_url)


async def read_upload(file: UploadFile | None) -> Upload | None:
    """The uploaded file, read up to one byte past the limit (TooLarge beyond it)."""
    if file is None or not (file.filename or "").strip():
        return None
    data = await file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise secure_chat.TooLarge(f"a file may be at most {MAX_FILE_BYTES // (1024 * 1024)} MB")
    return Upload(file.filename or "", data)


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No valid API token."},
    404: {"model": ErrorOut, "description": "No such handoff, or not one the caller may read."},
    410: {"model": ErrorOut, "description": "The conversation was erased."},
}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    400: {"model": ErrorOut, "description": "An empty or too long message."},
    403: {"model": ErrorOut, "description": "The caller did not claim this handoff."},
    409: {"model": ErrorOut, "description": "The prospect never opened the secure chat."},
    413: {"model": ErrorOut, "description": "The file is larger than 10 MB."},
    415: {"model": ErrorOut, "description": "The file is not a PDF, PNG or JPEG."},
}


def _file_url(handoff_id: int) -> str:
    return f"/api/v1/handoffs/{handoff_id}/secure-messages"


@router.get("/{handoff_id}/secure-messages", responses=_ERRORS)
def list_messages(request: Request, actor: ApiActor, handoff_id: RowId) -> SecureChatOut:
    """The handoff's secure chat: both sides' messages in order."""
    container = container_of(request)
    try:
        chat = advisor_chat.read(container.sessions, actor, handoff_id, container.clock.now())
    except HandoffError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    return chat_out(chat, _file_url(handoff_id))


def _post(
    request: Request, actor: Actor, handoff_id: int, text: str, upload: Upload | None
) -> SecureMessageOut:
    container = container_of(request)
    try:
        message = advisor_chat.write(
            container.sessions,
            actor,
            handoff_id,
            text,
            upload,
            container.clock.now(),
            container.flows.current(),
            links_of(container),
        )
    except HandoffError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    return _message_out(message, _file_url(handoff_id))


@router.post("/{handoff_id}/secure-messages", status_code=201, responses=_WRITE_ERRORS)
def post_text(
    request: Request, actor: ApiActor, handoff_id: RowId, body: SecureTextIn
) -> SecureMessageOut:
    """Write to the prospect in the secure chat (only the advisor who claimed the
    handoff). A prospect not on the page gets one WhatsApp notice, without the content."""
    return _post(request, actor, handoff_id, body.text, None)


@router.post("/{handoff_id}/secure-messages/attachments", status_code=201, responses=_WRITE_ERRORS)
async def post_attachment(
    request: Request,
    actor: ApiActor,
    handoff_id: RowId,
    file: Annotated[UploadFile, File(description="A PDF, PNG or JPEG, at most 10 MB.")],
    text: Annotated[str, Form(max_length=MAX_TEXT)] = "",
) -> SecureMessageOut:
    """Send the prospect a file (with an optional text) in the secure chat."""
    try:
        upload = await read_upload(file)
    except HandoffError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    if upload is None:
        raise HTTPException(400, "no file was sent")
    return _post(request, actor, handoff_id, text, upload)


@router.get(
    "/{handoff_id}/secure-messages/{message_id}",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The file."},
        **_ERRORS,
    },
)
def download_file(
    request: Request, actor: ApiActor, handoff_id: RowId, message_id: RowId
) -> Response:
    """A message's file, as an attachment."""
    container = container_of(request)
    try:
        found = advisor_chat.download(container.sessions, actor, handoff_id, message_id)
    except HandoffError as exc:
        raise HTTPException(exc.status, str(exc)) from exc
    return file_response(found)
