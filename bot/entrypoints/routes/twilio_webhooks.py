"""Twilio's webhooks: inbound WhatsApp messages and delivery status callbacks.

Both take only form-encoded bodies (415 otherwise), check X-Twilio-Signature
against the configured public URL (never the Host header, which a proxy may have
rewritten), and answer once what arrived is in the webhook intake (one insert,
shared with concurrent requests); the ingest drain records it, the worker answers.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request, Response
from starlette.datastructures import FormData
from twilio.request_validator import RequestValidator

from bot.adapters.intake import Delivery
from bot.bootstrap import INBOUND_PATH, STATUS_CALLBACK_PATH, Container
from bot.domain.delivery import is_known_status
from bot.domain.inbound import InvalidInbound, parse_inbound, parse_status_callback

__all__ = ["router"]

log = logging.getLogger(__name__)
router = APIRouter()

FORM_ENCODED = "application/x-www-form-urlencoded"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _twiml() -> Response:
    return Response(EMPTY_TWIML, media_type="text/xml")


def _form_encoded(request: Request) -> bool:
    """Whether the body is declared form-encoded, as Twilio always sends its webhooks: a
    multipart body could carry files, and nothing else is parsed here."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return media_type == FORM_ENCODED


async def _signed_form(request: Request) -> FormData | Response:
    """The webhook's form when its signature holds; otherwise the refusal to answer."""
    if not _form_encoded(request):
        return Response(
            f"webhooks must be {FORM_ENCODED}", status_code=415, media_type="text/plain"
        )
    container: Container = request.app.state.container
    settings = container.settings
    form = await request.form()
    signature = request.headers.get("X-Twilio-Signature", "")
    url = settings.gangway_public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    assert settings.twilio_auth_token is not None
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    if not signature or not validator.validate(url, form, signature):
        log.warning(
            "refused %s from %s: %s X-Twilio-Signature",
            request.url.path,
            request.client.host if request.client else "?",
            "wrong" if signature else "missing",
        )
        return Response("invalid signature", status_code=403, media_type="text/plain")
    return form


async def _stored(request: Request, delivery: Delivery) -> Response:
    """Empty TwiML once the delivery is committed; 500 (Twilio delivers again) when it
    could not be."""
    container: Container = request.app.state.container
    try:
        await asyncio.wrap_future(container.intake.submit(delivery))
    except Exception:
        # The writer logged why; the request only says it was not kept.
        return Response("not stored; try again", status_code=500, media_type="text/plain")
    return _twiml()


@router.post(INBOUND_PATH)
async def inbound_whatsapp(request: Request) -> Response:
    form = await _signed_form(request)
    if isinstance(form, Response):
        return form
    params = {k: str(v) for k, v in form.multi_items()}
    try:
        msg = parse_inbound(params)
    except InvalidInbound as exc:
        return Response(f"not a message: {exc}", status_code=400, media_type="text/plain")
    delivery = Delivery("inbound", params, dedup_key=msg.message_sid, sender=msg.from_number)
    return await _stored(request, delivery)


@router.post(STATUS_CALLBACK_PATH)
async def delivery_status(request: Request) -> Response:
    form = await _signed_form(request)
    if isinstance(form, Response):
        return form
    params = {k: str(v) for k, v in form.multi_items()}
    try:
        callback = parse_status_callback(params)
    except InvalidInbound as exc:
        return Response(f"not a status callback: {exc}", status_code=400, media_type="text/plain")
    if not is_known_status(callback.status):
        log.info(
            "status %r for %s is not one gangway tracks; recorded only",
            callback.status,
            callback.sid,
        )
    return await _stored(request, Delivery("status", params))
