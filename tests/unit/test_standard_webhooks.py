"""Checking an incoming Standard Webhook: any configured key will do, and everything
else -- a changed body, id or time, a stale time, a missing or garbled header -- is a
refusal saying why, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from integrations.standard_webhooks import WebhookRefused, check, signed_headers

OLD = b"messenger-old-secret-0123456789ab"
NEW = b"messenger-new-secret-0123456789ab"
NOW = 1_795_338_000  # 2026-11-22T09:00:00Z
BODY = b'{"event_id":"evt_1","invite_id":"inv_1"}'


def by_the_library(
    key: bytes, msg_id: str = "evt_1", at: int = NOW, body: bytes = BODY
) -> dict[str, str]:
    """Headers as any Standard Webhooks sender makes them, with the library's signer."""
    signature = Webhook(key).sign(msg_id, datetime.fromtimestamp(at, UTC), body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(at), "webhook-signature": signature}


@pytest.mark.parametrize("key", [OLD, NEW], ids=["first", "second"])
def test_a_webhook_signed_with_any_configured_key_is_taken(key: bytes) -> None:
    """Both keys of a rotation are accepted; the answer is the message's id."""
    assert check([OLD, NEW], by_the_library(key), BODY, now=NOW) == "evt_1"


def test_one_matching_signature_among_several_is_enough() -> None:
    """A sender in the middle of a rotation sends a signature per key, space-separated."""
    headers = signed_headers([b"a-key-gangway-does-not-know-0000", NEW], "evt_1", NOW, BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert check([NEW], headers, BODY, now=NOW) == "evt_1"


def test_a_signature_within_the_tolerance_either_way_is_fresh() -> None:
    """Clocks drift: five minutes early or late still counts."""
    assert check([NEW], by_the_library(NEW), BODY, now=NOW + 300) == "evt_1"
    assert check([NEW], by_the_library(NEW), BODY, now=NOW - 300) == "evt_1"


def refusal(headers: dict[str, str], body: bytes = BODY, now: float = NOW) -> str:
    with pytest.raises(WebhookRefused) as caught:
        check([OLD, NEW], headers, body, now=now)
    return caught.value.reason


def without(name: str) -> dict[str, str]:
    return {k: v for k, v in by_the_library(NEW).items() if k != name}


def replaced(name: str, value: str) -> dict[str, str]:
    return {**by_the_library(NEW), name: value}


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        pytest.param(
            by_the_library(NEW),
            BODY.replace(b"inv_1", b"inv_2"),
            "bad_signature",
            id="body-changed",
        ),
        pytest.param(replaced("webhook-id", "evt_2"), BODY, "bad_signature", id="id-changed"),
        pytest.param(
            replaced("webhook-timestamp", str(NOW + 1)), BODY, "bad_signature", id="time-changed"
        ),
        pytest.param(
            by_the_library(b"a-key-gangway-does-not-know-0000"),
            BODY,
            "bad_signature",
            id="unknown-key",
        ),
        pytest.param(without("webhook-signature"), BODY, "missing", id="no-signature"),
        pytest.param(without("webhook-id"), BODY, "missing", id="no-id"),
        pytest.param(without("webhook-timestamp"), BODY, "missing", id="no-timestamp"),
        pytest.param(replaced("webhook-signature", "v1"), BODY, "bad_signature", id="no-comma"),
        pytest.param(
            replaced("webhook-signature", "v1,a,b"), BODY, "bad_signature", id="two-commas"
        ),
        pytest.param(
            replaced("webhook-signature", "v1,not base64!"), BODY, "bad_signature", id="not-base64"
        ),
        pytest.param(
            replaced(
                "webhook-signature", by_the_library(NEW)["webhook-signature"].replace("v1,", "v2,")
            ),
            BODY,
            "bad_signature",
            id="other-version",
        ),
        pytest.param(
            replaced("webhook-timestamp", "1e9"), BODY, "bad_signature", id="time-not-digits"
        ),
        pytest.param(
            replaced("webhook-timestamp", "9" * 30), BODY, "bad_signature", id="time-out-of-range"
        ),
        pytest.param(by_the_library(NEW), b"\xff\xfe", "bad_signature", id="body-not-utf8"),
    ],
)
def test_anything_else_is_refused_saying_which_part_failed(
    headers: dict[str, str], body: bytes, reason: str
) -> None:
    assert refusal(headers, body) == reason


@pytest.mark.parametrize("skew", [301, -301, 86_400])
def test_an_authentic_webhook_signed_too_long_ago_or_ahead_is_stale(skew: int) -> None:
    """A captured request replayed later (or dated ahead) is refused as stale."""
    assert refusal(by_the_library(NEW), now=NOW + skew) == "stale"


def test_headers_are_found_whatever_their_case() -> None:
    """HTTP header names are case-insensitive; a plain dict as the library writes them."""
    upper: dict[str, Any] = {k.title(): v for k, v in by_the_library(NEW).items()}
    assert check([NEW], httpx.Headers(upper), BODY, now=NOW) == "evt_1"
