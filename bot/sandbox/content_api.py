"""The sandbox's subset of Twilio's Content API (``content.twilio.com/v1/Content``).

Create, list (paged), fetch and delete templates of the two types gangway uses,
``twilio/text`` and ``twilio/quick-reply``, with Twilio's JSON shapes and error
answers. The sandbox plays a WhatsApp session, so a quick reply is held to the
in-session limits (at most 3 buttons, titles up to 20 characters, body up to 1024).
`render` fills a template's ``{{name}}`` placeholders for Messages.create.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from bot.sandbox.answers import authenticate, twilio_error

if TYPE_CHECKING:
    from bot.sandbox.app import SandboxState

__all__ = ["ContentStore", "ContentTemplate", "Rendered", "build_router", "render"]

MAX_TEXT_BODY = 1600
MAX_QUICK_REPLY_BODY = 1024
MAX_SESSION_BUTTONS = 3
MAX_TITLE = 20
MAX_BUTTON_ID = 200
MAX_FRIENDLY_NAME = 256
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
SUPPORTED_TYPES = ("twilio/quick-reply", "twilio/text")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_LANGUAGE = re.compile(r"^[a-z]{2,3}([_-][A-Za-z]{2,4})?$")


@dataclass(frozen=True)
class ContentTemplate:
    """One stored Content resource."""

    sid: str
    account_sid: str
    friendly_name: str
    language: str
    variables: dict[str, str]
    types: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Rendered:
    """A template with its variables filled in: the text shown and any buttons."""

    body: str
    buttons: tuple[tuple[str, str], ...]  # (title, id)


class ContentStore:
    """Thread-safe templates, oldest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, ContentTemplate] = {}

    def add(self, template: ContentTemplate) -> None:
        with self._lock:
            self._items[template.sid] = template

    def get(self, sid: str) -> ContentTemplate | None:
        with self._lock:
            return self._items.get(sid)

    def delete(self, sid: str) -> bool:
        with self._lock:
            return self._items.pop(sid, None) is not None

    def all(self) -> list[ContentTemplate]:
        with self._lock:
            return list(self._items.values())


def _fill(text: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def render(template: ContentTemplate, variables: dict[str, str]) -> Rendered:
    """What WhatsApp shows: the quick reply when there is one, else the text.

    A variable missing from ``variables`` takes the template's default value.
    """
    values = {**template.variables, **variables}
    quick = template.types.get("twilio/quick-reply")
    if isinstance(quick, dict):
        buttons = tuple((str(a["title"]), str(a["id"])) for a in quick.get("actions", []))
        return Rendered(_fill(str(quick["body"]), values), buttons)
    text = template.types.get("twilio/text") or {}
    return Rendered(_fill(str(text.get("body", "")), values), ())


def _problem(payload: Any) -> str | None:
    """Why a create request is invalid, in plain words, or None."""
    if not isinstance(payload, dict):
        return "The request body must be a JSON object."
    name, language = payload.get("friendly_name"), payload.get("language")
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_FRIENDLY_NAME:
        return f"friendly_name is required (1-{MAX_FRIENDLY_NAME} characters)."
    if not isinstance(language, str) or not _LANGUAGE.match(language):
        return "language is required, as a language code such as 'en' or 'pt_BR'."
    variables = payload.get("variables", {})
    if variables is not None and (
        not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values())
    ):
        return "variables must be an object of string default values."
    types = payload.get("types")
    if not isinstance(types, dict) or not any(v is not None for v in types.values()):
        return "types is required and must hold at least one content type."
    for kind, value in types.items():
        if value is None:
            continue
        if kind not in SUPPORTED_TYPES:
            return f"The sandbox supports only {', '.join(SUPPORTED_TYPES)}; got {kind}."
        if not isinstance(value, dict) or not isinstance(value.get("body"), str):
            return f"{kind} needs a body."
        if not value["body"].strip():
            return f"{kind} body must not be empty."
    text = types.get("twilio/text")
    if isinstance(text, dict) and len(text["body"]) > MAX_TEXT_BODY:
        return f"twilio/text body exceeds {MAX_TEXT_BODY} characters."
    quick = types.get("twilio/quick-reply")
    return None if quick is None else _quick_reply_problem(quick)


def _quick_reply_problem(quick: dict[str, Any]) -> str | None:
    if len(quick["body"]) > MAX_QUICK_REPLY_BODY:
        return f"twilio/quick-reply body exceeds {MAX_QUICK_REPLY_BODY} characters."
    actions = quick.get("actions")
    if not isinstance(actions, list) or not actions:
        return "twilio/quick-reply needs a list of actions (buttons)."
    if len(actions) > MAX_SESSION_BUTTONS:
        return (
            f"twilio/quick-reply has {len(actions)} buttons; a WhatsApp session message "
            f"allows at most {MAX_SESSION_BUTTONS}."
        )
    ids = []
    for action in actions:
        if not isinstance(action, dict):
            return "Each quick-reply action must be an object with title and id."
        title, action_id = action.get("title"), action.get("id")
        if action.get("type") not in (None, "QUICK_REPLY"):
            return "Quick-reply action type must be QUICK_REPLY."
        if not isinstance(title, str) or not 1 <= len(title) <= MAX_TITLE:
            return f"Quick-reply button title must be 1-{MAX_TITLE} characters: {title!r}."
        if not isinstance(action_id, str) or not 1 <= len(action_id) <= MAX_BUTTON_ID:
            return f"Quick-reply button id must be 1-{MAX_BUTTON_ID} characters."
        ids.append(action_id)
    if len(set(ids)) != len(ids):
        return "Quick-reply button ids must be distinct."
    return None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def content_resource(template: ContentTemplate, origin: str) -> dict[str, Any]:
    """The Content resource JSON; ``origin`` replaces https://content.twilio.com."""
    url = f"{origin}/v1/Content/{template.sid}"
    return {
        "account_sid": template.account_sid,
        "date_created": _iso(template.created_at),
        "date_updated": _iso(template.updated_at),
        "friendly_name": template.friendly_name,
        "language": template.language,
        "links": {
            "approval_create": f"{url}/ApprovalRequests/whatsapp",
            "approval_fetch": f"{url}/ApprovalRequests",
        },
        "sid": template.sid,
        "types": template.types,
        "url": url,
        "variables": template.variables,
    }


def _not_found(request: Request) -> JSONResponse:
    return twilio_error(404, 20404, f"The requested resource {request.url.path} was not found")


def build_router(state: SandboxState) -> APIRouter:
    router = APIRouter()
    store = state.contents

    def origin(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    @router.post("/v1/Content")
    async def create(request: Request) -> JSONResponse:
        denied = authenticate(state, request, state.config.account_sid)
        if denied is not None:
            return denied
        try:
            payload = json.loads(await request.body())
        except ValueError:
            payload = None
        problem = _problem(payload)
        if problem is not None:
            return twilio_error(400, 20001, problem)
        now = state.store.now()
        template = ContentTemplate(
            sid="HX" + secrets.token_hex(16),
            account_sid=state.config.account_sid,
            friendly_name=payload["friendly_name"],
            language=payload["language"],
            variables=dict(payload.get("variables") or {}),
            types={k: v for k, v in payload["types"].items() if v is not None},
            created_at=now,
            updated_at=now,
        )
        store.add(template)
        return JSONResponse(content_resource(template, origin(request)), status_code=201)

    @router.get("/v1/Content")
    async def list_contents(request: Request) -> JSONResponse:
        denied = authenticate(state, request, state.config.account_sid)
        if denied is not None:
            return denied
        query = request.query_params
        try:
            page_size = int(query.get("PageSize", DEFAULT_PAGE_SIZE))
            page = int(query.get("Page", 0))
        except ValueError:
            return twilio_error(400, 20001, "Invalid parameter: PageSize and Page are integers")
        if not 1 <= page_size <= MAX_PAGE_SIZE or page < 0:
            return twilio_error(400, 20001, "Invalid parameter: PageSize or Page out of range")
        mine = [t for t in store.all() if t.account_sid == state.config.account_sid]
        items = mine[page * page_size : (page + 1) * page_size]
        base = f"{origin(request)}/v1/Content"

        def url(number: int) -> str:
            return f"{base}?{urlencode({'PageSize': page_size, 'Page': number})}"

        has_next = (page + 1) * page_size < len(mine)
        return JSONResponse(
            {
                "contents": [content_resource(t, origin(request)) for t in items],
                "meta": {
                    "first_page_url": url(0),
                    "key": "contents",
                    "next_page_url": url(page + 1) if has_next else None,
                    "page": page,
                    "page_size": page_size,
                    "previous_page_url": url(page - 1) if page > 0 else None,
                    "url": url(page),
                },
            }
        )

    @router.get("/v1/Content/{sid}")
    async def fetch(sid: str, request: Request) -> JSONResponse:
        denied = authenticate(state, request, state.config.account_sid)
        if denied is not None:
            return denied
        template = store.get(sid)
        if template is None or template.account_sid != state.config.account_sid:
            return _not_found(request)
        return JSONResponse(content_resource(template, origin(request)))

    @router.delete("/v1/Content/{sid}", response_model=None)
    async def delete(sid: str, request: Request) -> Response:
        denied = authenticate(state, request, state.config.account_sid)
        if denied is not None:
            return denied
        if not store.delete(sid):
            return _not_found(request)
        return Response(status_code=204)

    return router
