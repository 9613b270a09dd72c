"""Pushing events to the firm's CRM as signed webhooks in the Standard Webhooks format.

For the team that builds the receiving end
------------------------------------------

Gangway signs its webhooks as the Standard Webhooks specification says
(https://www.standardwebhooks.com/, https://github.com/standard-webhooks/standard-webhooks):
verify them with one of its libraries (Python ``standardwebhooks``, JavaScript
``standardwebhooks``, Go, Java, Ruby, PHP, C#, Rust...) rather than by hand.

Each event is one HTTP ``POST`` to the configured URL (``GANGWAY_CRM_URL``) with a
JSON body (``Content-Type: application/json``, UTF-8)::

    {"id": "<event id>", "event": "<what happened>",
     "occurred_at": "<ISO 8601, UTC>", "data": {...}}

``event`` is ``handoff.created``, ``.claimed``, ``.released``, ``.escalated``,
``.closed`` (``data``: the handoff), or ``lead.qualified`` (``data``:
``conversation_id``, ``answers`` slot -> value, ``language``, ``revision``, ``flow``;
sent when a prospect has answered every qualification question and again at each
later change: keep the highest ``revision``).

And these headers:

``webhook-id``
    the event's id, the same as the body's ``id``. The same event may arrive more
    than once -- always with the same id and the same body bytes -- when gangway did
    not get your answer (a timeout, a dropped connection, a crash before it was
    recorded). Store the id with the event; when an id you already have arrives
    again, answer 2xx and do nothing else.
``webhook-timestamp``
    when this attempt was signed, in whole seconds since the Unix epoch (UTC): a
    retry is signed afresh, so it is always recent.
``webhook-signature``
    ``v1,`` followed by the base64 HMAC-SHA256 of ``{webhook-id}.{webhook-timestamp}.{body}``,
    keyed with the shared secret. While the secret is being changed, gangway is given
    both (``GANGWAY_CRM_SECRET="<new> <old>"``) and sends one signature per secret,
    separated by a space, so you can switch to the new one whenever you are ready: a
    request is authentic when any one signature matches.

The secret, as it is written in ``GANGWAY_CRM_SECRET``: in the Standard Webhooks form
``whsec_<base64>``, give it to the library as it is. A secret without that prefix
(from before gangway used this format) is used as its UTF-8 bytes: give the library
those bytes (``Webhook(secret.encode())`` in Python), not the text.

To verify, in Python::

    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    event = Webhook(secret).verify(raw_body, request_headers)  # raises if not authentic

Take the raw body before any JSON parsing. The library also refuses a timestamp more
than five minutes from your clock, which stops a captured request from being replayed
later; keeping the ids you have seen stops it for good.

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

from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx

from bot.service_layer.errors import PermanentError, TransientError
from integrations.retrying import RETRY_AFTER_STATUSES, retry_after_seconds
from integrations.standard_webhooks import signed_headers

__all__ = ["CrmWebhook"]

PROVIDER = "crm"
_TRANSIENT_STATUSES = frozenset({408, 429})
_MAX_ERROR_BODY = 300


class CrmWebhook:
    """Sends one signed event to the CRM per `deliver` call (see the module), signed
    with each of ``secrets``."""

    def __init__(
        self,
        url: str,
        secrets: Sequence[bytes],
        http: httpx.Client | None = None,
        timeout: float = 10.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"the CRM URL must be an http(s) URL, got {url!r}")
        if isinstance(secrets, bytes | str):
            raise TypeError("secrets is a sequence of keys, not one key")
        if not secrets or not all(secrets):
            raise ValueError("the CRM webhook secret must not be empty")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.url = url
        self.timeout = timeout
        self._secrets = tuple(secrets)
        self._owns_http = http is None
        self._http = http if http is not None else httpx.Client()

    def deliver(self, body: bytes, *, idempotency_key: str, event: str, timestamp: int) -> int:
        """POST ``body`` (JSON) as message ``idempotency_key``, signed at ``timestamp``;
        the HTTP status when it is 2xx."""
        headers = {
            "Content-Type": "application/json",
            **signed_headers(self._secrets, idempotency_key, timestamp, body),
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
