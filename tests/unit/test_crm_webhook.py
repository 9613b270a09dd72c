"""The CRM webhook: what the firm's CRM receives, checked with the Standard Webhooks
library a CRM would use, and how its answers map to errors."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bot.domain.webhook_secrets import parse_webhook_secrets
from bot.sandbox.server import ServerThread
from bot.service_layer.errors import PermanentError, TransientError
from integrations.crm_webhook import CrmWebhook

SECRET = b"crm-shared-secret-for-tests-0001"
OLD_SECRET = b"crm-old-secret-for-tests-00000001"
NEW_SECRET = b"crm-new-secret-for-tests-00000002"
URL = "https://crm.example.com/hooks/gangway"
NOW = 1_795_338_000  # 2026-11-22T09:00:00Z
BODY = json.dumps(
    {"id": "k-1", "event": "handoff.created", "occurred_at": "2026-11-22T09:00:00+00:00"},
    separators=(",", ":"),
).encode()


def webhook_answering(
    status: int, seen: list[httpx.Request] | None = None, secrets: tuple[bytes, ...] = (SECRET,)
) -> CrmWebhook:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, json={"answer": status})

    return CrmWebhook(URL, secrets, httpx.Client(transport=httpx.MockTransport(handler)))


def webhook_raising(exc: Exception) -> CrmWebhook:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return CrmWebhook(URL, [SECRET], httpx.Client(transport=httpx.MockTransport(handler)))


def deliver(webhook: CrmWebhook, timestamp: int = NOW) -> int:
    return webhook.deliver(
        BODY, idempotency_key="k-1", event="handoff.created", timestamp=timestamp
    )


def sent_now(secrets: tuple[bytes, ...]) -> httpx.Request:
    """One delivery signed with ``secrets`` at the wall clock's time, which the
    library's own check reads."""
    seen: list[httpx.Request] = []
    webhook_answering(200, seen, secrets).deliver(
        BODY, idempotency_key="k-1", event="handoff.created", timestamp=int(time.time())
    )
    return seen[0]


class Receiver:
    """A CRM on a loopback port that checks each push with ``Webhook.verify`` and keeps
    what it accepted by its webhook-id."""

    def __init__(self, secret: str | bytes) -> None:
        self.webhook = Webhook(secret)
        self.stored: dict[str, Any] = {}
        self.app = FastAPI()
        self.app.post("/events")(self.receive)

    async def receive(self, request: Request) -> JSONResponse:
        body = await request.body()
        try:
            event = self.webhook.verify(body, dict(request.headers))
        except WebhookVerificationError as exc:
            return JSONResponse({"error": str(exc)}, status_code=401)
        self.stored.setdefault(request.headers["webhook-id"], event)
        return JSONResponse({"stored": True})


@pytest.fixture
def receiver_at() -> Iterator[Any]:
    servers: list[ServerThread] = []

    def start(receiver: Receiver) -> str:
        server = ServerThread(receiver.app).__enter__()
        servers.append(server)
        return server.url + "/events"

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def test_a_push_is_accepted_by_a_crm_checking_it_with_the_standard_webhooks_library(
    receiver_at: Any,
) -> None:
    """Over a real loopback port, the library's own ``Webhook.verify`` takes the push
    and hands back the event the body holds."""
    crm = Receiver(SECRET)
    webhook = CrmWebhook(receiver_at(crm), [SECRET], timeout=5.0)

    status = webhook.deliver(
        BODY, idempotency_key="k-1", event="handoff.created", timestamp=int(time.time())
    )
    webhook.close()

    assert status == 200
    assert crm.stored == {"k-1": json.loads(BODY)}


def test_a_push_signed_with_another_secret_is_refused_by_that_crm(receiver_at: Any) -> None:
    """The library refuses a signature by a key it does not know: a permanent error."""
    crm = Receiver(SECRET)
    webhook = CrmWebhook(receiver_at(crm), [b"not-the-shared-secret-0000000000"], timeout=5.0)

    with pytest.raises(PermanentError) as caught:
        webhook.deliver(
            BODY, idempotency_key="k-1", event="handoff.created", timestamp=int(time.time())
        )
    webhook.close()

    assert caught.value.status == 401
    assert crm.stored == {}


def test_a_delivery_posts_the_body_as_is_with_the_standard_webhooks_headers() -> None:
    """The CRM gets the exact bytes; the event's key is the webhook-id, the attempt's
    time the webhook-timestamp, and one v1 signature per secret."""
    seen: list[httpx.Request] = []
    assert deliver(webhook_answering(201, seen)) == 201
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.content == BODY
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == "k-1"
    assert request.headers["webhook-timestamp"] == str(NOW)
    version, signature = request.headers["webhook-signature"].split(",")
    assert (version, len(base64.b64decode(signature))) == ("v1", 32)


def test_a_retried_event_keeps_its_webhook_id_and_is_signed_afresh() -> None:
    """A receiver deduplicates on the webhook-id: a retry carries the same one, with the
    time of the new attempt (an old timestamp would be refused as stale)."""
    seen: list[httpx.Request] = []
    webhook = webhook_answering(200, seen)
    deliver(webhook, NOW)
    deliver(webhook, NOW + 600)

    first, retry = seen
    assert first.headers["webhook-id"] == retry.headers["webhook-id"] == "k-1"
    assert first.content == retry.content
    assert retry.headers["webhook-timestamp"] == str(NOW + 600)
    assert first.headers["webhook-signature"] != retry.headers["webhook-signature"]


@pytest.mark.parametrize("knows", [NEW_SECRET, OLD_SECRET], ids=["new", "old"])
def test_during_a_rotation_a_crm_knowing_only_one_of_the_secrets_accepts(knows: bytes) -> None:
    """Given the new and the old secret, gangway signs with both, so the CRM switches
    from the old to the new one whenever it likes."""
    request = sent_now((NEW_SECRET, OLD_SECRET))

    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(knows).verify(request.content, dict(request.headers)) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(request.content, dict(request.headers))


def test_a_standard_secret_from_the_settings_is_the_one_the_crm_is_given() -> None:
    """``GANGWAY_CRM_SECRET=whsec_...``: the CRM passes that same text to its library."""
    text = "whsec_" + base64.b64encode(b"32 random bytes for this test!!!").decode()
    request = sent_now(parse_webhook_secrets(text))

    assert Webhook(text).verify(request.content, dict(request.headers)) == json.loads(BODY)


def test_a_secret_from_before_the_standard_format_still_signs() -> None:
    """A raw ``GANGWAY_CRM_SECRET`` (``openssl rand -hex 32``) keeps working after the
    upgrade: the CRM gives the library its bytes."""
    text = "3f9c0a6be1d24c7a8e5f60b7d1c2a3e4f5061728394a5b6c7d8e9f0a1b2c3d4e"
    request = sent_now(parse_webhook_secrets(text))

    assert Webhook(text.encode()).verify(request.content, dict(request.headers)) == json.loads(BODY)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_busy_or_broken_crm_answers_are_transient(status: int) -> None:
    """408, 429 and 5xx are worth retrying, and say which status came back."""
    with pytest.raises(TransientError) as caught:
        deliver(webhook_answering(status))
    assert caught.value.status == status
    assert caught.value.provider == "crm"


@pytest.mark.parametrize("status", [301, 400, 401, 403, 404, 409, 422])
def test_other_answers_are_permanent(status: int) -> None:
    """A refusal (or a redirect, which is not followed) will not change by retrying."""
    with pytest.raises(PermanentError) as caught:
        deliver(webhook_answering(status))
    assert caught.value.status == status
    assert str(status) in caught.value.message


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
)
def test_network_failures_are_transient(exc: Exception) -> None:
    """A CRM that cannot be reached, or whose answer never came, is tried again."""
    with pytest.raises(TransientError) as caught:
        deliver(webhook_raising(exc))
    assert caught.value.status is None


@pytest.mark.parametrize("url", ["ftp://crm.example.com/in", "crm.example.com/in", ""])
def test_a_webhook_needs_an_http_url(url: str) -> None:
    """A misconfigured URL is refused at start-up, not on the first event."""
    with pytest.raises(ValueError, match="http"):
        CrmWebhook(url, [SECRET])


@pytest.mark.parametrize("secrets", [[], [b""]], ids=["none", "empty"])
def test_a_webhook_needs_a_secret(secrets: list[bytes]) -> None:
    """Unsigned pushes are not an option."""
    with pytest.raises(ValueError, match="secret"):
        CrmWebhook(URL, secrets)


@pytest.mark.parametrize(("status", "asked"), [(429, 30.0), (503, 30.0), (500, None)])
def test_a_busy_crms_retry_after_is_on_the_error(status: int, asked: float | None) -> None:
    """A 429's or 503's Retry-After tells the outbox when to come back; a 500's means
    nothing and is left out."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"Retry-After": "30"})

    webhook = CrmWebhook(URL, [SECRET], httpx.Client(transport=httpx.MockTransport(handler)))
    with pytest.raises(TransientError) as caught:
        deliver(webhook)
    assert caught.value.retry_after == asked
