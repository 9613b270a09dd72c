"""The local WhatsApp sandbox: a Twilio-compatible Messages API plus a chat page.

`create_app(config)` builds a self-contained FastAPI app; all state (messages,
faults) hangs off that app (`app.state.sandbox`), nothing is global.

- `/2010-04-01/Accounts/{AccountSid}/Messages...`: what the real `twilio.rest.Client`
  talks to when its `client.api.base_url` points here (see `twilio_api`), including
  the media the prospect sent (see `media`).
- `/v1/Content...`: templates, e.g. quick-reply buttons (see `content_api`); the
  paths are Twilio's, so a client whose twilio.com URLs are rewritten to the sandbox
  finds both APIs at the same base URL. The templates the shipped flow sends outside
  WhatsApp's 24-hour window are there from the start (see `approved_templates`).
- `/`: a chat page where a person types as the WhatsApp prospect; each message
  becomes a signed Twilio webhook POST to gangway (see `chat`).
- `/sandbox/api/...`: JSON API behind the page, also used by tests to assert
  what "Twilio" received and to inject faults.
"""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from bot.sandbox import chat, content_api, crm, media, twilio_api
from bot.sandbox.approved_templates import add_approved
from bot.sandbox.content_api import ContentStore
from bot.sandbox.media import MediaStore
from bot.sandbox.store import FaultQueue, MessageStore

__all__ = ["SandboxConfig", "SandboxState", "create_app"]

_HERE = Path(__file__).resolve().parent
_WHATSAPP_ADDRESS = re.compile(r"^whatsapp:\+[1-9]\d{5,14}$")


@dataclass(frozen=True)
class SandboxConfig:
    """What the sandbox pretends to be, and where gangway listens."""

    account_sid: str
    auth_token: str
    # gangway's full inbound webhook URL; webhooks are signed over exactly this string.
    webhook_url: str
    business_number: str = "whatsapp:+12025550100"
    default_prospect: str = "whatsapp:+12025550101"
    # Pause before each status callback ("sent", "delivered", ...).
    status_delay_seconds: float = 0.05
    # The sandbox's base URL as gangway reaches it, for media URLs in webhooks;
    # default: the host the chat page was opened on.
    public_url: str | None = None
    # Given: the sandbox also stands in for the firm's CRM at /crm/events (signed
    # handoff webhooks, see bot/sandbox/crm.py), so the local stack's leads can be seen;
    # it accepts a signature by any one of these keys.
    crm_secrets: tuple[bytes, ...] = ()
    # Where media redirects point ("the CDN"); default: the host the media was asked on.
    media_cdn_url: str | None = None

    def __post_init__(self) -> None:
        for name in ("business_number", "default_prospect"):
            value = getattr(self, name)
            if not _WHATSAPP_ADDRESS.match(value):
                raise ValueError(f"{name} must look like whatsapp:+12025550100, got {value!r}")
        if not self.account_sid or not self.auth_token:
            raise ValueError("account_sid and auth_token are required")
        if self.status_delay_seconds < 0:
            raise ValueError("status_delay_seconds must not be negative")


@dataclass
class SandboxState:
    """Everything one sandbox app owns."""

    config: SandboxConfig
    store: MessageStore = field(default_factory=MessageStore)
    contents: ContentStore = field(default_factory=ContentStore)
    media: MediaStore = field(default_factory=MediaStore)
    faults: FaultQueue = field(default_factory=FaultQueue)
    # Seams for tests: where webhooks (async) and status callbacks (sync) go.
    webhook_transport: httpx.AsyncBaseTransport | None = None
    callback_transport: httpx.BaseTransport | None = None
    # One client each, kept for the app's life: building an httpx client loads the CA
    # bundle, which cost more CPU than everything else the sandbox does per message.
    _callback_client: httpx.Client | None = field(default=None, repr=False)
    _webhook_client: httpx.AsyncClient | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def callback_client(self) -> httpx.Client:
        with self._lock:
            if self._callback_client is None:
                self._callback_client = httpx.Client(
                    transport=self.callback_transport, timeout=httpx.Timeout(15.0, connect=5.0)
                )
            return self._callback_client

    def webhook_client(self) -> httpx.AsyncClient:
        if self._webhook_client is None:
            self._webhook_client = httpx.AsyncClient(
                transport=self.webhook_transport, timeout=httpx.Timeout(15.0, connect=5.0)
            )
        return self._webhook_client

    async def aclose(self) -> None:
        if self._webhook_client is not None:
            await self._webhook_client.aclose()
        with self._lock:
            if self._callback_client is not None:
                self._callback_client.close()


def create_app(
    config: SandboxConfig,
    *,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
    callback_transport: httpx.BaseTransport | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """A new sandbox app. The transports replace the network (e.g. `httpx.MockTransport`);
    ``clock`` replaces the time (message times and WhatsApp's 24-hour window)."""
    state = SandboxState(
        config=config,
        store=MessageStore(clock or (lambda: datetime.now(UTC))),
        webhook_transport=webhook_transport,
        callback_transport=callback_transport,
    )
    add_approved(state.contents, config.account_sid, state.store.now())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await state.aclose()

    app = FastAPI(
        lifespan=lifespan,
        title="gangway WhatsApp sandbox",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.sandbox = state
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    app.mount("/sandbox/static", StaticFiles(directory=str(_HERE / "static")), name="static")
    app.include_router(twilio_api.build_router(state))
    app.include_router(content_api.build_router(state))
    app.include_router(media.build_router(state))
    if config.crm_secrets:
        app.include_router(crm.build_router(crm.CrmStandIn(config.crm_secrets)))
    app.include_router(chat.build_router(state, templates))
    return app
