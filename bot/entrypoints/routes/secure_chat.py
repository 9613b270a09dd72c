"""The prospect's side of the built-in secure chat, under ``/secure/chat``.

Redeeming an invite (``secure_channel``) opens a device session and sets its cookie
(``COOKIE``: HttpOnly, SameSite=Strict, Secure when gangway's public URL is https,
Path=/secure); every route here needs it. A POST also needs the page's CSRF token,
as the ``X-CSRF-Token`` header or the ``csrf`` form field. The page polls
``GET /secure/chat/messages?after=<id>`` (``static/secure_chat.js``); polling counts as
the prospect being present and marks the advisor's messages seen.

Every answer is no-store, no-referrer and noindex; the page's script comes only from
gangway (``script-src 'self'``), and files download as attachments, never rendered.
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import UploadFile

from bot.adapters.db import SessionFactory
from bot.entrypoints.routes.path_params import RowId
from bot.entrypoints.routes.secure_chat_texts import CHAT_TEXTS
from bot.service_layer import secure_chat, secure_sessions
from bot.service_layer.handoffs import HandoffError
from bot.service_layer.ports import Clock
from bot.service_layer.secure_chat import MAX_FILE_BYTES, Upload
from bot.service_layer.secure_sessions import ChatSession, SessionPolicy

__all__ = ["CHAT_PATH", "COOKIE", "chat_response", "policy_of", "router"]

router = APIRouter(include_in_schema=False)

CHAT_PATH = "/secure/chat"
COOKIE = "gangway_secure"
_HERE = Path(__file__).resolve().parent.parent
_templates = Jinja2Templates(directory=str(_HERE / "templates"))
_STATIC = {"secure_chat.js": "text/javascript", "secure_chat.css": "text/css"}
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}
# Room for the form's other fields around the largest file.
_BODY_LIMIT = MAX_FILE_BYTES + 64 * 1024


class SecureChatContainer(Protocol):
    """What these routes need from ``app.state.container`` (its ``settings``, when it has
    them, give the session limits and the public URL)."""

    sessions: SessionFactory
    clock: Clock


def _container(request: Request) -> SecureChatContainer:
    container: SecureChatContainer = request.app.state.container
    return container


def policy_of(container: object) -> SessionPolicy:
    """GANGWAY_SECURE_IDLE_MINUTES and GANGWAY_SECURE_SESSION_HOURS, else their defaults."""
    settings = getattr(container, "settings", None)
    if settings is None:
        return SessionPolicy()
    return SessionPolicy(
        idle=timedelta(minutes=settings.gangway_secure_idle_minutes),
        absolute=timedelta(hours=settings.gangway_secure_session_hours),
    )


def _secure_cookie(request: Request) -> bool:
    settings = getattr(request.app.state.container, "settings", None)
    url = settings.gangway_public_url if settings is not None else str(request.base_url)
    return url.lower().startswith("https://")


def chat_response(request: Request, token: str) -> RedirectResponse:
    """The answer to a redeemed invite: to the chat page, with the new session's cookie."""
    response = RedirectResponse(CHAT_PATH, status_code=303, headers=HEADERS)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure_cookie(request),
        path="/secure",
    )
    return response


def _session(request: Request, *, touch: bool = True) -> ChatSession | None:
    container = _container(request)
    with container.sessions.begin() as s:
        return secure_sessions.session_of(
            s,
            request.cookies.get(COOKIE, ""),
            container.clock.now(),
            policy_of(container),
            touch=touch,
        )


def _language(request: Request) -> str:
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in CHAT_TEXTS:
            return tag
    return "en"


def _refusal(request: Request, chat: ChatSession | None) -> HTMLResponse:
    """How to come back: an ended session (401) in the conversation's language, a
    browser without the chat's cookie (403) in the browser's."""
    ended = chat is not None
    if chat is None:
        lang = _language(request)
    else:
        lang = chat.language if chat.language in CHAT_TEXTS else "en"
    texts = CHAT_TEXTS[lang]
    page = "ended" if ended else "absent"
    context = {
        "lang": lang,
        "page": page,
        "title": texts[f"{page}_title"],
        "body": texts[f"{page}_body"],
        "button": None,
        "fresh": texts["fresh"],
        "action": "",
    }
    response = _templates.TemplateResponse(
        request, "secure_notice.html", context, status_code=401 if ended else 403, headers=HEADERS
    )
    assert isinstance(response, HTMLResponse)
    return response


def _json_refusal(chat: ChatSession | None) -> JSONResponse:
    if chat is None:
        return JSONResponse({"detail": "no secure chat session"}, 403, headers=HEADERS)
    return JSONResponse({"detail": "the secure chat session has ended"}, 401, headers=HEADERS)


@router.get(CHAT_PATH, response_class=HTMLResponse)
def chat_page(request: Request) -> HTMLResponse:
    chat = _session(request)
    if chat is None or not chat.active:
        return _refusal(request, chat)
    container = _container(request)
    with container.sessions.begin() as s:
        messages = secure_chat.messages_after(
            s, chat.conversation_id, 0, container.clock.now(), prospect_looking=True
        )
    lang = chat.language if chat.language in CHAT_TEXTS else "en"
    token = request.cookies.get(COOKIE, "")
    context: dict[str, Any] = {
        "lang": lang,
        "t": CHAT_TEXTS[lang],
        "messages": messages,
        "csrf": secure_sessions.csrf_for(token),
        "after": messages[-1].id if messages else 0,
        "max_bytes": MAX_FILE_BYTES,
    }
    response = _templates.TemplateResponse(request, "secure_chat.html", context, headers=HEADERS)
    assert isinstance(response, HTMLResponse)
    return response


@router.get(CHAT_PATH + "/messages")
def poll(request: Request, after: int = 0) -> JSONResponse:
    chat = _session(request)
    if chat is None or not chat.active:
        return _json_refusal(chat)
    container = _container(request)
    with container.sessions.begin() as s:
        messages = secure_chat.messages_after(
            s, chat.conversation_id, max(after, 0), container.clock.now(), prospect_looking=True
        )
        out = [m.as_json() for m in messages]
    return JSONResponse({"messages": out}, headers=HEADERS)


async def _upload(field: Any) -> Upload | None:
    if not isinstance(field, UploadFile) or not (field.filename or "").strip():
        return None
    data = await field.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise secure_chat.TooLarge(f"a file may be at most {MAX_FILE_BYTES // (1024 * 1024)} MB")
    return Upload(field.filename or "", data)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


@router.post(CHAT_PATH + "/messages")
async def post_message(request: Request) -> Response:
    """A message (text, a file, or both) from the prospect: JSON for the page's script,
    a redirect back to the page for a plain form post."""
    chat = _session(request)
    if chat is None or not chat.active:
        return _json_refusal(chat)
    if int(request.headers.get("content-length") or 0) > _BODY_LIMIT:
        return JSONResponse({"detail": "the file is too large"}, 413, headers=HEADERS)
    try:
        form = await request.form(max_part_size=64 * 1024)
        expected = secure_sessions.csrf_for(request.cookies.get(COOKIE, ""))
        given = request.headers.get("x-csrf-token") or str(form.get("csrf") or "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return JSONResponse({"detail": "missing or wrong CSRF token"}, 403, headers=HEADERS)
        upload = await _upload(form.get("file"))
        text = str(form.get("text") or "")
        container = _container(request)
        with container.sessions.begin() as s:
            message = secure_chat.post_prospect_message(
                s, chat, text, upload, container.clock.now()
            )
            out = message.as_json()
    except HandoffError as exc:
        return JSONResponse({"detail": str(exc)}, exc.status, headers=HEADERS)
    if not _wants_json(request):
        return RedirectResponse(CHAT_PATH, status_code=303, headers=HEADERS)
    return JSONResponse(out, 201, headers=HEADERS)


@router.post(CHAT_PATH + "/leave")
async def leave(request: Request) -> Response:
    """The page says it was closed or hidden (a beacon, with the CSRF token in its form)."""
    chat = _session(request, touch=False)
    if chat is None or not chat.active:
        return _json_refusal(chat)
    form = await request.form(max_part_size=1024)
    expected = secure_sessions.csrf_for(request.cookies.get(COOKIE, ""))
    if not hmac.compare_digest(str(form.get("csrf") or "").encode(), expected.encode()):
        return JSONResponse({"detail": "missing or wrong CSRF token"}, 403, headers=HEADERS)
    container = _container(request)
    with container.sessions.begin() as s:
        secure_chat.prospect_left(s, chat.conversation_id, container.clock.now())
    return Response(status_code=204, headers=HEADERS)


@router.get(CHAT_PATH + "/files/{message_id}")
def download(request: Request, message_id: RowId) -> Response:
    chat = _session(request)
    if chat is None or not chat.active:
        return _json_refusal(chat)
    container = _container(request)
    try:
        with container.sessions.begin() as s:
            found = secure_chat.attachment(s, chat.conversation_id, message_id)
    except HandoffError as exc:
        return JSONResponse({"detail": str(exc)}, exc.status, headers=HEADERS)
    return file_response(found)


def file_response(found: secure_chat.Attachment) -> Response:
    """A chat file as a download, never shown inline nor sniffed into something else."""
    return Response(
        found.data,
        media_type=found.content_type,
        headers={
            **HEADERS,
            "Content-Disposition": f'attachment; filename="{_ascii(found.name)}"',
        },
    )


def _ascii(name: str) -> str:
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)


@router.get("/secure/static/{name}")
def static(name: str) -> Response:
    if name not in _STATIC:
        return Response("not found", 404, headers=HEADERS)
    return FileResponse(
        _HERE / "static" / name,
        media_type=_STATIC[name],
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )
