"""Fetching inbound media with the account's credentials."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from bot.sandbox import SandboxConfig, create_app
from bot.service_layer.errors import PermanentError, TransientError
from integrations.twilio_media import TwilioMediaFetcher

ACCOUNT = "AC" + "7" * 32
TOKEN = "media-token"
AUTH = "Basic " + base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
MEDIA_URL = (
    f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/MM{'1' * 32}/Media/ME{'2' * 32}"
)
SANDBOX = "http://sandbox.test:8001"
CDN = "https://cdn.example.net/media/abc?sig=1"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

Handler = Callable[[httpx.Request], httpx.Response]


class Network:
    """A fake network: records each request and lets `handler` answer it."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


def twilio_with_cdn(request: httpx.Request) -> httpx.Response:
    """Twilio (at the sandbox address) redirects to a storage host that serves the bytes."""
    if request.url.host == "sandbox.test":
        if request.headers.get("Authorization") != AUTH:
            return httpx.Response(401, json={"code": 20003})
        return httpx.Response(307, headers={"Location": CDN})
    if request.url.host == "cdn.example.net":
        return httpx.Response(200, content=PNG, headers={"Content-Type": "image/png"})
    return httpx.Response(404)


def fetcher(network: Network, *, base_url: str = SANDBOX, **kwargs: int) -> TwilioMediaFetcher:
    return TwilioMediaFetcher(
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        base_url=base_url,
        http=httpx.Client(transport=httpx.MockTransport(network)),
        **kwargs,
    )


def test_fetch_follows_the_redirect_and_returns_bytes_and_type() -> None:
    """A Twilio media URL is fetched from the configured base, through its redirect."""
    network = Network(twilio_with_cdn)
    media = fetcher(network).fetch(MEDIA_URL)
    assert (media.content, media.content_type) == (PNG, "image/png")
    first, second = network.requests
    assert str(first.url) == SANDBOX + MEDIA_URL.removeprefix("https://api.twilio.com")
    assert first.headers["Authorization"] == AUTH
    assert str(second.url) == CDN


def test_credentials_never_reach_the_redirect_host() -> None:
    """The storage host a redirect points to gets no Authorization header."""
    network = Network(twilio_with_cdn)
    fetcher(network).fetch(MEDIA_URL)
    assert [r.url.host for r in network.requests if "Authorization" in r.headers] == [
        "sandbox.test"
    ]


def test_a_redirect_back_to_twilio_keeps_the_credentials() -> None:
    """A redirect to another twilio.com URL is still Twilio: auth goes with it (rewritten)."""
    other = MEDIA_URL.replace("ME" + "2" * 32, "ME" + "3" * 32)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Authorization") != AUTH:
            return httpx.Response(401)
        if request.url.path.endswith("2" * 32):
            return httpx.Response(302, headers={"Location": other})
        return httpx.Response(200, content=b"pdf", headers={"Content-Type": "application/pdf"})

    network = Network(handler)
    assert fetcher(network).fetch(MEDIA_URL).content == b"pdf"
    assert {r.url.host for r in network.requests} == {"sandbox.test"}


def test_without_a_base_url_twilio_itself_is_asked() -> None:
    """With Twilio's own base URL nothing is rewritten."""
    network = Network(lambda r: httpx.Response(200, content=b"x"))
    fetcher(network, base_url="https://api.twilio.com").fetch(MEDIA_URL)
    assert str(network.requests[0].url) == MEDIA_URL
    assert network.requests[0].headers["Authorization"] == AUTH


@pytest.mark.parametrize(
    "url",
    [
        "https://attacker.example.com/2010-04-01/Accounts/x/Media/y",
        "http://api.twilio.com/2010-04-01/Accounts/x/Media/y",  # plain HTTP: never with auth
        "https://api.twilio.com.example.com/media",
        "http://sandbox.test:8002/2010-04-01/media",  # same host, another port
    ],
)
def test_urls_that_are_not_twilio_are_refused_before_any_request(url: str) -> None:
    """Our credentials are never sent to a host that is not Twilio or the configured base."""
    network = Network(twilio_with_cdn)
    with pytest.raises(PermanentError, match="not a Twilio URL"):
        fetcher(network).fetch(url)
    assert network.requests == []


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, PermanentError), (401, PermanentError), (429, TransientError), (503, TransientError)],
)
def test_http_errors_are_mapped(status: int, error: type[Exception]) -> None:
    """404/401 will not get better (permanent); 429 and 5xx may (transient)."""
    network = Network(lambda r: httpx.Response(status))
    with pytest.raises(error) as raised:
        fetcher(network).fetch(MEDIA_URL)
    assert getattr(raised.value, "status", None) == status


def test_a_rate_limited_fetch_carries_twilios_retry_after() -> None:
    """The message waits at least as long as Twilio asked before its media is fetched again."""
    network = Network(lambda r: httpx.Response(429, headers={"Retry-After": "11"}))
    with pytest.raises(TransientError) as raised:
        fetcher(network).fetch(MEDIA_URL)
    assert raised.value.retry_after == 11.0


def test_a_timeout_is_transient() -> None:
    """A read timeout is worth retrying later."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(TransientError, match="ReadTimeout"):
        fetcher(Network(handler)).fetch(MEDIA_URL)


def test_a_declared_oversized_body_is_refused() -> None:
    """A Content-Length above max_bytes is refused without reading the body."""
    network = Network(
        lambda r: httpx.Response(200, content=b"x" * 11, headers={"Content-Length": "11"})
    )
    with pytest.raises(PermanentError, match="larger than 10 bytes"):
        fetcher(network, max_bytes=10).fetch(MEDIA_URL)


def test_an_undeclared_oversized_body_is_refused_while_streaming() -> None:
    """A body without Content-Length is cut off once it passes max_bytes."""

    def chunks() -> Iterator[bytes]:
        yield from [b"12345", b"67890", b"X"]

    network = Network(lambda r: httpx.Response(200, content=chunks()))
    with pytest.raises(PermanentError, match="larger than 10 bytes"):
        fetcher(network, max_bytes=10).fetch(MEDIA_URL)
    exactly = Network(lambda r: httpx.Response(200, content=iter([b"12345", b"67890"])))
    assert fetcher(exactly, max_bytes=10).fetch(MEDIA_URL).content == b"1234567890"


def test_a_redirect_loop_gives_up() -> None:
    """Endless redirects end in a PermanentError, not a hang."""
    network = Network(lambda r: httpx.Response(302, headers={"Location": CDN}))
    with pytest.raises(PermanentError, match="too many redirects"):
        fetcher(network).fetch(MEDIA_URL)


def test_media_from_the_sandbox_is_fetched_without_leaking_credentials() -> None:
    """Against the sandbox app: Basic auth, 307 to its CDN host, bytes served without auth."""
    config = SandboxConfig(
        ACCOUNT,
        TOKEN,
        "http://gangway.test/webhooks/twilio/whatsapp",
        media_cdn_url="http://cdn.sandbox.test",
    )
    sent: list[dict[str, str]] = []

    def gangway(request: httpx.Request) -> httpx.Response:
        sent.append(dict(httpx.QueryParams(request.content.decode())))
        return httpx.Response(200, text="<Response/>")

    app = create_app(config, webhook_transport=httpx.MockTransport(gangway))
    with TestClient(app, base_url="http://sandbox.test") as client:
        upload = {"content_type": "image/png", "data": base64.b64encode(PNG).decode()}
        assert client.post("/sandbox/api/inbound", json={"media": [upload]}).status_code == 200
        [params] = sent
        assert params["MediaUrl0"].startswith("http://sandbox.test/2010-04-01/Accounts/")
        media = TwilioMediaFetcher(
            account_sid=ACCOUNT, auth_token=TOKEN, base_url="http://sandbox.test", http=client
        ).fetch(params["MediaUrl0"])
        assert (media.content, media.content_type) == (PNG, "image/png")
        wrong = TwilioMediaFetcher(
            account_sid=ACCOUNT, auth_token="wrong", base_url="http://sandbox.test", http=client
        )
        with pytest.raises(PermanentError) as denied:
            wrong.fetch(params["MediaUrl0"])
        assert denied.value.status == 401
