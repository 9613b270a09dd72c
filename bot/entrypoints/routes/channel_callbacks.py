"""The secure messenger's activation callback: ``POST /webhooks/secure-channel/activated``.

The protocol is drawn in ``integrations/secure_messenger.py``. In order:

- no shared secret configured: 503 (gangway cannot tell a real callback from a forged one);
- missing Standard Webhooks headers, no ``webhook-signature`` by any configured key, or
  a ``webhook-timestamp`` more than five minutes from gangway's clock: 401, logged,
  nothing written;
- a body that is not the expected JSON, or whose ``event_id`` is not the
  ``webhook-id``: 400;
- an ``event_id`` (so a ``webhook-id``) seen before: 409, the provider's sign to stop
  retrying; the timestamp's tolerance alone would let a replay in within five minutes;
- an ``invite_id`` gangway never issued: 404, nothing written;
- otherwise the callback is recorded (``bot.service_layer.channel_activation``): 200,
  and ``container.on_invite_activated(conversation_id)`` moves the conversation on. An
  invite that was already used, superseded or had expired is not activated again: the
  answer is still 200 (the provider did its part) with ``"ignored"`` saying why.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool

from bot.adapters.db import SessionFactory
from bot.domain.webhook_secrets import parse_webhook_secrets
from bot.service_layer.channel_activation import (
    Activation,
    ActivationCallback,
    record_activation,
)
from bot.service_layer.ports import Clock
from integrations.secure_messenger import parse_time
from integrations.standard_webhooks import WebhookRefused, check

__all__ = [
    "ACTIVATED_PATH",
    "MAX_SKEW",
    "ChannelCallbackContainer",
    "ChannelWebhookSettings",
    "router",
]

log = logging.getLogger(__name__)
router = APIRouter()

ACTIVATED_PATH = "/webhooks/secure-channel/activated"
MAX_SKEW = timedelta(minutes=5)


class ChannelWebhookSettings(Protocol):
    @property
    def gangway_channel_webhook_secret(self) -> SecretStr | None: ...


class ChannelCallbackContainer(Protocol):
    """What this route needs from ``app.state.container``."""

    sessions: SessionFactory
    clock: Clock

    @property
    def settings(self) -> ChannelWebhookSettings: ...

    def on_invite_activated(self, conversation_id: str) -> None: ...


def _well_formed_id(value: object) -> bool:
    """An id the provider could have made: text that fits its column and holds no
    control character (PostgreSQL cannot store NUL, and an id is never multi-line)."""
    return isinstance(value, str) and 0 < len(value) <= 200 and value.isprintable()


def _answer(status: int, error: str, message: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error": error}
    if message is not None:
        body["message"] = message
    return JSONResponse(body, status_code=status)


_ANSWERS: dict[str, tuple[int, dict[str, Any]]] = {
    "activated": (200, {"ok": True}),
    "replay": (409, {"ok": False, "error": "replay"}),
    "unknown_invite": (404, {"ok": False, "error": "unknown_invite"}),
}


def _answer_to(found: Activation) -> JSONResponse:
    if found.outcome == "ignored":
        # The provider did its part: not an error, with the invite's standing saying why.
        return JSONResponse({"ok": True, "ignored": found.standing})
    status, body = _ANSWERS[found.outcome]
    return JSONResponse(body, status_code=status)


@router.post(ACTIVATED_PATH)
async def secure_channel_activated(request: Request) -> JSONResponse:
    """The prospect opened their invite at the secure messenger."""
    container: ChannelCallbackContainer = request.app.state.container
    configured = container.settings.gangway_channel_webhook_secret
    if configured is None or not configured.get_secret_value():
        log.error("refused %s: GANGWAY_CHANNEL_WEBHOOK_SECRET is not set", ACTIVATED_PATH)
        return _answer(503, "not_configured")
    try:
        keys = parse_webhook_secrets(configured.get_secret_value())
    except ValueError as exc:  # bootstrap stops on this; an app wired by hand may not
        log.error("refused %s: GANGWAY_CHANNEL_WEBHOOK_SECRET: %s", ACTIVATED_PATH, exc)
        return _answer(503, "not_configured")
    raw = await request.body()  # bounded while it arrives (the app's body limit: 413)
    try:
        webhook_id = check(
            keys,
            request.headers,
            raw,
            now=container.clock.now().timestamp(),
            tolerance=MAX_SKEW.total_seconds(),
        )
    except WebhookRefused as refused:
        log.warning(
            "refused %s from %s: %s",
            ACTIVATED_PATH,
            request.client.host if request.client else "?",
            refused.detail,
        )
        error = "stale" if refused.reason == "stale" else "bad_signature"
        return _answer(401, error, f"not an authentic, fresh callback: {refused.detail}")
    try:
        text = raw.decode("utf-8")
        event = json.loads(text)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError both are
        text, event = "", None
    if not (
        isinstance(event, dict)
        and _well_formed_id(event.get("event_id"))
        and _well_formed_id(event.get("invite_id"))
    ):
        return _answer(400, "bad_body")
    if event["event_id"] != webhook_id:
        return _answer(400, "bad_body", "the body's event_id is not the webhook-id")
    callback = ActivationCallback(
        event_id=event["event_id"],
        invite_id=event["invite_id"],
        activated_at=parse_time(event.get("activated_at")),
        raw=text,
    )
    found = await run_in_threadpool(
        record_activation,
        container.sessions,
        container.clock.now(),
        callback,
        container.on_invite_activated,
    )
    return _answer_to(found)
