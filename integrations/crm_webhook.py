"""Pushing events to the firm's CRM as signed webhooks, and checking such a signature.

The scheme, for the team that builds the receiving end
------------------------------------------------------

Each event is one HTTP ``POST`` to the configured URL with a JSON body
(``Content-Type: application/json``, UTF-8) and these headers:

``X-Gangway-Event``
    what happened (also the body's ``event``): ``handoff.created``,
    ``.claimed``, ``.released``, ``.escalated``, ``.closed`` (``data``: the handoff),
    or ``lead.qualified`` (``data``: ``conversation_id``, ``answers`` slot -> value,
    ``language``, ``revision``, ``flow``; sent when a prospect has answered every
    qualification question and again at each later change: keep the highest
    ``revision``).
``X-Gangway-Idempotency-Key``
    unique per event (also the body's ``id``). The same event may arrive more
    than once -- always with the same key -- when gangway did not get your
    answer (a timeout, a dropped connection, a crash before it was recorded).
    Store the key with the event; when a key you already have arrives again,
    answer 2xx and do nothing else.
``X-Gangway-Timestamp``
    when this attempt was signed, in whole seconds since the Unix epoch (UTC).
``X-Gangway-Signature``
    ``sha256=`` followed by the lowercase hex HMAC-SHA256, keyed with the shared
    secret, of the timestamp as decimal ASCII digits, one dot, and the raw body
    bytes exactly as received::

        sha256=hex(HMAC_SHA256(secret, b"1795338000." + body))

To verify: take the raw body before any JSON parsing, recompute the HMAC,
compare in constant time, and refuse timestamps further than a few minutes
from your clock (which stops a captured request from being replayed later).
`verify_signature` does exactly that and can be copied as it is: it uses the
Python standard library only.

Answers: any 2xx means "stored" and the event is never sent again. 408, 429 and
5xx mean "try later": gangway retries with growing pauses, for as long as it
takes; with a 429 or 503, a ``Retry-After`` (seconds or an HTTP date) makes the
next pause at least that long, up to gangway's longest pause. Any other status
(3xx, 4xx) means the event can never be accepted: gangway stops sending it and
records the failure for an operator. Redirects are not followed.

Errors (``bot.service_layer.errors``): 408, 429, 5xx, timeouts and connection
failures -> `TransientError`; other non-2xx statuses -> `PermanentError`.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

import httpx

from bot.service_layer.errors import PermanentError, TransientError
from integrations.retrying import RETRY_AFTER_STATUSES, retry_after_seconds

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "EVENT_HEADER",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "CrmWebhook",
    "sign",
    "verify_signature",
]

PROVIDER = "crm"
EVENT_HEADER = "X-Gangway-Event"
IDEMPOTENCY_HEADER = "X-Gangway-Idempotency-Key"
TIMESTAMP_HEADER = "X-Gangway-Timestamp"
SIGNATURE_HEADER = "X-Gangway-Signature"
DEFAULT_TOLERANCE_SECONDS = 300.0
_PREFIX = "sha256="
_TRANSIENT_STATUSES = frozenset({408, 429})
_MAX_ERROR_BODY = 300


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Gangway-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret, f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return _PREFIX + mac.hexdigest()


def verify_signature(
    secret: bytes,
    timestamp: str | int,
    body: bytes,
    header: str,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """True when ``header`` signs ``body`` at ``timestamp``, and ``timestamp`` is
    within ``tolerance`` seconds of ``now`` (Unix seconds) either way.

    ``timestamp`` and ``header`` are the ``X-Gangway-Timestamp`` and
    ``X-Gangway-Signature`` values as received; ``body`` the raw request body.
    """
    text = str(timestamp).strip()
    if not text.isascii() or not text.isdigit():
        return False
    when = int(text)
    if abs(now - when) > tolerance:
        return False
    expected = sign(secret, when, body)
    return hmac.compare_digest(expected.encode("ascii"), header.strip().encode("utf-8"))


class CrmWebhook:
    """Sends one signed event to the CRM per `deliver` call (see the module)."""

    def __init__(
        self,
        url: str,
        secret: bytes,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"the CRM URL must be an http(s) URL, got {url!r}")
        if not secret:
            raise ValueError("the CRM webhook secret must not be empty")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.url = url
        self.timeout = timeout
        self._secret = secret
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client()

    def deliver(self, body: bytes, *, idempotency_key: str, event: str, timestamp: int) -> int:
        """POST ``body`` (JSON) signed at ``timestamp``; the HTTP status when it is 2xx."""
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: event,
            IDEMPOTENCY_HEADER: idempotency_key,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
        }
        try:
            response = self._http.post(
                self.url,
                content=body,
                headers=headers,
                timeout=self.timeout,
                follow_redirects=False,
            )
        except httpx.TransportError as exc:
            # Includes timeouts: the CRM may well have stored the event, which
            # is why a retry carries the same idempotency key.
            what = f"{type(exc).__name__} {exc}".strip()
            raise TransientError(PROVIDER, f"{event} {idempotency_key}: {what}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return status
        message = f"{event} {idempotency_key}: the CRM answered HTTP {status}"
        detail = response.text.strip()[:_MAX_ERROR_BODY]
        if detail:
            message = f"{message}: {detail}"
        if status in _TRANSIENT_STATUSES or status >= 500:
            asked = None
            if status in RETRY_AFTER_STATUSES:
                asked = retry_after_seconds(response.headers)
            raise TransientError(PROVIDER, message, status=status, retry_after=asked)
        raise PermanentError(PROVIDER, message, status=status)

    def close(self) -> None:
        """Close the httpx client if this object created it."""
        if self._owns_http:
            self._http.close()
