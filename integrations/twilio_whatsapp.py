"""Sending WhatsApp messages through Twilio's Messages API, with the real twilio 9 client.

The official client builds every URL itself (``Domain.absolute_url`` joins
``https://api.twilio.com`` with ``2010-04-01/Accounts/{sid}/Messages.json``; next-page
links are joined the same way) and hands the finished request to ``client.http_client
.request(method, url, params=, data=, headers=, auth=, timeout=, allow_redirects=)``.
That one method is the seam: `HttpxTwilioHttpClient` sends through httpx and, when a
``base_url`` is configured, moves every ``https://*.twilio.com`` request to it, so the
same code talks to Twilio, to the local sandbox, or to a test's fake app.

Errors (see ``bot.service_layer.errors``)::

    TransientError
     └── OutcomeUnknownError    the request may have taken effect: a send that timed out
                                after it was written, or that got a 5xx. Its `ambiguous`
                                attribute is True; look in `list_sent` before sending
                                again (the worker does, through the sender port).

A 429 or 503 carries Twilio's ``Retry-After`` (seconds, or an HTTP date) as the error's
``retry_after``. twilio's exceptions keep an answer's status and body but not its
headers, so `HttpxTwilioHttpClient` notes the last answer's ``Retry-After`` (per thread,
in a context variable) and `mapped_errors` puts it on the error it raises.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http import HttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client

from bot.service_layer.errors import IntegrationError, PermanentError, TransientError
from bot.service_layer.ports import SentMessage
from integrations.retrying import RETRY_AFTER_STATUSES, retry_after_seconds

__all__ = [
    "DEFAULT_TIMEOUT",
    "HttpxTwilioHttpClient",
    "OutcomeUnknownError",
    "TwilioWhatsApp",
    "is_twilio_url",
    "mapped_errors",
]

log = logging.getLogger(__name__)

PROVIDER = "twilio"  # the provider name every error of this package carries
# Twilio gives up on our webhooks after 15 s; we give its API the same patience.
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
_JSON_TYPES = ("application/json", "application/scim+json")
# Failures that prove the request never reached the server, so nothing was created.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)
_OUR_MISTAKE = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)
# The Retry-After (seconds) of the last 429/503 answer in this thread, None after any
# other answer: set by `HttpxTwilioHttpClient.request`, read by `mapped_errors`.
_answer_retry_after: ContextVar[float | None] = ContextVar("twilio_retry_after", default=None)


class OutcomeUnknownError(TransientError):
    """The request may or may not have taken effect on Twilio's side.

    Raised for a POST whose answer never arrived (read timeout, connection dropped)
    and for a send answered with a 5xx. Retrying blindly could message the prospect
    twice; look the message up first (`TwilioWhatsApp.list_sent`).
    """

    ambiguous = True


def _is_twilio_host(host: str | None) -> bool:
    return host is not None and (host == "twilio.com" or host.endswith(".twilio.com"))


def is_twilio_url(url: str) -> bool:
    """True for an ``https://twilio.com`` or ``https://*.twilio.com`` URL."""
    parts = urlsplit(url)
    return parts.scheme == "https" and _is_twilio_host(parts.hostname)


def _pairs(values: Mapping[str, object]) -> list[tuple[str, str]]:
    """Flatten a twilio params/data dict the way `requests` does: a list value becomes
    the key repeated (``MediaUrl=a&MediaUrl=b``), None is dropped."""
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        items: Iterable[object] = value if isinstance(value, list | tuple) else [value]
        pairs.extend((key, str(item)) for item in items if item is not None)
    return pairs


class HttpxTwilioHttpClient(HttpClient):
    """A `twilio.http.HttpClient` that sends through httpx, optionally to another host.

    ``base_url`` (e.g. ``http://127.0.0.1:8001``) replaces the scheme and host of every
    ``https://twilio.com`` / ``https://*.twilio.com`` URL, keeping path and query (a
    path prefix in ``base_url`` is kept in front). A ``base_url`` that is itself on
    twilio.com means "no rewriting", so api/lookups/... hosts stay distinct.

    Parameters are not logged (they hold phone numbers and texts), and the base class's
    ``_test_only_last_request``/``_response`` are left unset: nothing in twilio reads them.
    """

    def __init__(self, base_url: str | None = None, *, http: httpx.Client | None = None) -> None:
        super().__init__(log, is_async=False, timeout=None)
        self._base: tuple[str, str, str] | None = None
        if base_url is not None:
            parts = urlsplit(base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
            if not _is_twilio_host(parts.hostname):
                self._base = (parts.scheme, parts.netloc, parts.path.rstrip("/"))
        self._owns_http = http is None
        self.http = http if http is not None else httpx.Client(timeout=DEFAULT_TIMEOUT)

    def rewrite(self, url: str) -> str:
        """The URL the request really goes to."""
        if self._base is None or not is_twilio_url(url):
            return url
        parts = urlsplit(url)
        scheme, netloc, prefix = self._base
        return urlunsplit((scheme, netloc, prefix + parts.path, parts.query, ""))

    def on_base(self, url: str) -> bool:
        """True when ``url`` is on the configured ``base_url`` (same scheme, host, port
        and path prefix), i.e. where rewritten Twilio requests go."""
        if self._base is None:
            return False
        parts = urlsplit(url)
        scheme, netloc, prefix = self._base
        return (
            parts.scheme == scheme
            and parts.netloc.lower() == netloc.lower()
            and (not prefix or parts.path == prefix or parts.path.startswith(prefix + "/"))
        )

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        """Send one request; transport failures become `TransientError`s (see module)."""
        method = method.upper()
        url = self.rewrite(uri)
        headers = dict(headers or {})
        content: bytes | None = None
        if data is not None:
            if headers.get("Content-Type") in _JSON_TYPES:
                content = json.dumps(data).encode()
            else:  # twilio's default: application/x-www-form-urlencoded
                content = urlencode(_pairs(data)).encode()
        log.debug("twilio %s %s", method, urlsplit(url).path)
        try:
            answer = self.http.request(
                method,
                url,
                params=tuple(_pairs(params)) if params else None,
                content=content,
                headers=headers,
                auth=httpx.BasicAuth(*auth) if auth else None,
                timeout=httpx.Timeout(timeout) if timeout else httpx.USE_CLIENT_DEFAULT,
                follow_redirects=allow_redirects,
            )
        except httpx.TransportError as exc:
            _answer_retry_after.set(None)
            raise _transport_error(exc, method, url) from exc
        _answer_retry_after.set(
            retry_after_seconds(answer.headers)
            if answer.status_code in RETRY_AFTER_STATUSES
            else None
        )
        return TwilioResponse(answer.status_code, answer.text, answer.headers)

    def close(self) -> None:
        if self._owns_http:
            self.http.close()


def _transport_error(exc: httpx.TransportError, method: str, url: str) -> IntegrationError:
    where = f"{method} {urlsplit(url).netloc}{urlsplit(url).path}"
    what = f"{type(exc).__name__} {exc}".strip()
    if isinstance(exc, _OUR_MISTAKE):
        return PermanentError(PROVIDER, f"cannot send {where}: {what}")
    if isinstance(exc, _NOT_SENT) or method in ("GET", "HEAD"):
        return TransientError(PROVIDER, f"no answer to {where}: {what}")
    return OutcomeUnknownError(PROVIDER, f"no answer to {where}, it may have taken effect: {what}")


def _sent(instance: Any, *, to: str = "", body: str = "") -> SentMessage:
    # A content (template) message may come back with an empty body (Twilio renders
    # it asynchronously when a Messaging Service sends it): keep the caller's text then.
    return SentMessage(
        sid=instance.sid,
        status=instance.status,
        to=instance.to or to,
        body=instance.body or body,
        date_created=instance.date_created,
    )


def _error(
    exc: TwilioException, *, sending: bool = False, retry_after: float | None = None
) -> IntegrationError:
    """Map the client's exceptions: 429 and 5xx can pass (after ``retry_after``
    seconds, if Twilio said), other 4xx will not."""
    status: int
    code: int | str | None
    if isinstance(exc, TwilioRestException):
        # Without a Twilio code in the body, twilio puts the HTTP status there.
        status, code, message = exc.status, exc.code if exc.code != exc.status else None, exc.msg
    elif isinstance(exc, TwilioServiceException):
        status, code = exc.status, exc.code
        message = f"{exc.title}: {exc.detail}" if exc.detail else exc.title
    elif len(exc.args) > 1 and isinstance(exc.args[1], TwilioResponse):
        # Page.process_response raises a bare TwilioException("Unable to fetch page", response).
        answer = exc.args[1]
        status, code, message = answer.status_code, None, str(exc.args[0])
        try:
            details = json.loads(answer.text)
            code, message = details.get("code"), f"{message}: {details.get('message')}"
        except (ValueError, AttributeError):
            pass
    else:
        return PermanentError(PROVIDER, str(exc))
    if sending and status >= 500:
        return OutcomeUnknownError(
            PROVIDER, message, status=status, code=code, retry_after=retry_after
        )
    if status == 429 or status >= 500:
        return TransientError(PROVIDER, message, status=status, code=code, retry_after=retry_after)
    return PermanentError(PROVIDER, message, status=status, code=code)


@contextmanager
def mapped_errors(action: str, *, sending: bool = False) -> Iterator[None]:
    """Turn the twilio client's exceptions inside the block into `IntegrationError`s."""
    _answer_retry_after.set(None)  # nothing from an earlier block's answers
    try:
        yield
    except TwilioException as exc:
        raise _error(exc, sending=sending, retry_after=_answer_retry_after.get()) from exc
    except ValueError as exc:  # json.loads on a 2xx body: for a send, it was accepted
        error = OutcomeUnknownError if sending else PermanentError
        raise error(PROVIDER, f"{action}: Twilio's answer is not JSON ({exc})") from exc


class TwilioWhatsApp:
    """Our WhatsApp number on Twilio: send, look up, and recover after a crash.

    ``base_url`` points the client at a Twilio-compatible API (the local sandbox);
    the default is Twilio itself. ``http`` is the httpx client to send through
    (tests pass one with a ``MockTransport``).
    """

    LIST_PAGE_SIZE = 100
    LIST_LIMIT = 500  # far more than one prospect gets from us in a day or two
    CLOCK_SKEW = timedelta(seconds=60)

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        base_url: str = "https://api.twilio.com",
        status_callback_url: str | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        if not (account_sid and auth_token and from_number):
            raise ValueError("account_sid, auth_token and from_number are all required")
        self.from_number = from_number
        self.status_callback_url = status_callback_url
        self.http_client = HttpxTwilioHttpClient(base_url, http=http)
        # A non-empty mapping: twilio reads `environment or os.environ`, and we want it to
        # pick up neither credentials nor TWILIO_EDGE/TWILIO_REGION from the process.
        environment = {"TWILIO_ACCOUNT_SID": account_sid, "TWILIO_AUTH_TOKEN": auth_token}
        self.client = Client(
            account_sid, auth_token, http_client=self.http_client, environment=environment
        )

    def send(
        self,
        *,
        to: str,
        body: str,
        content_sid: str | None = None,
        content_variables: Mapping[str, str] | None = None,
    ) -> SentMessage:
        """Create one message. On `OutcomeUnknownError`, look in `list_sent` before retrying.

        With ``content_sid`` (a Content API template, e.g. quick-reply buttons) the
        template and ``content_variables`` are sent instead of ``body``. Twilio then
        reports the template's text with the variables filled in as the message's body
        (for a quick reply: its body alone, without the buttons), and that is what a
        look-up in `list_sent` or `find_sent` must compare with.
        """
        extra: dict[str, str] = {}
        if self.status_callback_url:
            extra["status_callback"] = self.status_callback_url
        if content_sid is not None:
            extra["content_sid"] = content_sid
            if content_variables:
                extra["content_variables"] = json.dumps(dict(content_variables))
        else:
            extra["body"] = body
        with mapped_errors("send", sending=True):
            created = self.client.messages.create(to=to, from_=self.from_number, **extra)
        if not created.sid:
            raise OutcomeUnknownError(PROVIDER, "send accepted, but Twilio returned no sid")
        return _sent(created, to=to, body=body)

    def fetch(self, sid: str) -> SentMessage:
        """The message's current state (status moves on as Twilio delivers it)."""
        with mapped_errors("fetch"):
            return _sent(self.client.messages(sid).fetch())

    def list_sent(self, *, to: str, since: datetime) -> list[SentMessage]:
        """Our messages to ``to`` created at or after ``since`` (an aware datetime),
        oldest first.

        No DateSent filter is sent: a message Twilio still holds as queued has no send
        date yet and could be filtered out, which is exactly the message a reconciliation
        must find. Instead the newest messages to this number (Twilio lists newest
        first) are read, up to LIST_LIMIT, and the creation time is checked here, to the
        second because that is all Twilio keeps.
        """
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        since = since.astimezone(UTC).replace(microsecond=0)
        with mapped_errors("list"):
            found = self.client.messages.list(
                to=to,
                from_=self.from_number,
                page_size=self.LIST_PAGE_SIZE,
                limit=self.LIST_LIMIT,
            )
        ours = [
            _sent(m)
            for m in found
            if m.from_ == self.from_number
            and m.to == to
            and m.date_created is not None
            and m.date_created >= since
        ]
        return sorted(ours, key=lambda m: (m.date_created, m.sid))

    def find_sent(self, *, to: str, body: str, since: datetime) -> SentMessage | None:
        """The earliest message with exactly this body sent to ``to`` since about
        ``since`` (less `CLOCK_SKEW`, our clock and Twilio's may differ), or None.

        A convenience over `list_sent` for one known body; the worker reads `list_sent`
        itself, to match any of several bodies and skip messages it already recorded.
        """
        recent = self.list_sent(to=to, since=since - self.CLOCK_SKEW)
        return next((m for m in recent if m.body == body), None)

    def close(self) -> None:
        """Close the httpx client if this object created it."""
        self.http_client.close()
