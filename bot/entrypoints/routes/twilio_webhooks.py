"""Twilio's webhooks: inbound WhatsApp messages and delivery status callbacks.

Both take only form-encoded bodies (415 otherwise), check X-Twilio-Signature
against the configured public URL (never the Host header, which a proxy may have
rewritten), store what arrived, and answer at once; the work is done by the worker.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from twilio.request_validator import RequestValidator

from bot.bootstrap import INBOUND_PATH, STATUS_CALLBACK_PATH, Container
from bot.domain.delivery import is_known_status
from bot.domain.inbound import InvalidInbound, parse_inbound, parse_status_callback
from bot.service_layer.receiving import record_inbound, record_status

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


@router.post(INBOUND_PATH)
async def inbound_whatsapp(request: Request) -> Response:
    form = await _signed_form(request)
    if isinstance(form, Response):
        return form
    try:
        msg = parse_inbound({k: str(v) for k, v in form.multi_items()})
    except InvalidInbound as exc:
        return Response(f"not a message: {exc}", status_code=400, media_type="text/plain")
    container: Container = request.app.state.container

    def store() -> bool:
        with container.sessions.begin() as s:
            now = container.clock.now()
            return record_inbound(s, msg, now, rate=container.settings.sender_rate)

    if await run_in_threadpool(store):
        container.worker.wake()
    return _twiml()


@router.post(STATUS_CALLBACK_PATH)
async def delivery_status(request: Request) -> Response:
    form = await _signed_form(request)
    if isinstance(form, Response):
        return form
    try:
        callback = parse_status_callback({k: str(v) for k, v in form.multi_items()})
    except InvalidInbound as exc:
        return Response(f"not a status callback: {exc}", status_code=400, media_type="text/plain")
    sid, status, error_code = callback.sid, callback.status, callback.error_code
    if not is_known_status(status):
        log.info("status %r for %s is not one gangway tracks; recorded only", status, sid)
    container: Container = request.app.state.container

    def store() -> None:
        with container.sessions.begin() as s:
            record_status(
                s, sid=sid, status=status, error_code=error_code, now=container.clock.now()
            )

    await run_in_threadpool(store)
    return _twiml()
