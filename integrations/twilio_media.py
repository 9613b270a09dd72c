"""Media a prospect sent over WhatsApp: fetching it from Twilio.

An inbound webhook names each item as ``MediaUrl{N}`` / ``MediaContentType{N}``
(``NumMedia`` of them; ``bot.domain.inbound_media`` reads them). The URL is on
api.twilio.com and, with HTTP auth for media turned on, needs the account's
credentials; Twilio answers with a redirect to a storage host that must NOT get
them. `TwilioMediaFetcher` therefore follows redirects itself, sending Basic auth
only to Twilio (or to the configured ``base_url`` that twilio.com URLs are rewritten
to, i.e. the local sandbox) and never to any other host: a URL that is neither is
refused outright.

Errors (``bot.service_layer.errors``): 404 and other 4xx, an oversized body, a refused
URL -> `PermanentError`; 429, 5xx, timeouts and connection failures ->
`TransientError` (a 429's or 503's ``Retry-After`` as its ``retry_after``).
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import httpx

from bot.service_layer.errors import PermanentError, TransientError
from bot.service_layer.ports import FetchedMedia
from integrations.retrying import RETRY_AFTER_STATUSES, retry_after_seconds
from integrations.twilio_whatsapp import HttpxTwilioHttpClient, is_twilio_url

__all__ = ["DEFAULT_MAX_BYTES", "TwilioMediaFetcher"]

PROVIDER = "twilio"
DEFAULT_MAX_BYTES = 16 * 1024 * 1024  # WhatsApp's limit for audio/video is 16 MB
MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)
_OUR_MISTAKE = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.netloc}{parts.path}"


_API_PATH = "/2010-04-01/"


class TwilioMediaFetcher:
    """Downloads inbound media with the account's credentials (see the module)."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        base_url: str = "https://api.twilio.com",
        http: httpx.Client | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if not (account_sid and auth_token):
            raise ValueError("account_sid and auth_token are required")
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self._auth = httpx.BasicAuth(account_sid, auth_token)
        self.max_bytes = max_bytes
        # The sender's rewriting, so media URLs land where its API requests do.
        self._rewriter = HttpxTwilioHttpClient(base_url, http=http)
        self.http = self._rewriter.http

    def _trusted(self, url: str) -> str | None:
        """The URL to request with credentials, or None if they must not go there."""
        if is_twilio_url(url):
            return self._rewriter.rewrite(url)
        # On a sandbox base only its REST API takes credentials, not the storage it
        # redirects to (as at Twilio, where storage is another host).
        if self._rewriter.on_base(url) and urlsplit(url).path.startswith(_API_PATH):
            return url
        return None

    def fetch(self, url: str) -> FetchedMedia:
        """The media at ``url`` (a ``MediaUrl{N}`` of a webhook)."""
        target = self._trusted(url)
        if target is None:
            raise PermanentError(
                PROVIDER, f"refusing to fetch media from {_where(url)}: not a Twilio URL"
            )
        auth: httpx.BasicAuth | None = self._auth
        for _ in range(MAX_REDIRECTS + 1):
            location = self._get(target, auth)
            if isinstance(location, FetchedMedia):
                return location
            target = urljoin(target, location)
            if urlsplit(target).scheme not in ("http", "https"):
                raise PermanentError(PROVIDER, f"media redirected to a non-HTTP URL: {target}")
            trusted = self._trusted(target)
            # Credentials follow a redirect only to Twilio itself, never to storage hosts.
            auth, target = (self._auth, trusted) if trusted is not None else (None, target)
        raise PermanentError(PROVIDER, f"too many redirects fetching {_where(url)}")

    def _get(self, url: str, auth: httpx.BasicAuth | None) -> FetchedMedia | str:
        """The media, or the Location of a redirect."""
        try:
            with self.http.stream("GET", url, auth=auth, follow_redirects=False) as response:
                status = response.status_code
                if status in _REDIRECTS and response.headers.get("location"):
                    return response.headers["location"]
                if status != 200:
                    raise self._status_error(response, url)
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    raise self._too_big(url)
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise self._too_big(url)
                    chunks.append(chunk)
                return FetchedMedia(b"".join(chunks), response.headers.get("content-type"))
        except httpx.TransportError as exc:
            what = f"{type(exc).__name__} {exc}".strip()
            error = PermanentError if isinstance(exc, _OUR_MISTAKE) else TransientError
            raise error(PROVIDER, f"cannot fetch media {_where(url)}: {what}") from exc

    def _too_big(self, url: str) -> PermanentError:
        return PermanentError(
            PROVIDER, f"media at {_where(url)} is larger than {self.max_bytes} bytes"
        )

    @staticmethod
    def _status_error(response: httpx.Response, url: str) -> PermanentError | TransientError:
        status = response.status_code
        message = f"fetching media {_where(url)} got HTTP {status}"
        if status == 429 or status >= 500:
            asked = (
                retry_after_seconds(response.headers) if status in RETRY_AFTER_STATUSES else None
            )
            return TransientError(PROVIDER, message, status=status, retry_after=asked)
        return PermanentError(PROVIDER, message, status=status)

    def close(self) -> None:
        """Close the httpx client if this object created it."""
        self._rewriter.close()
