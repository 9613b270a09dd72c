"""The chat page, and the JSON API behind it (also used by tests).

A message typed as the prospect is stored as an inbound message and POSTed to
gangway's webhook exactly as Twilio would: form-encoded WhatsApp parameters,
signed with X-Twilio-Signature over the configured webhook URL.
"""

from __future__ import annotations

import logging
import secrets
import xml.etree.ElementTree as ET
from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal

import httpx
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.sandbox.delivery import record_outbound
from bot.sandbox.signing import signed_headers
from bot.sandbox.store import CreationFault, DeliveryFault, StoredMessage
from bot.sandbox.twilio_api import API_VERSION

if TYPE_CHECKING:
    from bot.sandbox.app import SandboxState

__all__ = ["build_router", "chat_message", "webhook_params"]

log = logging.getLogger(__name__)

_WHATSAPP_PATTERN = r"^whatsapp:\+[1-9]\d{5,14}$"


class InboundIn(BaseModel):
    """A message typed as the prospect."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    from_: str | None = Field(default=None, alias="from", pattern=_WHATSAPP_PATTERN)
    body: str = Field(min_length=1, max_length=1600)
    profile_name: str | None = Field(default=None, max_length=256)
    # Given: simulate Twilio redelivering this message (same MessageSid).
    message_sid: str | None = Field(default=None, pattern=r"^(SM|MM)[0-9a-f]{32}$")


class FaultIn(BaseModel):
    """Either a creation fault (status, code) or a delivery fault (delivery, code)."""

    model_config = ConfigDict(extra="forbid")

    status: int | None = Field(default=None, ge=400, le=599)
    code: int | None = Field(default=None, ge=1)
    count: int = Field(default=1, ge=1, le=10_000)
    message: str | None = Field(default=None, max_length=500)
    delivery: Literal["failed", "undelivered"] | None = None
    record: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> FaultIn:
        if (self.status is None) == (self.delivery is None):
            raise ValueError("give either 'status' (creation fault) or 'delivery'")
        if self.delivery is not None and self.code is None:
            raise ValueError("a delivery fault needs an error 'code', e.g. 63016")
        return self


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def chat_message(message: StoredMessage) -> dict[str, Any]:
    """A message as the chat page and tests see it."""
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
        "webhook_status": message.webhook_status,
        "webhook_error": message.webhook_error,
        "webhook_attempts": message.webhook_attempts,
    }


def webhook_params(state: SandboxState, message: StoredMessage) -> dict[str, str]:
    """The form parameters Twilio POSTs for an inbound WhatsApp text message."""
    params = {
        "AccountSid": state.config.account_sid,
        "ApiVersion": API_VERSION,
        "Body": message.body,
        "From": message.from_,
        "MessageSid": message.sid,
        "MessageType": "text",
        "NumMedia": "0",
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "SmsMessageSid": message.sid,
        "SmsSid": message.sid,
        "SmsStatus": "received",
        "To": message.to,
        "WaId": "".join(ch for ch in message.from_ if ch.isdigit()),
    }
    if message.profile_name:
        params["ProfileName"] = message.profile_name
    return params


def _twiml_replies(text: str) -> tuple[list[tuple[str, tuple[str, ...]]], str | None]:
    """(body, media) of each <Message> in a TwiML answer, and a problem if it is not TwiML."""
    if not text.strip():
        return [], "empty response body; Twilio expects TwiML such as <Response/> (error 11200)"
    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return [], "response is not valid TwiML (Twilio error 12100)"
    if root.tag != "Response":
        return [], "TwiML root element is not <Response> (Twilio error 12100)"
    replies = []
    for element in root.iter("Message"):
        body_element = element.find("Body")
        body = (body_element.text if body_element is not None else element.text) or ""
        media = tuple((m.text or "").strip() for m in element.iter("Media") if m.text)
        replies.append((body.strip(), media))
    return replies, None


async def _post_webhook(state: SandboxState, message: StoredMessage) -> StoredMessage:
    """POST the inbound message to gangway; store and return what happened."""
    config = state.config
    params = webhook_params(state, message)
    headers = signed_headers(config.auth_token, config.webhook_url, params)
    headers["I-Twilio-Idempotency-Token"] = secrets.token_hex(16)
    status: int | None = None
    error: str | None = None
    replies: list[tuple[str, tuple[str, ...]]] = []
    try:
        client = state.webhook_client()
        response = await client.post(config.webhook_url, data=params, headers=headers)
        status = response.status_code
        if status >= 400:
            error = f"gangway answered HTTP {status} (Twilio error 11200)"
        elif status < 300:
            replies, error = _twiml_replies(response.text)
    except httpx.HTTPError as exc:
        error = f"webhook unreachable: {type(exc).__name__}: {exc}".rstrip(": ")
        log.warning("sandbox: webhook POST to %s failed: %s", config.webhook_url, exc)
    for body, media in replies:
        if body or media:
            record_outbound(
                state, to=message.from_, body=body, media_urls=media, direction="outbound-reply"
            )
    updated = state.store.update(
        message.sid,
        webhook_status=status,
        webhook_error=error,
        webhook_attempts=message.webhook_attempts + 1,
    )
    return updated or message


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
    async def inbound(payload: InboundIn) -> dict[str, Any]:
        sender = payload.from_ or config.default_prospect
        existing = state.store.get(payload.message_sid) if payload.message_sid else None
        if existing is not None and not existing.is_inbound:
            raise HTTPException(409, "message_sid belongs to an outbound message")
        if existing is not None and (existing.from_, existing.body) != (sender, payload.body):
            raise HTTPException(409, "a redelivery must repeat the original from and body")
        message = existing or state.store.add(
            sid=payload.message_sid,
            account_sid=config.account_sid,
            direction="inbound",
            from_=sender,
            to=config.business_number,
            body=payload.body,
            status="received",
            sent_at=state.store.now(),
            profile_name=payload.profile_name,
        )
        message = await _post_webhook(state, message)
        return {
            "id": message.id,
            "message_sid": message.sid,
            "redelivery": existing is not None,
            "webhook_status": message.webhook_status,
            "webhook_error": message.webhook_error,
        }

    @router.get("/sandbox/api/messages")
    async def messages(
        after: int = Query(default=0, ge=0),
        changed_after: int = Query(default=0, ge=0),
        number: str | None = Query(default=None, pattern=_WHATSAPP_PATTERN),
    ) -> dict[str, Any]:
        """Messages oldest first; `after` is an id, `changed_after` a revision."""
        rev, every = state.store.snapshot()
        selected = [
            chat_message(m)
            for m in every
            if m.id > after
            and m.rev > changed_after
            and (number is None or (m.from_ if m.is_inbound else m.to) == number)
        ]
        return {"messages": selected, "rev": rev}

    @router.delete("/sandbox/api/messages")
    async def clear_messages() -> dict[str, bool]:
        state.store.clear()
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
                )
            )
        return {"faults": state.faults.snapshot()}

    @router.delete("/sandbox/api/faults")
    async def clear_faults() -> dict[str, Any]:
        state.faults.clear()
        return {"faults": []}

    return router
