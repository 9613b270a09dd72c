"""What the prospect sends from the chat page, delivered to gangway as Twilio would.

A message (text, a tapped quick-reply button, media, a location) is stored as an
inbound message and POSTed to gangway's webhook: form-encoded WhatsApp parameters,
signed with X-Twilio-Signature over the configured webhook URL. TwiML replies in
the answer are recorded as outbound messages, as Twilio would send them.

Webhook fields beyond text, as Twilio names them: a button tap carries ``ButtonText``
(title), ``ButtonPayload`` (id) and ``OriginalRepliedMessageSid``; media carry
``NumMedia``, ``MediaUrl{N}``, ``MediaContentType{N}``; a location carries
``Latitude``, ``Longitude``, ``Address`` and ``Label``.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import secrets
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import HTTPException
from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.sandbox.delivery import API_VERSION, record_outbound
from bot.sandbox.media import MAX_MEDIA_BYTES, media_path
from bot.sandbox.signing import signed_headers
from bot.sandbox.store import StoredMessage

if TYPE_CHECKING:
    from bot.sandbox.app import SandboxState

__all__ = ["InboundIn", "receive", "webhook_params"]

log = logging.getLogger(__name__)

WHATSAPP_PATTERN = r"^whatsapp:\+[1-9]\d{5,14}$"
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._ -]+")


class MediaIn(BaseModel):
    """One attached file, base64-encoded (the page reads it with FileReader)."""

    model_config = ConfigDict(extra="forbid")

    content_type: str = Field(pattern=r"^[A-Za-z0-9.+-]+/[A-Za-z0-9.+-]+$", max_length=127)
    data: str = Field(min_length=1)
    filename: str | None = Field(default=None, max_length=200)


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    address: str | None = Field(default=None, max_length=500)
    label: str | None = Field(default=None, max_length=200)


class ButtonIn(BaseModel):
    """A tap on quick-reply button ``id`` of the outbound message ``message_sid``."""

    model_config = ConfigDict(extra="forbid")

    message_sid: str = Field(pattern=r"^(SM|MM)[0-9a-f]{32}$")
    id: str = Field(min_length=1, max_length=200)


class InboundIn(BaseModel):
    """A message from the prospect: text, a button tap, media or a location."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    from_: str | None = Field(default=None, alias="from", pattern=WHATSAPP_PATTERN)
    body: str = Field(default="", max_length=1600)
    profile_name: str | None = Field(default=None, max_length=256)
    # Given: simulate Twilio redelivering this message (same MessageSid).
    message_sid: str | None = Field(default=None, pattern=r"^(SM|MM)[0-9a-f]{32}$")
    media: list[MediaIn] = Field(default_factory=list, max_length=10)
    location: LocationIn | None = None
    button: ButtonIn | None = None

    @model_validator(mode="after")
    def _something(self) -> InboundIn:
        if not (self.body or self.media or self.location or self.button):
            raise ValueError("send a body, media, a location or a button tap")
        if self.button is not None and (self.media or self.location):
            raise ValueError("a button tap carries no media or location")
        if self.location is not None and self.media:
            raise ValueError("a location carries no media")
        return self


def webhook_params(state: SandboxState, message: StoredMessage) -> dict[str, str]:
    """The form parameters Twilio POSTs for an inbound WhatsApp message."""
    params = {
        "AccountSid": state.config.account_sid,
        "ApiVersion": API_VERSION,
        "Body": message.body,
        "From": message.from_,
        "MessageSid": message.sid,
        "MessageType": _message_type(message),
        "NumMedia": str(len(message.media_urls)),
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "SmsMessageSid": message.sid,
        "SmsSid": message.sid,
        "SmsStatus": "received",
        "To": message.to,
        "WaId": "".join(ch for ch in message.from_ if ch.isdigit()),
    }
    for index, (url, content_type) in enumerate(
        zip(message.media_urls, message.media_content_types, strict=True)
    ):
        params[f"MediaUrl{index}"] = url
        params[f"MediaContentType{index}"] = content_type
    params.update(message.location)
    if message.button_payload is not None:
        params["ButtonPayload"] = message.button_payload
        params["ButtonText"] = message.button_text or ""
        params["OriginalRepliedMessageSender"] = state.config.business_number
        params["OriginalRepliedMessageSid"] = message.replied_to or ""
    if message.profile_name:
        params["ProfileName"] = message.profile_name
    return params


def _message_type(message: StoredMessage) -> str:
    if message.button_payload is not None:
        return "button"
    if message.location:
        return "location"
    if message.media_content_types:
        mime = message.media_content_types[0]
        if mime in ("text/vcard", "text/x-vcard"):
            return "contacts"
        major = mime.split("/", 1)[0]
        return major if major in ("image", "audio", "video") else "document"
    return "text"


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


def _decoded(item: MediaIn) -> bytes:
    try:
        content = base64.b64decode(item.data, validate=True)
    except binascii.Error as exc:
        raise HTTPException(422, "media data must be base64") from exc
    if not content or len(content) > MAX_MEDIA_BYTES:
        raise HTTPException(422, f"media must be 1 byte to {MAX_MEDIA_BYTES} bytes")
    return content


def _tap(state: SandboxState, sender: str, button: ButtonIn) -> tuple[str, StoredMessage]:
    """The tapped button's title, and the message it belongs to (checked)."""
    original = state.store.get(button.message_sid)
    if original is None or original.is_inbound or original.to != sender:
        raise HTTPException(409, "the button belongs to no message sent to this number")
    titles = {button_id: title for title, button_id in original.buttons}
    if button.id not in titles:
        raise HTTPException(409, "that message has no button with this id")
    if original.button_tapped is not None:
        raise HTTPException(409, "a button of that message was already tapped")
    return titles[button.id], original


def _new_message(
    state: SandboxState, payload: InboundIn, sender: str, public_url: str
) -> StoredMessage:
    config = state.config
    media = [(item, _decoded(item)) for item in payload.media]
    fields: dict[str, Any] = {"body": payload.body}
    if payload.button is not None:
        title, original = _tap(state, sender, payload.button)
        state.store.update(original.sid, button_tapped=payload.button.id)
        fields |= {
            "body": title,
            "button_text": title,
            "button_payload": payload.button.id,
            "replied_to": original.sid,
        }
    if payload.location is not None:
        where = payload.location
        location = [("Latitude", str(where.latitude)), ("Longitude", str(where.longitude))]
        location += [("Address", where.address)] if where.address else []
        location += [("Label", where.label)] if where.label else []
        fields["location"] = tuple(location)
    # Twilio gives messages with media an MM sid, and each item an ME sid.
    sid = payload.message_sid or (("MM" if media else "SM") + secrets.token_hex(16))
    stored = [
        state.media.add(
            account_sid=config.account_sid,
            message_sid=sid,
            content_type=item.content_type.lower(),
            content=content,
            filename=_UNSAFE_FILENAME.sub("_", item.filename or "")[:100] or None,
        )
        for item, content in media
    ]
    return state.store.add(
        sid=sid,
        account_sid=config.account_sid,
        direction="inbound",
        from_=sender,
        to=config.business_number,
        status="received",
        sent_at=state.store.now(),
        profile_name=payload.profile_name,
        media_urls=tuple(
            public_url + media_path(config.account_sid, sid, item.sid) for item in stored
        ),
        media_content_types=tuple(item.content_type for item in stored),
        **fields,
    )


async def receive(state: SandboxState, payload: InboundIn, public_url: str) -> dict[str, Any]:
    """Store the prospect's message (or find the one redelivered) and post its webhook.

    ``public_url`` is the sandbox's base URL as gangway reaches it (media URLs use it).
    """
    sender = payload.from_ or state.config.default_prospect
    existing = state.store.get(payload.message_sid) if payload.message_sid else None
    if existing is not None and not existing.is_inbound:
        raise HTTPException(409, "message_sid belongs to an outbound message")
    if existing is not None and (existing.from_, existing.body) != (sender, payload.body):
        raise HTTPException(409, "a redelivery must repeat the original from and body")
    message = existing or _new_message(state, payload, sender, public_url)
    message = await _post_webhook(state, message)
    return {
        "id": message.id,
        "message_sid": message.sid,
        "redelivery": existing is not None,
        "webhook_status": message.webhook_status,
        "webhook_error": message.webhook_error,
    }
