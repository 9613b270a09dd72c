"""A stand-in secure messenger on loopback, speaking the protocol in
``integrations/secure_messenger.py``, for tests and for trying the HTTP provider locally.

- ``POST /v1/invites`` and ``GET /v1/invites/{id}``: the provider's REST API, behind the
  configured auth header; a create is idempotent on its ``Idempotency-Key``.
- ``GET /invite/{token}``: the page the prospect's link opens, with an "Open secure
  chat" button. Opening it changes nothing (link previews fetch it too).
- ``POST /invite/{token}`` (the button): the invite is opened and the activation
  callback goes to gangway (``callback_url``) as a Standard Webhook, signed with the
  ``standardwebhooks`` library's signer and every key in ``callback_secret``. If gangway
  cannot be told, the page says so and pressing again retries with the same event id
  (the ``webhook-id``), as a real provider's retries would.
- ``GET /healthz``.

`create_app(config)` builds a self-contained app; its state is ``app.state.messenger``
(tests read it, and queue faults with `MessengerState.fail_next`).
"""

from __future__ import annotations

import hmac
import html
import json
import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from bot.domain.webhook_secrets import parse_webhook_secrets
from integrations.secure_messenger import parse_time
from integrations.standard_webhooks import signed_headers

__all__ = ["MessengerConfig", "MessengerState", "StandInInvite", "create_app"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class MessengerConfig:
    """How clients authenticate, and where and how activations are reported."""

    auth_header_value: str
    # gangway's full callback URL, e.g. http://127.0.0.1:8000/webhooks/secure-channel/activated
    callback_url: str
    # As GANGWAY_CHANNEL_WEBHOOK_SECRET is written: one key or several (a provider in the
    # middle of changing it signs with each).
    callback_secret: str
    auth_header_name: str = "Authorization"
    # Where the prospect reaches this app (invite links start with it, plus /invite/...);
    # default: the scheme, host and mount path the API was called on.
    public_url: str | None = None
    clock: Callable[[], datetime] = _utc_now

    def __post_init__(self) -> None:
        if not self.auth_header_value or not self.callback_secret:
            raise ValueError("auth_header_value and callback_secret are required")
        parse_webhook_secrets(self.callback_secret)


@dataclass
class StandInInvite:
    id: str
    token: str
    reference: str
    language: str
    display_name: str | None
    expires_at: datetime
    url: str
    activated_at: datetime | None = None
    # Made on the first press of the button and kept, so a retried callback repeats it.
    event_id: str | None = None

    def status(self, now: datetime) -> str:
        if self.activated_at is not None:
            return "activated"
        return "expired" if now >= self.expires_at else "pending"

    def as_json(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "reference": self.reference,
            "url": self.url,
            "language": self.language,
            "expires_at": self.expires_at.isoformat(),
            "status": self.status(now),
            "activated_at": self.activated_at.isoformat() if self.activated_at else None,
        }


@dataclass(frozen=True)
class _Fault:
    status: int
    after_create: bool
    retry_after: int | None


@dataclass
class MessengerState:
    config: MessengerConfig
    invites: dict[str, StandInInvite] = field(default_factory=dict)
    # Idempotency-Key -> (the request body it came with, the invite it made)
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Every callback sent: (status or error name, the body)
    callbacks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    callback_transport: httpx.AsyncBaseTransport | None = None
    _faults: deque[_Fault] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def fail_next(
        self,
        status: int,
        *,
        count: int = 1,
        after_create: bool = False,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next ``count`` creates with ``status`` (and a ``Retry-After``);
        ``after_create``: make the invite first, as a provider failing after the work."""
        fault = _Fault(status, after_create, retry_after)
        with self._lock:
            self._faults.extend(fault for _ in range(count))

    def _take_fault(self) -> _Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def by_token(self, token: str) -> StandInInvite | None:
        wanted = token.encode()  # bytes: compare_digest refuses non-ASCII str
        with self._lock:
            invites = list(self.invites.values())
        found = [i for i in invites if hmac.compare_digest(i.token.encode(), wanted)]
        return found[0] if found else None


def _error(status: int, code: str, message: str, fault: _Fault | None = None) -> JSONResponse:
    headers = {}
    if fault is not None and fault.retry_after is not None:
        headers["Retry-After"] = str(fault.retry_after)
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
}


def _page(title: str, text: str, *, button: bool = False, status: int = 200) -> HTMLResponse:
    form = (
        '<form method="post"><button type="submit">Open secure chat</button></form>'
        if button
        else ""
    )
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>"
        "body{font:16px/1.5 system-ui,sans-serif;background:#eef2f0;margin:0}"
        "main{max-width:28rem;margin:12vh auto 0;padding:2rem;background:#fff;border-radius:12px}"
        "button{width:100%;padding:.8rem;font:inherit;font-weight:600;color:#fff;"
        "background:#1d7a4f;border:0;border-radius:8px;cursor:pointer}"
        "</style></head><body><main>"
        "<p><small>Secure messenger (local stand-in)</small></p>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>{form}"
        "</main></body></html>"
    )
    return HTMLResponse(body, status_code=status, headers=_PAGE_HEADERS)


def create_app(
    config: MessengerConfig, *, callback_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """A new stand-in. ``callback_transport`` replaces the network for callbacks."""
    state = MessengerState(config, callback_transport=callback_transport)
    app = FastAPI(title="secure messenger stand-in", docs_url=None, redoc_url=None)
    app.state.messenger = state

    def authorised(request: Request) -> bool:
        given = request.headers.get(config.auth_header_name, "")
        return hmac.compare_digest(given.encode("latin-1"), config.auth_header_value.encode())

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/v1/invites")
    async def create_invite(request: Request) -> Response:
        if not authorised(request):
            return _error(401, "unauthorized", f"missing or wrong {config.auth_header_name}")
        key = request.headers.get("Idempotency-Key", "")
        if not key:
            return _error(400, "idempotency_key_required", "send an Idempotency-Key header")
        try:
            sent = json.loads(await request.body())
        except ValueError:
            sent = None
        if not isinstance(sent, dict):
            return _error(400, "bad_request", "the body must be a JSON object")
        now = config.clock()
        expires_at = parse_time(sent.get("expires_at"))
        reference, language = sent.get("reference"), sent.get("language")
        display_name = sent.get("display_name")
        if not (isinstance(reference, str) and reference and isinstance(language, str)):
            return _error(422, "invalid", "reference and language must be non-empty strings")
        if expires_at is None or expires_at <= now:
            return _error(422, "invalid", "expires_at must be a future time with a UTC offset")
        if not isinstance(display_name, str | None):
            return _error(422, "invalid", "display_name must be a string")
        fault = state._take_fault()
        if fault is not None and not fault.after_create:
            return _error(fault.status, "injected", "a fault injected by the test", fault)
        fingerprint = json.dumps(sent, sort_keys=True)
        with state._lock:
            earlier = state.keys.get(key)
            if earlier is not None and earlier[0] != fingerprint:
                return _error(
                    422, "idempotency_key_reused", "this key came with a different request"
                )
            if earlier is not None:
                invite, created = state.invites[earlier[1]], False
            else:
                token = secrets.token_urlsafe(24)
                if config.public_url:
                    url = f"{config.public_url.rstrip('/')}/invite/{token}"
                else:  # url_for, unlike base_url, knows where this app is mounted
                    url = str(request.url_for("invite_page", token=token))
                invite = StandInInvite(
                    id="inv_" + secrets.token_hex(10),
                    token=token,
                    reference=reference,
                    language=language,
                    display_name=display_name,
                    expires_at=expires_at,
                    url=url,
                )
                state.invites[invite.id] = invite
                state.keys[key] = (fingerprint, invite.id)
                created = True
        if fault is not None:
            return _error(fault.status, "injected", "injected after the invite was made", fault)
        headers = {} if created else {"Idempotent-Replayed": "true"}
        status = 201 if created else 200
        return JSONResponse(invite.as_json(now), status_code=status, headers=headers)

    @app.get("/v1/invites/{invite_id}")
    def get_invite(request: Request, invite_id: str) -> Response:
        if not authorised(request):
            return _error(401, "unauthorized", f"missing or wrong {config.auth_header_name}")
        invite = state.invites.get(invite_id)
        if invite is None:
            return _error(404, "not_found", f"no invite {invite_id}")
        return JSONResponse(invite.as_json(config.clock()))

    @app.get("/invite/{token}", response_class=HTMLResponse, include_in_schema=False)
    def invite_page(token: str) -> HTMLResponse:
        invite = state.by_token(token)
        if invite is None:
            return _page("This invitation is not valid", "No invitation has this link.", status=404)
        status = invite.status(config.clock())
        if status == "expired":
            return _page("This invitation has expired", "Ask the firm for a new one.", status=410)
        if status == "activated":
            return _page("Your secure chat is open", "You have already opened this invitation.")
        who = f" for {invite.display_name}" if invite.display_name else ""
        return _page(
            f"Secure chat invitation{who}",
            "Tap the button to open your secure chat with the firm.",
            button=True,
        )

    @app.post("/invite/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def press(token: str) -> HTMLResponse:
        invite = state.by_token(token)
        if invite is None:
            return _page("This invitation is not valid", "No invitation has this link.", status=404)
        now = config.clock()
        status = invite.status(now)
        if status == "expired":
            return _page("This invitation has expired", "Ask the firm for a new one.", status=410)
        if status == "activated":
            return _page("Your secure chat is open", "You have already opened this invitation.")
        with state._lock:
            invite.event_id = invite.event_id or "evt_" + secrets.token_hex(10)
        body = {
            "event_id": invite.event_id,
            "type": "invite.activated",
            "invite_id": invite.id,
            "reference": invite.reference,
            "activated_at": now.isoformat(),
        }
        outcome = await _notify(state, body)
        if outcome in ("200", "201", "202", "204", "409"):
            invite.activated_at = now
            return _page("Your secure chat is open", "The firm has been told; an advisor follows.")
        return _page(
            "The firm could not be told yet",
            f"Their system answered: {outcome}. Press the button again to retry.",
            button=True,
            status=502,
        )

    return app


async def _notify(state: MessengerState, body: dict[str, Any]) -> str:
    """Send one signed activation callback; returns gangway's status, or the error's name."""
    config = state.config
    raw = json.dumps(body, separators=(",", ":")).encode()
    # The clock may be a test's: the timestamp follows it, as gangway's check does.
    timestamp = int(config.clock().timestamp())
    keys = parse_webhook_secrets(config.callback_secret)
    headers = {
        "Content-Type": "application/json",
        **signed_headers(keys, body["event_id"], timestamp, raw),
    }
    try:
        async with httpx.AsyncClient(
            transport=state.callback_transport, timeout=httpx.Timeout(15.0, connect=5.0)
        ) as client:
            answer = await client.post(config.callback_url, content=raw, headers=headers)
        outcome = str(answer.status_code)
    except httpx.HTTPError as exc:
        outcome = type(exc).__name__
    state.callbacks.append((outcome, body))
    return outcome
