"""The CRM webhook: its signature scheme, the receiver's check, and how answers map to errors."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import pytest

from bot.service_layer.errors import PermanentError, TransientError
from integrations.crm_webhook import CrmWebhook, sign, verify_signature

SECRET = b"crm-shared-secret-for-tests-0001"
URL = "https://crm.example.com/hooks/gangway"
NOW = 1_795_338_000  # 2026-11-22T09:00:00Z
BODY = json.dumps(
    {"id": "k-1", "event": "handoff.created", "occurred_at": "2026-11-22T09:00:00+00:00"},
    separators=(",", ":"),
).encode()


def webhook_answering(status: int, seen: list[httpx.Request] | None = None) -> CrmWebhook:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, json={"answer": status})

    return CrmWebhook(URL, SECRET, httpx.Client(transport=httpx.MockTransport(handler)))


def webhook_raising(exc: Exception) -> CrmWebhook:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return CrmWebhook(URL, SECRET, httpx.Client(transport=httpx.MockTransport(handler)))


def deliver(webhook: CrmWebhook, timestamp: int = NOW) -> int:
    return webhook.deliver(
        BODY, idempotency_key="k-1", event="handoff.created", timestamp=timestamp
    )


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body_in_lowercase_hex() -> None:
    """The documented scheme: sha256=hex(HMAC-SHA256(secret, b"<timestamp>." + body))."""
    expected = hmac.new(SECRET, b"1795338000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, BODY) == "sha256=" + expected


def test_a_delivery_posts_the_body_as_is_with_event_key_timestamp_and_signature() -> None:
    """The CRM gets the exact bytes, and headers a receiver can check them with."""
    seen: list[httpx.Request] = []
    assert deliver(webhook_answering(201, seen)) == 201
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == URL
    assert request.content == BODY
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-gangway-event"] == "handoff.created"
    assert request.headers["x-gangway-idempotency-key"] == "k-1"
    assert request.headers["x-gangway-timestamp"] == str(NOW)
    timestamp, signature = (
        request.headers["x-gangway-timestamp"],
        request.headers["x-gangway-signature"],
    )
    assert verify_signature(SECRET, timestamp, request.content, signature, now=NOW + 1)


def test_verify_signature_accepts_a_good_signature_within_the_tolerance() -> None:
    """A fresh, correctly signed request passes, a little early or late."""
    header = sign(SECRET, NOW, BODY)
    assert verify_signature(SECRET, str(NOW), BODY, header, now=NOW)
    assert verify_signature(SECRET, NOW, BODY, header, now=NOW + 299, tolerance=300)
    assert verify_signature(SECRET, NOW, BODY, header, now=NOW - 299, tolerance=300)


@pytest.mark.parametrize(
    ("secret", "timestamp", "body", "header"),
    [
        pytest.param(SECRET, str(NOW), BODY + b" ", None, id="body-changed"),
        pytest.param(b"another-secret-entirely-000000000", str(NOW), BODY, None, id="wrong-secret"),
        pytest.param(SECRET, str(NOW + 1), BODY, None, id="timestamp-changed"),
        pytest.param(SECRET, "", BODY, None, id="no-timestamp"),
        pytest.param(SECRET, "17953e5", BODY, None, id="timestamp-not-digits"),
        pytest.param(SECRET, str(NOW), BODY, "", id="no-signature"),
        pytest.param(SECRET, str(NOW), BODY, "sha1=00", id="other-scheme"),
        pytest.param(
            SECRET, str(NOW), BODY, sign(SECRET, NOW, BODY)[len("sha256=") :], id="no-prefix"
        ),
        pytest.param(SECRET, str(NOW), BODY, sign(SECRET, NOW, BODY).upper(), id="upper-case"),
    ],
)
def test_verify_signature_refuses_anything_else(
    secret: bytes, timestamp: str, body: bytes, header: str | None
) -> None:
    """A changed body, secret or timestamp, or a malformed header, fails the check."""
    good = sign(SECRET, NOW, BODY)
    assert not verify_signature(secret, timestamp, body, good if header is None else header, NOW)


@pytest.mark.parametrize("skew", [301, -301, 86_400])
def test_verify_signature_refuses_a_stale_or_future_timestamp(skew: int) -> None:
    """A correctly signed request replayed later (or dated ahead) is refused."""
    header = sign(SECRET, NOW, BODY)
    assert not verify_signature(SECRET, str(NOW), BODY, header, now=NOW + skew, tolerance=300)


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
        CrmWebhook(url, SECRET)


def test_a_webhook_needs_a_secret() -> None:
    """Unsigned pushes are not an option."""
    with pytest.raises(ValueError, match="secret"):
        CrmWebhook(URL, b"")


@pytest.mark.parametrize(("status", "asked"), [(429, 30.0), (503, 30.0), (500, None)])
def test_a_busy_crms_retry_after_is_on_the_error(status: int, asked: float | None) -> None:
    """A 429's or 503's Retry-After tells the outbox when to come back; a 500's means
    nothing and is left out."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"Retry-After": "30"})

    webhook = CrmWebhook(URL, SECRET, httpx.Client(transport=httpx.MockTransport(handler)))
    with pytest.raises(TransientError) as caught:
        deliver(webhook)
    assert caught.value.retry_after == asked
