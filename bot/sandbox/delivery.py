"""Delivery of outbound messages: statuses move on in a background thread, and each
status is POSTed, signed, to the message's StatusCallback (if any).

The default sequence is "sent" then "delivered"; an injected delivery fault makes
it "failed" (alone) or "sent" then "undelivered", with an ErrorCode. A free-form
message outside WhatsApp's 24-hour window is accepted and then "failed" with
ErrorCode 63016, as Twilio does. Callbacks that cannot be delivered are logged and
recorded on the message, never raised.

As at Twilio, a message has no send date (``date_sent``) while it is queued: it
gets one with its first status after "queued". A list filtered on DateSent
therefore leaves out what is still queued, as Twilio's does.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from bot.sandbox.signing import signed_headers
from bot.sandbox.store import StoredMessage

if TYPE_CHECKING:
    from bot.sandbox.app import SandboxState

__all__ = ["API_VERSION", "DELIVERY_ERRORS", "OUTSIDE_WINDOW", "SESSION_WINDOW", "record_outbound"]

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
# WhatsApp: free-form messages only this long after the user's last message.
SESSION_WINDOW = timedelta(hours=24)
OUTSIDE_WINDOW = 63016

# Descriptions for error codes the sandbox produces on delivery failures.
DELIVERY_ERRORS = {
    OUTSIDE_WINDOW: "Failed to send freeform message because you are outside the allowed "
    "window. If you want to send messages outside this window, please use a Message Template.",
    63018: "Rate limit exceeded for Channel",
    63014: "Message could not be delivered because the user has blocked the business",
    21610: "Attempt to send to unsubscribed recipient",
    30008: "Unknown error",
}


def record_outbound(
    state: SandboxState,
    *,
    to: str,
    body: str,
    direction: str = "outbound-api",
    media_urls: tuple[str, ...] = (),
    content_sid: str | None = None,
    content_variables: str | None = None,
    status_callback: str | None = None,
    buttons: tuple[tuple[str, str], ...] = (),
) -> StoredMessage:
    """Store a message from the business and start its delivery (status updates, callbacks)."""
    now = state.store.now()
    # Only a template (ContentSid) may start a conversation or follow one that went quiet.
    closed = content_sid is None and not _within_window(state.store.last_inbound_at(to), now)
    message = state.store.add(
        account_sid=state.config.account_sid,
        direction=direction,
        from_=state.config.business_number,
        to=to,
        body=body,
        status="queued",
        media_urls=media_urls,
        content_sid=content_sid,
        content_variables=content_variables,
        status_callback=status_callback,
        buttons=buttons,
    )
    fault = None if closed else state.faults.take_delivery()
    steps: list[tuple[str, int | None]]
    if closed:
        steps = [("failed", OUTSIDE_WINDOW)]
    elif fault is None:
        steps = [("sent", None), ("delivered", None)]
    elif fault.delivery == "failed":
        steps = [("failed", fault.code)]
    else:
        steps = [("sent", None), ("undelivered", fault.code)]
    error_text = fault.message if fault and fault.message else None
    threading.Thread(
        target=_deliver,
        args=(state, message.sid, steps, error_text),
        name=f"sandbox-delivery-{message.sid}",
        daemon=True,
    ).start()
    return message


def _within_window(last_inbound_at: datetime | None, now: datetime) -> bool:
    return last_inbound_at is not None and now - last_inbound_at < SESSION_WINDOW


def _deliver(
    state: SandboxState, sid: str, steps: list[tuple[str, int | None]], error_text: str | None
) -> None:
    """Move one message through its statuses, POSTing a signed callback for each."""
    config = state.config
    try:
        client = state.callback_client()
        for index, (status, code) in enumerate(steps):
            time.sleep(config.status_delay_seconds)
            changes: dict[str, Any] = {"status": status}
            if index == 0:  # handed on (or refused): from now on it has a send date
                changes["sent_at"] = state.store.now()
            if code is not None:
                changes["error_code"] = code
                changes["error_message"] = error_text or DELIVERY_ERRORS.get(
                    code, "Sandbox-injected delivery failure"
                )
            message = state.store.update(sid, **changes)
            if message is None:  # the store was cleared meanwhile
                return
            if message.status_callback:
                _post_callback(state, client, message, status, code)
    except Exception:
        log.exception("sandbox: delivering message %s failed", sid)


def _post_callback(
    state: SandboxState,
    client: httpx.Client,
    message: StoredMessage,
    status: str,
    code: int | None,
) -> None:
    url = message.status_callback or ""
    params = {
        "AccountSid": message.account_sid,
        "ApiVersion": API_VERSION,
        "ChannelPrefix": "whatsapp",
        "From": message.from_,
        "MessageSid": message.sid,
        "MessageStatus": status,
        "SmsSid": message.sid,
        "SmsStatus": status,
        "To": message.to,
    }
    if code is not None:
        params["ErrorCode"] = str(code)
    attempt: dict[str, Any] = {"status": status, "url": url, "http_status": None, "error": None}
    try:
        response = client.post(
            url, data=params, headers=signed_headers(state.config.auth_token, url, params)
        )
        attempt["http_status"] = response.status_code
        if response.status_code >= 400:
            log.warning(
                "sandbox: status callback %s for %s got HTTP %s",
                status,
                message.sid,
                response.status_code,
            )
    except httpx.HTTPError as exc:
        attempt["error"] = f"{type(exc).__name__}: {exc}"
        log.warning(
            "sandbox: status callback %s for %s to %s failed: %s", status, message.sid, url, exc
        )
    state.store.append_callback(message.sid, attempt)
