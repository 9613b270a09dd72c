"""The Twilio-compatible Messages API (2010-04-01) that `twilio.rest.Client` talks to.

Create, fetch and list messages, with HTTP Basic auth and Twilio's error JSON.
A message created with ContentSid is rendered from the sandbox's Content API
templates (`content_api`): its body is the filled-in text, as Twilio reports it when
sending from a number, and its quick-reply buttons are kept for the chat page.
A created message is handed to `delivery`, which sends its signed status
callbacks from a background thread after the 201 answer.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import FormData

from bot.sandbox.answers import authenticate, twilio_error
from bot.sandbox.content_api import render
from bot.sandbox.delivery import API_VERSION, record_outbound
from bot.sandbox.store import CreationFault, StoredMessage

if TYPE_CHECKING:
    from bot.sandbox.app import SandboxState

__all__ = ["API_VERSION", "authenticate", "build_router", "message_resource", "twilio_error"]

MAX_BODY = 1600
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_WHATSAPP_ADDRESS = re.compile(r"^whatsapp:\+[1-9]\d{5,14}$")
_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _rfc2822(moment: datetime | None) -> str | None:
    return None if moment is None else format_datetime(moment.astimezone(UTC))


def _messages_path(account_sid: str) -> str:
    return f"/{API_VERSION}/Accounts/{account_sid}/Messages"


def message_resource(message: StoredMessage) -> dict[str, Any]:
    """The Message resource JSON, as Twilio answers create and fetch."""
    base = f"{_messages_path(message.account_sid)}/{message.sid}"
    return {
        "account_sid": message.account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": _rfc2822(message.created_at),
        "date_sent": _rfc2822(message.sent_at),
        "date_updated": _rfc2822(message.updated_at),
        "direction": message.direction,
        "error_code": message.error_code,
        "error_message": message.error_message,
        "from": message.from_,
        "messaging_service_sid": None,
        "num_media": str(len(message.media_urls)),
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": message.sid,
        "status": message.status,
        "subresource_uris": {
            "media": f"{base}/Media.json",
            "feedback": f"{base}/Feedback.json",
        },
        "to": message.to,
        "uri": f"{base}.json",
    }


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) and value != "" else None


def _is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in {"http", "https"} and bool(parts.netloc)


def _validate_create(state: SandboxState, form: FormData) -> JSONResponse | None:
    """Twilio's 400 for an invalid create request, checked in roughly Twilio's order."""
    to, from_ = _text(form, "To"), _text(form, "From")
    body, content_sid = _text(form, "Body"), _text(form, "ContentSid")
    media = [m for m in form.getlist("MediaUrl") if isinstance(m, str) and m]
    callback, variables = _text(form, "StatusCallback"), _text(form, "ContentVariables")
    if to is None:
        return twilio_error(400, 21604, "A 'To' phone number is required.")
    if from_ is None:
        if _text(form, "MessagingServiceSid"):
            return twilio_error(400, 21705, "The sandbox has no Messaging Service; send From.")
        return twilio_error(400, 21603, "A 'From' phone number is required.")
    if from_ != state.config.business_number:
        if from_.startswith("whatsapp:"):
            return twilio_error(
                400, 63007, "Twilio could not find a Channel with the specified From address"
            )
        return twilio_error(
            400,
            21606,
            f"The From phone number {from_} is not a valid, SMS-capable inbound "
            "phone number or short code for your account.",
        )
    if not to.startswith("whatsapp:"):
        return twilio_error(
            400, 21910, "Invalid From and To pair. From and To should be of the same channel"
        )
    if not _WHATSAPP_ADDRESS.match(to):
        return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
    if body is None and content_sid is None and not media:
        return twilio_error(400, 21602, "Message body is required.")
    if body is not None and len(body) > MAX_BODY:
        return twilio_error(
            400, 21617, "The concatenated message body exceeds the 1600 character limit."
        )
    if content_sid is not None and not _CONTENT_SID.match(content_sid):
        return twilio_error(400, 21655, "The ContentSid is Invalid.")
    if variables is not None:
        try:
            parsed = json.loads(variables)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            return twilio_error(400, 21656, "The ContentVariables Parameter is invalid.")
    if any(not _is_http_url(m) for m in media):
        return twilio_error(400, 21620, "Invalid media URL(s).")
    if callback is not None and not _is_http_url(callback):
        return twilio_error(400, 21609, "Invalid StatusCallback URL.")
    return None


class _BadFilter(ValueError):
    pass


def _parse_bound(value: str) -> tuple[datetime, bool]:
    """A DateSent filter value: (UTC moment, whether it was a whole day)."""
    if _DATE.match(value):
        day = date.fromisoformat(value)
        return datetime(day.year, day.month, day.day, tzinfo=UTC), True
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _BadFilter(value) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC), False


def _sent_window(params: dict[str, str]) -> tuple[datetime | None, datetime | None]:
    """[from, until) of the sent time asked for by DateSent, DateSent> (>=) and DateSent< (<=)."""
    low: datetime | None = None
    high: datetime | None = None
    if "DateSent" in params:
        moment, whole_day = _parse_bound(params["DateSent"])
        low, high = moment, moment + (timedelta(days=1) if whole_day else timedelta(seconds=1))
    if "DateSent>" in params:
        moment, _ = _parse_bound(params["DateSent>"])
        low = moment if low is None else max(low, moment)
    if "DateSent<" in params:
        moment, whole_day = _parse_bound(params["DateSent<"])
        end = moment + (timedelta(days=1) if whole_day else timedelta(seconds=1))
        high = end if high is None else min(high, end)
    return low, high


def _sent_within(message: StoredMessage, low: datetime | None, high: datetime | None) -> bool:
    if low is None and high is None:
        return True
    if message.sent_at is None:
        return False
    sent = message.sent_at.replace(microsecond=0)  # Twilio keeps whole seconds
    return (low is None or sent >= low) and (high is None or sent < high)


def _list_page(state: SandboxState, account_sid: str, query: dict[str, str]) -> JSONResponse:
    names = ("To", "From", "DateSent", "DateSent>", "DateSent<")
    filters: dict[str, str] = {k: query[k] for k in names if k in query}
    try:
        page_size = int(query.get("PageSize", DEFAULT_PAGE_SIZE))
        page = int(query.get("Page", 0))
        low, high = _sent_window(filters)
    except (ValueError, _BadFilter):
        return twilio_error(400, 20001, "Invalid parameter")
    if not 1 <= page_size <= MAX_PAGE_SIZE or page < 0:
        return twilio_error(400, 20001, "Invalid parameter: PageSize or Page out of range")
    selected = [
        m
        for m in reversed(state.store.all())  # Twilio lists newest first
        if m.account_sid == account_sid
        and ("To" not in filters or m.to == filters["To"])
        and ("From" not in filters or m.from_ == filters["From"])
        and _sent_within(m, low, high)
    ]
    offset = page * page_size
    token = query.get("PageToken", "")
    sids = [m.sid for m in selected]
    if token.startswith("PA") and token[2:] in sids:  # next page: after this sid
        offset = sids.index(token[2:]) + 1
    elif token.startswith("PB") and token[2:] in sids:  # previous page: before this sid
        offset = max(sids.index(token[2:]) - page_size, 0)
    items = selected[offset : offset + page_size]
    path = _messages_path(account_sid) + ".json"

    def uri(page_number: int, page_token: str | None = None) -> str:
        params: dict[str, str] = {**filters, "PageSize": str(page_size), "Page": str(page_number)}
        if page_token:
            params["PageToken"] = page_token
        return f"{path}?{urlencode(params)}"

    has_next = offset + len(items) < len(selected)
    return JSONResponse(
        {
            "end": offset + max(len(items) - 1, 0),
            "first_page_uri": uri(0),
            "messages": [message_resource(m) for m in items],
            "next_page_uri": uri(page + 1, "PA" + items[-1].sid) if has_next else None,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": (
                uri(page - 1, "PB" + items[0].sid) if page > 0 and items else None
            ),
            "start": offset,
            "uri": uri(page, token or None),
        }
    )


def _fault_answer(fault: CreationFault) -> JSONResponse:
    headers = None if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    return twilio_error(fault.status, fault.code, fault.message, headers)


def build_router(state: SandboxState) -> APIRouter:
    router = APIRouter()
    prefix = f"/{API_VERSION}/Accounts/{{account_sid}}/Messages"

    @router.post(prefix + ".json")
    async def create_message(account_sid: str, request: Request) -> JSONResponse:
        denied = authenticate(state, request, account_sid)
        if denied is not None:
            return denied
        form = await request.form()
        invalid = _validate_create(state, form)
        if invalid is not None:
            return invalid
        body = _text(form, "Body") or ""
        buttons: tuple[tuple[str, str], ...] = ()
        content_sid = _text(form, "ContentSid")
        if content_sid is not None:
            template = state.contents.get(content_sid)
            if template is None or template.account_sid != account_sid:
                return twilio_error(400, 21655, f"The ContentSid {content_sid} was not found.")
            # Validated as a JSON object above; Twilio ignores Body and renders the template.
            variables = json.loads(_text(form, "ContentVariables") or "{}")
            rendered = render(template, {str(k): str(v) for k, v in variables.items()})
            body, buttons = rendered.body, rendered.buttons
        # Faults apply to otherwise valid creations, so a bad request never uses one up.
        fault = state.faults.take_creation()
        if fault is not None and not fault.record:
            return _fault_answer(fault)
        message = record_outbound(
            state,
            to=_text(form, "To") or "",
            body=body,
            buttons=buttons,
            media_urls=tuple(m for m in form.getlist("MediaUrl") if isinstance(m, str) and m),
            content_sid=content_sid,
            content_variables=_text(form, "ContentVariables"),
            status_callback=_text(form, "StatusCallback"),
        )
        if fault is not None:
            return _fault_answer(fault)
        return JSONResponse(message_resource(message), status_code=201)

    @router.get(prefix + ".json")
    async def list_messages(account_sid: str, request: Request) -> JSONResponse:
        denied = authenticate(state, request, account_sid)
        if denied is not None:
            return denied
        return _list_page(state, account_sid, dict(request.query_params))

    @router.get(prefix + "/{sid}.json")
    async def fetch_message(account_sid: str, sid: str, request: Request) -> JSONResponse:
        denied = authenticate(state, request, account_sid)
        if denied is not None:
            return denied
        message = state.store.get(sid)
        if message is None or message.account_sid != account_sid:
            return twilio_error(
                404, 20404, f"The requested resource {request.url.path} was not found"
            )
        return JSONResponse(message_resource(message))

    return router
