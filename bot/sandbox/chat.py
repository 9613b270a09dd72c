"""The chat page, and the JSON API behind it (also used by tests).

What the prospect sends (typed text, a tapped quick-reply button, a file, a location
or a contact card) goes to `inbound`, which posts it to gangway exactly as Twilio
would; the page polls `/sandbox/api/messages` for both directions.
"""

from __future__ import annotations

import logging
from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.sandbox.inbound import WHATSAPP_PATTERN, InboundIn, receive, webhook_params
from bot.sandbox.store import CreationFault, DeliveryFault, StoredMessage

if TYPE_CHECKING:
    from bot.sandbox.app import SandboxState

__all__ = ["build_router", "chat_message", "webhook_params"]

log = logging.getLogger(__name__)


class FaultIn(BaseModel):
    """Either a creation fault (status, code) or a delivery fault (delivery, code)."""

    model_config = ConfigDict(extra="forbid")

    status: int | None = Field(default=None, ge=400, le=599)
    code: int | None = Field(default=None, ge=1)
    count: int = Field(default=1, ge=1, le=10_000)
    message: str | None = Field(default=None, max_length=500)
    delivery: Literal["failed", "undelivered"] | None = None
    record: bool = False
    retry_after: int | None = Field(default=None, ge=0, le=3600)

    @model_validator(mode="after")
    def _one_kind(self) -> FaultIn:
        if (self.status is None) == (self.delivery is None):
            raise ValueError("give either 'status' (creation fault) or 'delivery'")
        if self.delivery is not None and self.code is None:
            raise ValueError("a delivery fault needs an error 'code', e.g. 63016")
        if self.delivery is not None and self.retry_after is not None:
            raise ValueError("'retry_after' belongs to a creation fault (an HTTP answer)")
        return self


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def chat_message(message: StoredMessage, state: SandboxState | None = None) -> dict[str, Any]:
    """A message as the chat page and tests see it (with `state`: its media's CDN paths)."""
    # Only media the prospect sent are stored here; a business's MediaUrl is just a link.
    stored = {m.sid: m for m in state.media.for_message(message.sid)} if state else {}
    media = []
    for url in message.media_urls:
        item = stored.get(url.rsplit("/", 1)[-1])
        media.append(
            {
                "url": url,
                "content_type": item.content_type if item else None,
                "preview": item.cdn_path if item else None,
                "filename": item.filename if item else None,
            }
        )
    return {
        "id": message.id,
        "rev": message.rev,
        "sid": message.sid,
        "direction": "inbound" if message.is_inbound else "outbound",
        "twilio_direction": message.direction,
        "from": message.from_,
        "to": message.to,
        "body": message.body,
        "status": message.status,
        "error_code": message.error_code,
        "error_message": message.error_message,
        "created_at": _iso(message.created_at),
        "updated_at": _iso(message.updated_at),
        "profile_name": message.profile_name,
        "media_urls": list(message.media_urls),
        "content_sid": message.content_sid,
        "content_variables": message.content_variables,
        "status_callback": message.status_callback,
        "callbacks": list(message.callbacks),
        "buttons": [{"title": title, "id": button_id} for title, button_id in message.buttons],
        "button_tapped": message.button_tapped,
        "button_text": message.button_text,
        "button_payload": message.button_payload,
        "replied_to": message.replied_to,
        "location": dict(message.location) or None,
        "media": media,
        "webhook_status": message.webhook_status,
        "webhook_error": message.webhook_error,
        "webhook_attempts": message.webhook_attempts,
    }


def build_router(state: SandboxState, templates: Jinja2Templates) -> APIRouter:
    router = APIRouter()
    config = state.config

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def chat_page(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return templates.TemplateResponse(
            request,
            "chat.html",
            {
                "business_number": config.business_number,
                "default_prospect": config.default_prospect,
                "webhook_url": config.webhook_url,
                "api_base": f"{root}/sandbox/api",
                "static_base": f"{root}/sandbox/static",
            },
        )

    @router.get("/sandbox/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    @router.post("/sandbox/api/inbound")
    async def inbound(payload: InboundIn, request: Request) -> dict[str, Any]:
        public_url = config.public_url or str(request.base_url).rstrip("/")
        return await receive(state, payload, public_url)

    @router.get("/sandbox/api/messages")
    async def messages(
        after: int = Query(default=0, ge=0),
        changed_after: int = Query(default=0, ge=0),
        number: str | None = Query(default=None, pattern=WHATSAPP_PATTERN),
    ) -> dict[str, Any]:
        """Messages oldest first; `after` is an id, `changed_after` a revision."""
        rev, every = state.store.snapshot()
        selected = [
            chat_message(m, state)
            for m in every
            if m.id > after
            and m.rev > changed_after
            and (number is None or (m.from_ if m.is_inbound else m.to) == number)
        ]
        return {"messages": selected, "rev": rev}

    @router.delete("/sandbox/api/messages")
    async def clear_messages() -> dict[str, bool]:
        state.store.clear()
        state.media.clear()
        return {"ok": True}

    @router.get("/sandbox/api/faults")
    async def list_faults() -> dict[str, Any]:
        return {"faults": state.faults.snapshot()}

    @router.post("/sandbox/api/faults", status_code=201)
    async def add_fault(fault: FaultIn) -> dict[str, Any]:
        if fault.delivery is not None:
            state.faults.add(
                DeliveryFault(fault.delivery, fault.code or 0, fault.count, fault.message)
            )
        else:
            status = fault.status or 500
            state.faults.add(
                CreationFault(
                    status=status,
                    code=fault.code or status,
                    message=fault.message or _phrase(status),
                    count=fault.count,
                    record=fault.record,
                    retry_after=fault.retry_after,
                )
            )
        return {"faults": state.faults.snapshot()}

    @router.delete("/sandbox/api/faults")
    async def clear_faults() -> dict[str, Any]:
        state.faults.clear()
        return {"faults": []}

    return router
