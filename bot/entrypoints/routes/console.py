"""The advisor console: server-rendered pages under ``/console``.

Signing in sets an HttpOnly, SameSite=Lax cookie (Secure when the public URL is https)
holding a random session token; the database keeps only its SHA-256. Every POST carries
a CSRF token derived from the session token (a one-way hash, so the page that shows it
cannot give the session away); the sign-in form, before any session exists, uses a
double-submit cookie instead. Failed sign-ins are throttled per account and per client
address, in the database (``sign_in_throttle``); the client address comes from
X-Forwarded-For only through the trusted proxies (``bot.domain.client_address``). The
queue page polls ``/console/queue.json`` and re-renders itself (``static/console.js``);
the data are the JSON API's models (``console_api``).

Access follows ``bot.domain.access``: a handoff the person may not read is a 404, one
they may read but not change is a 403, and the buttons shown are the actions it allows.
Marketing, who reads no conversation, lands on the figures page (``console_figures``)
instead of the queue.
Compliance alone gets the handoff page's link to the conversation's evidence bundle, a
plain GET download (a link cannot carry a CSRF token; a forged one only saves the bundle
on the signed-in person's own machine, and is recorded in the audit log like any
download).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from bot.adapters.accounts import SessionPolicy
from bot.adapters.sign_in_throttle import SignInThrottle
from bot.domain.access import (
    Actor,
    Role,
    can_export_evidence,
    can_handle_failed_work,
    can_see_figures,
    can_see_flow_changes,
)
from bot.domain.client_address import client_address
from bot.domain.qualification_display import in_plain_words
from bot.entrypoints.routes import secure_chat_api
from bot.entrypoints.routes.console_api import (
    ConsoleContainer,
    HandoffsOut,
    change_handoff,
    container_of,
    detail_out,
    evidence_response,
    handoffs_out,
)
from bot.entrypoints.routes.path_params import ConversationId, RowId
from bot.entrypoints.routes.secure_chat import file_response
from bot.service_layer import (
    advisor_chat,
    advisor_messages,
    evidence_download,
    handoff_views,
    secure_chat,
    sign_ins,
)
from bot.service_layer.handoff_actions import HandoffChange
from bot.service_layer.handoffs import HandoffError

__all__ = [
    "SESSION_COOKIE",
    "ConsoleRoute",
    "FormViewer",
    "PageViewer",
    "Viewer",
    "csrf_for",
    "render_page",
    "router",
    "see_other",
    "session_policy",
    "waiting_text",
]


class Refused(Exception):
    """Ends a console request with a page: an error page, or a redirect to ``location``."""

    def __init__(self, status: int, message: str, location: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.location = status, message, location


class _ConsoleRoute(APIRoute):
    """Turns ``Refused`` (raised by a route or a dependency) into a page, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except Refused as exc:
                if exc.location is not None:
                    return _see_other(exc.location)
                return _page(request, "error.html", exc.status, message=exc.message)

        return handle


router = APIRouter(prefix="/console", include_in_schema=False, route_class=_ConsoleRoute)

SESSION_COOKIE = "gangway_console"
SIGN_IN_COOKIE = "gangway_console_sign_in"
_HERE = Path(__file__).resolve().parent.parent
_templates = Jinja2Templates(directory=str(_HERE / "templates"))
_STATIC = {"console.js": "text/javascript", "console.css": "text/css"}
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}
SIGN_IN_FAILED = "The email or password is not right."
CSRF_REFUSED = (
    "This form has expired or did not come from the console. Reload the page and try again."
)


def waiting_text(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


_templates.env.filters["waited"] = waiting_text
_templates.env.filters["qualification_words"] = in_plain_words


def csrf_for(session_token: str) -> str:
    return hashlib.sha256(b"gangway-console-csrf\0" + session_token.encode()).hexdigest()


def session_policy(container: ConsoleContainer) -> SessionPolicy:
    """GANGWAY_CONSOLE_IDLE_SECONDS and GANGWAY_CONSOLE_SESSION_SECONDS."""
    settings = container.settings
    return SessionPolicy(
        idle=timedelta(seconds=settings.gangway_console_idle_seconds),
        absolute=timedelta(seconds=settings.gangway_console_session_seconds),
    )


def sign_in_throttle(container: ConsoleContainer) -> SignInThrottle:
    """GANGWAY_SIGN_IN_ACCOUNT_LIMIT, _ADDRESS_LIMIT and _WINDOW_MINUTES."""
    settings = container.settings
    return SignInThrottle(
        account_limit=settings.gangway_sign_in_account_limit,
        address_limit=settings.gangway_sign_in_address_limit,
        window=timedelta(minutes=settings.gangway_sign_in_window_minutes),
    )


def client_of(request: Request) -> str:
    """The client's address, believing X-Forwarded-For from trusted proxies only."""
    return client_address(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        container_of(request).settings.trusted_proxies,
    )


def _secure(container: ConsoleContainer) -> bool:
    return container.settings.gangway_public_url.lower().startswith("https://")


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    response = _templates.TemplateResponse(
        request,
        f"console/{name}",
        {"status": status, **context},
        status_code=status,
        headers=_HEADERS,
    )
    assert isinstance(response, HTMLResponse)
    return response


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


# What the console's pages in other modules (``console_failed_work``) build on.
ConsoleRoute = _ConsoleRoute
render_page = _page
see_other = _see_other


# -- who is signed in -------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    actor: Actor
    name: str
    email: str
    token: str

    @property
    def csrf(self) -> str:
        return csrf_for(self.token)

    @property
    def role(self) -> str:
        return self.actor.role.value

    @property
    def sees_figures(self) -> bool:
        return can_see_figures(self.actor)

    @property
    def handles_failed_work(self) -> bool:
        return can_handle_failed_work(self.actor)

    @property
    def sees_flow_changes(self) -> bool:
        return can_see_flow_changes(self.actor)


def _viewer(request: Request, *, touch: bool = True) -> Viewer | None:
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        return None
    container = container_of(request)
    found = sign_ins.console_user(
        container.sessions,
        token,
        container.clock.now(),
        session_policy(container),
        container.routing.current(),
        touch=touch,
    )
    return None if found is None else Viewer(found.actor, found.name, found.email, token)


def _page_viewer(request: Request) -> Viewer:
    viewer = _viewer(request)
    if viewer is None:
        ended = "?ended=1" if request.cookies.get(SESSION_COOKIE) else ""
        raise Refused(303, "sign in first", f"/console/sign-in{ended}")
    return viewer


def _form_viewer(request: Request, csrf: Annotated[str, Form()] = "") -> Viewer:
    viewer = _page_viewer(request)
    if not hmac.compare_digest(csrf.encode(), viewer.csrf.encode()):
        raise Refused(403, CSRF_REFUSED)
    return viewer


PageViewer = Annotated[Viewer, Depends(_page_viewer)]
FormViewer = Annotated[Viewer, Depends(_form_viewer)]


# -- signing in and out -----------------------------------------------------------------


def sign_in_page(
    request: Request, status: int = 200, message: str | None = None, email: str = ""
) -> HTMLResponse:
    token = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(32)
    ended = request.query_params.get("ended") == "1" and message is None
    settings = container_of(request).settings
    response = _page(
        request,
        "sign_in.html",
        status,
        csrf=token,
        message=message,
        email=email,
        ended=ended,
        oidc_name=settings.gangway_oidc_name if settings.oidc_configured else None,
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_secure(container_of(request)),
        path="/console",
    )
    return response


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request) -> Response:
    if _viewer(request, touch=False) is not None:
        return _see_other("/console/")
    return sign_in_page(request)


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(
    request: Request,
    # No control characters: PostgreSQL refuses a NUL in the account look-up.
    email: Annotated[str, Form(max_length=320, pattern=r"^[^\x00-\x1f\x7f]*$")] = "",
    password: Annotated[str, Form(max_length=4096)] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf.encode(), expected.encode()):
        return sign_in_page(request, 403, CSRF_REFUSED, email)
    container = container_of(request)
    result = sign_ins.sign_in(
        container.sessions,
        email,
        password,
        source=client_of(request),
        now=container.clock.now(),
        policy=session_policy(container),
        throttle=sign_in_throttle(container),
        previous=request.cookies.get(SESSION_COOKIE),
    )
    if result.wait is not None:
        return _locked_out(request, result.wait, email)
    if result.token is None:
        return sign_in_page(request, 400, SIGN_IN_FAILED, email)
    return signed_in_response(container, result.token)


def _locked_out(request: Request, wait: timedelta, email: str) -> HTMLResponse:
    """429 with Retry-After; the same for every email, known or not."""
    seconds = math.ceil(wait.total_seconds())
    minutes = max(1, math.ceil(seconds / 60))
    unit = "minute" if minutes == 1 else "minutes"
    message = f"Too many failed sign-ins. Try again in {minutes} {unit}."
    response = sign_in_page(request, 429, message, email)
    response.headers["Retry-After"] = str(seconds)
    return response


def signed_in_response(container: ConsoleContainer, token: str) -> Response:
    """To the queue, holding the new session's cookie (password or identity provider)."""
    response = _see_other("/console/")
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=_secure(container),
        path="/console",
    )
    response.delete_cookie(SIGN_IN_COOKIE, path="/console")
    return response


@router.post("/sign-out")
def sign_out(request: Request, viewer: FormViewer) -> Response:
    container = container_of(request)
    sign_ins.sign_out(container.sessions, viewer.token, container.clock.now())
    response = _see_other("/console/sign-in")
    response.delete_cookie(SESSION_COOKIE, path="/console")
    return response


# -- the queue --------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def queue(request: Request, viewer: PageViewer) -> Response:
    if viewer.actor.role is Role.MARKETING:  # reads no conversation: the figures instead
        return _see_other("/console/figures")
    listing = _listing(request, viewer)
    reads_none = viewer.actor.role is Role.ADMIN
    return _page(request, "queue.html", viewer=viewer, listing=listing, reads_none=reads_none)


@router.get("/queue.json")
def queue_json(request: Request) -> JSONResponse:
    """What the queue page polls. Polling is not activity: it does not keep a session alive."""
    viewer = _viewer(request, touch=False)
    if viewer is None:
        return JSONResponse({"detail": "signed out"}, 401, headers=_HEADERS)
    listing = _listing(request, viewer)
    return JSONResponse(listing.model_dump(mode="json"), headers=_HEADERS)


def _listing(request: Request, viewer: Viewer) -> HandoffsOut:
    container = container_of(request)
    now = container.clock.now()
    return handoffs_out(handoff_views.queue_of(container.sessions, viewer.actor, now), now)


# -- one handoff ------------------------------------------------------------------------


def _handoff_page(
    request: Request,
    viewer: Viewer,
    handoff_id: int,
    *,
    status: int = 200,
    error: str | None = None,
    draft: str = "",
    secure_error: str | None = None,
) -> HTMLResponse:
    container = container_of(request)
    now = container.clock.now()
    flow = container.flows.current()
    try:
        detail = handoff_views.detail_of(container.sessions, viewer.actor, handoff_id, now, flow)
        secure = secure_chat_api.pane(container.sessions, viewer.actor, handoff_id, now)
    except HandoffError as exc:
        return _page(request, "error.html", exc.status, viewer=viewer, message=str(exc))
    return _page(
        request,
        "handoff.html",
        status,
        viewer=viewer,
        detail=detail_out(detail),
        error=error,
        draft=draft,
        secure=secure,
        secure_error=secure_error,
        threshold=flow.transition_at.label,
        can_export_evidence=can_export_evidence(viewer.actor),
    )


@router.get("/handoffs/{handoff_id}", response_class=HTMLResponse)
def handoff_page(request: Request, viewer: PageViewer, handoff_id: RowId) -> HTMLResponse:
    return _handoff_page(request, viewer, handoff_id)


@router.get("/handoffs/{handoff_id}/evidence.zip")
def evidence(request: Request, viewer: PageViewer, handoff_id: RowId) -> Response:
    """The conversation's evidence bundle, for compliance; the download is audited."""
    container = container_of(request)
    try:
        download = evidence_download.download_evidence(
            container.sessions, viewer.actor, handoff_id, container.clock.now()
        )
    except HandoffError as exc:
        return _page(request, "error.html", exc.status, viewer=viewer, message=str(exc))
    return evidence_response(download)


@router.get("/conversations/{conversation_id}")
def conversation_page(
    request: Request, viewer: PageViewer, conversation_id: ConversationId
) -> Response:
    """The handoff summary's transcript link: the newest handoff of the conversation that
    the person may read."""
    container = container_of(request)
    found = handoff_views.newest_readable(container.sessions, viewer.actor, conversation_id)
    if found is None:
        return _page(request, "error.html", 404, viewer=viewer, message="There is no such handoff.")
    return _see_other(f"/console/handoffs/{found}")


def _change(
    request: Request, viewer: Viewer, handoff_id: int, change: HandoffChange, back: str
) -> Response:
    try:
        change_handoff(container_of(request), viewer.actor, handoff_id, change)
    except HandoffError as exc:
        return _page(request, "error.html", exc.status, viewer=viewer, message=str(exc))
    target = f"/console/handoffs/{handoff_id}" if back == "handoff" else "/console/"
    return _see_other(target)


@router.post("/handoffs/{handoff_id}/claim")
def claim(
    request: Request, viewer: FormViewer, handoff_id: RowId, back: Annotated[str, Form()] = ""
) -> Response:
    return _change(request, viewer, handoff_id, "claim", back)


@router.post("/handoffs/{handoff_id}/release")
def release(
    request: Request, viewer: FormViewer, handoff_id: RowId, back: Annotated[str, Form()] = ""
) -> Response:
    return _change(request, viewer, handoff_id, "release", back)


@router.post("/handoffs/{handoff_id}/close")
def close(
    request: Request, viewer: FormViewer, handoff_id: RowId, back: Annotated[str, Form()] = ""
) -> Response:
    return _change(request, viewer, handoff_id, "close", back)


@router.post("/handoffs/{handoff_id}/reply")
def reply(
    request: Request,
    viewer: FormViewer,
    handoff_id: RowId,
    text: Annotated[str, Form(max_length=4096)] = "",
) -> Response:
    container = container_of(request)
    try:
        advisor_messages.reply(
            container.sessions,
            viewer.actor,
            handoff_id,
            text,
            container.clock.now(),
            container.flows.current(),
        )
    except HandoffError as exc:
        return _handoff_page(
            request, viewer, handoff_id, status=exc.status, error=str(exc), draft=text
        )
    return _see_other(f"/console/handoffs/{handoff_id}#transcript-end")


@router.post("/handoffs/{handoff_id}/follow-up")
def follow_up(request: Request, viewer: FormViewer, handoff_id: RowId) -> Response:
    """The flow's approved follow-up template, offered once WhatsApp's window closed."""
    container = container_of(request)
    try:
        advisor_messages.follow_up(
            container.sessions,
            viewer.actor,
            handoff_id,
            container.clock.now(),
            container.flows.current(),
        )
    except HandoffError as exc:
        return _handoff_page(request, viewer, handoff_id, status=exc.status, error=str(exc))
    return _see_other(f"/console/handoffs/{handoff_id}#transcript-end")


@router.post("/handoffs/{handoff_id}/secure-messages")
async def secure_message(
    request: Request,
    viewer: FormViewer,
    handoff_id: RowId,
    text: Annotated[str, Form(max_length=secure_chat.MAX_TEXT)] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """The claiming advisor writes (or sends a file) in the handoff's secure chat."""
    container = container_of(request)
    try:
        upload = await secure_chat_api.read_upload(file)
        advisor_chat.write(
            container.sessions,
            viewer.actor,
            handoff_id,
            text,
            upload,
            container.clock.now(),
            container.flows.current(),
            secure_chat_api.links_of(container),
        )
    except HandoffError as exc:
        return _handoff_page(request, viewer, handoff_id, status=exc.status, secure_error=str(exc))
    return _see_other(f"/console/handoffs/{handoff_id}#secure-pane")


@router.get("/handoffs/{handoff_id}/secure.json")
def secure_json(request: Request, handoff_id: RowId) -> JSONResponse:
    """What the handoff page polls for the secure chat; like the queue's, polling does
    not keep a session alive."""
    viewer = _viewer(request, touch=False)
    if viewer is None:
        return JSONResponse({"detail": "signed out"}, 401, headers=_HEADERS)
    container = container_of(request)
    try:
        pane = secure_chat_api.pane(
            container.sessions, viewer.actor, handoff_id, container.clock.now()
        )
    except HandoffError as exc:
        return JSONResponse({"detail": str(exc)}, exc.status, headers=_HEADERS)
    return JSONResponse(pane.model_dump(mode="json"), headers=_HEADERS)


@router.get("/handoffs/{handoff_id}/secure-files/{message_id}")
def secure_file(
    request: Request, viewer: PageViewer, handoff_id: RowId, message_id: RowId
) -> Response:
    container = container_of(request)
    try:
        found = advisor_chat.download(container.sessions, viewer.actor, handoff_id, message_id)
    except HandoffError as exc:
        return _page(request, "error.html", exc.status, viewer=viewer, message=str(exc))
    return file_response(found)


# -- static files -----------------------------------------------------------------------


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in _STATIC:
        raise Refused(404, "There is no such file.")
    return FileResponse(
        _HERE / "static" / name,
        media_type=_STATIC[name],
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )
