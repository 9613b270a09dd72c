"""A secure messenger as gangway's secure channel, over its REST API.

The protocol (what the provider implements; ``bot/sandbox/messenger.py`` is a loopback
stand-in for it)::

    POST {base}/v1/invites
        headers  {auth header}: {value}         e.g. Authorization: Bearer ...
                 Idempotency-Key: {reference}   required
        body     {"reference", "language", "expires_at", "display_name"?}
        201      {"id", "url", "expires_at", ...}   a new invite
        200      the same body                      a repeat of an earlier key: same invite
        4xx/5xx  {"error": "<code>", "message": "<text>"}

    GET {base}/v1/invites/{id}
        200      {"id", "reference", "url", "language", "expires_at",
                  "status": "pending" | "activated" | "expired", "activated_at"}

    Activation callback, provider -> gangway, when the prospect opens the invite:
    POST {gangway}/webhooks/secure-channel/activated
        headers  webhook-id: {event_id}
                 webhook-timestamp: <unix seconds>
                 webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{raw body}")>
        body     {"event_id", "invite_id" (the id above), "activated_at", ...}
        2xx      processed; 409 means "already processed" (a replay): stop retrying too.
        Retries after a timeout or 5xx resend the same event_id with a fresh timestamp.

The callback is a Standard Webhook (https://www.standardwebhooks.com/; any of its
libraries signs one, see ``integrations/standard_webhooks.py``): the signature header
may carry several space-separated signatures, one per key, and gangway takes the
callback when any one is by a key in ``GANGWAY_CHANNEL_WEBHOOK_SECRET``. The
``webhook-id`` is the body's ``event_id``.

Times are ISO 8601 with a UTC offset. ``reference`` is gangway's own name for the
invite; it must stay the same across retries of one invite (it is the idempotency key)
and must not carry personal data.

Errors (see ``bot.service_layer.errors``): connection failures, timeouts, 408, 429 and 5xx
are retried up to ``retries`` times with exponential backoff (``integrations.retrying``:
at least as long as a ``Retry-After`` asks, in seconds or as a date; one asking for more
than 8 s is not waited for here) and then raised as `TransientError`, carrying the
last ``Retry-After``; other 4xx and answers of the wrong shape are `PermanentError`
(``code`` is the provider's ``error``). Retrying a create is safe: the idempotency key
makes the provider hand back the invite it already made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard
from urllib.parse import quote, urlsplit

import httpx

from bot.service_layer.errors import PermanentError, TransientError
from bot.service_layer.ports import ExternalInvite
from integrations.retrying import RETRY_AFTER_STATUSES, in_process, retry_after_seconds

__all__ = [
    "PROVIDER",
    "ExternalInviteState",
    "SecureMessengerClient",
    "parse_time",
]

log = logging.getLogger(__name__)

PROVIDER = "secure_messenger"
_TRANSIENT_STATUSES = {408, 429}
_MAX_BACKOFF = 8.0  # the longest wait between attempts; a longer Retry-After is raised


@dataclass(frozen=True)
class ExternalInviteState:
    """What the provider says about an invite now."""

    external_id: str
    status: str  # pending | activated | expired
    expires_at: datetime
    activated_at: datetime | None


def _shape_error(what: str, got: object, status: int | None = None) -> PermanentError:
    shown = repr(got)
    shown = shown if len(shown) <= 200 else shown[:200] + "..."
    return PermanentError(
        PROVIDER,
        f"the secure messenger answered {what} with an unexpected shape: {shown}",
        status=status,
    )


def parse_time(value: object) -> datetime | None:
    """A protocol time (ISO 8601 with a UTC offset) as aware UTC; None if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


def _is_web_url(value: object) -> TypeGuard[str]:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class SecureMessengerClient:
    """The provider's REST API at ``base_url``.

    Every request carries ``auth_header_name: auth_header_value``. ``timeout`` bounds one
    attempt (seconds); ``retries`` is how many more attempts a retryable failure gets.
    ``http`` is the httpx client to use (closed by `close` only if this object made it);
    ``sleep`` waits between attempts (tests pass one that only records).
    """

    def __init__(
        self,
        base_url: str,
        auth_header_name: str,
        auth_header_value: str,
        timeout: float = 10.0,
        retries: int = 2,
        http: httpx.Client | None = None,
        *,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not _is_web_url(base_url):
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
        if not auth_header_name:
            raise ValueError("auth_header_name must not be empty")
        if timeout <= 0 or retries < 0 or backoff < 0:
            raise ValueError("timeout must be positive, retries and backoff not negative")
        self.base_url = base_url.rstrip("/")
        self._auth = {auth_header_name: auth_header_value}
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 5.0))
        self._retrying = in_process(
            "the secure messenger call",
            attempts=retries + 1,
            base=backoff,
            cap=_MAX_BACKOFF,
            sleep=sleep,
        )
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client()

    def create_invite(
        self,
        *,
        reference: str,
        language: str,
        expires_at: datetime,
        display_name: str | None,
    ) -> ExternalInvite:
        """Make (or, for a reference seen before, get back) the invite for ``reference``."""
        if not reference:
            raise ValueError("reference must not be empty")
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be an aware datetime")
        body: dict[str, Any] = {
            "reference": reference,
            "language": language,
            "expires_at": expires_at.astimezone(UTC).isoformat(),
        }
        if display_name is not None:
            body["display_name"] = display_name
        what = "POST /v1/invites"
        idempotency = {"Idempotency-Key": reference}
        answer = self._call("POST", "/v1/invites", json=body, headers=idempotency)
        if answer.status_code not in (200, 201):
            raise _shape_error(what, f"status {answer.status_code}", answer.status_code)
        data = self._json(answer, what)
        external_id, link = data.get("id"), data.get("url")
        when = parse_time(data.get("expires_at"))
        if not (isinstance(external_id, str) and external_id and _is_web_url(link) and when):
            raise _shape_error(what, data, answer.status_code)
        return ExternalInvite(external_id, link, when)

    def get_invite(self, external_id: str) -> ExternalInviteState:
        """The provider's view of one invite (e.g. for the advisor's invite status)."""
        what = "GET /v1/invites/{id}"
        answer = self._call("GET", "/v1/invites/" + quote(external_id, safe=""))
        data = self._json(answer, what)
        status, when = data.get("status"), parse_time(data.get("expires_at"))
        activated_raw = data.get("activated_at")
        activated = parse_time(activated_raw)
        if not (isinstance(status, str) and when) or (activated_raw and not activated):
            raise _shape_error(what, data, answer.status_code)
        return ExternalInviteState(external_id, status, when, activated)

    def close(self) -> None:
        """Close the httpx client if this object created it."""
        if self._owns_http:
            self._http.close()

    def _call(
        self, method: str, path: str, *, json: object = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self._retrying(self._attempt, method, path, json, headers)

    def _attempt(
        self, method: str, path: str, json: object, headers: dict[str, str] | None
    ) -> httpx.Response:
        what = f"{method} {path}"
        try:
            answer = self._http.request(
                method,
                self.base_url + path,
                json=json,
                headers={**self._auth, **(headers or {})},
                timeout=self._timeout,
            )
        except httpx.TransportError as exc:
            raise TransientError(
                PROVIDER,
                f"no answer from the secure messenger to {what}: "
                f"{type(exc).__name__} {exc}".strip(),
            ) from exc
        if answer.status_code >= 400:
            raise self._status_error(answer, what)
        return answer

    @staticmethod
    def _json(answer: httpx.Response, what: str) -> dict[str, Any]:
        try:
            data = answer.json()
        except ValueError:
            raise _shape_error(what, answer.text, answer.status_code) from None
        if not isinstance(data, dict):
            raise _shape_error(what, data, answer.status_code)
        return data

    @staticmethod
    def _status_error(answer: httpx.Response, what: str) -> TransientError | PermanentError:
        status = answer.status_code
        code: str | None = None
        said: object = answer.text[:200]
        try:
            details = answer.json()
        except ValueError:
            details = None
        if isinstance(details, dict):
            code = details.get("error") if isinstance(details.get("error"), str) else None
            said = details.get("message") or said
        message = f"the secure messenger answered {status} to {what}: {said}"
        if status in (401, 403):
            message += " (check the auth header name and value)"
        if status >= 500 or status in _TRANSIENT_STATUSES:
            retry_after = (
                retry_after_seconds(answer.headers) if status in RETRY_AFTER_STATUSES else None
            )
            return TransientError(
                PROVIDER, message, status=status, code=code, retry_after=retry_after
            )
        return PermanentError(PROVIDER, message, status=status, code=code)
