"""Signing and checking webhooks in the Standard Webhooks format
(https://www.standardwebhooks.com/), with the ``standardwebhooks`` library's signer.

A signed request carries three headers:

``webhook-id``
    the message's id; the same on every retry of one message, so a receiver can keep
    each message once.
``webhook-timestamp``
    when this attempt was signed, in whole seconds since the Unix epoch.
``webhook-signature``
    ``v1,`` and the base64 HMAC-SHA256, keyed with the shared secret, of
    ``{webhook-id}.{webhook-timestamp}.{raw body}``; several such signatures separated
    by spaces, one per secret, while a secret is being changed.

The secrets here are the keys as bytes (``bot.domain.webhook_secrets`` reads them from
the settings). `check` takes its clock from the caller, unlike the library's
``Webhook.verify``, which reads the wall clock: gangway's clock is injected everywhere,
and a header the library would choke on (a signature without its comma, say) must be
a refusal, not a crash.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Literal

from standardwebhooks.webhooks import Webhook

__all__ = [
    "DEFAULT_TOLERANCE_SECONDS",
    "ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookRefused",
    "check",
    "signed_headers",
]

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
# The tolerance the specification suggests, and the library's.
DEFAULT_TOLERANCE_SECONDS = 300.0
_VERSION = "v1"

Reason = Literal["missing", "bad_signature", "stale"]


class WebhookRefused(Exception):
    """The request is not an authentic, fresh webhook: ``reason`` says which part failed
    (``missing`` headers, a ``bad_signature``, or a ``stale`` timestamp on an otherwise
    authentic request)."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason: Reason = reason
        self.detail = detail


def _signatures(secrets: Sequence[bytes], msg_id: str, at: datetime, body: str) -> list[str]:
    if not secrets:
        raise ValueError("at least one webhook secret is needed")
    return [Webhook(key).sign(msg_id=msg_id, timestamp=at, data=body) for key in secrets]


def signed_headers(
    secrets: Sequence[bytes], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three headers of ``body`` (UTF-8) sent as message ``msg_id`` at ``timestamp``
    (Unix seconds), signed with every one of ``secrets``."""
    if not msg_id:
        raise ValueError("a webhook needs an id")
    at = datetime.fromtimestamp(timestamp, UTC)
    signatures = _signatures(secrets, msg_id, at, body.decode("utf-8"))
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: " ".join(signatures),
    }


def _offered(header: str) -> list[bytes]:
    """The ``v1`` signatures in a ``webhook-signature`` value, decoded; others skipped."""
    found = []
    for item in header.split():
        version, comma, encoded = item.partition(",")
        if version != _VERSION or not comma:
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except binascii.Error:
            continue
    return found


def check(
    secrets: Sequence[bytes],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> str:
    """The ``webhook-id`` of a request signed with any one of ``secrets`` within
    ``tolerance`` seconds of ``now`` (Unix seconds) either way.

    ``headers`` is the request's (a case-insensitive mapping, or lower-case keys);
    ``body`` the raw bytes before any parsing. Raises `WebhookRefused` otherwise.
    """
    msg_id = headers.get(ID_HEADER, "")
    stamp = headers.get(TIMESTAMP_HEADER, "").strip()
    header = headers.get(SIGNATURE_HEADER, "")
    if not (msg_id and stamp and header):
        raise WebhookRefused(
            "missing", f"missing {ID_HEADER}, {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}"
        )
    offered = _offered(header)
    if not (stamp.isascii() and stamp.isdigit()) or not offered:
        raise WebhookRefused(
            "bad_signature", f"unreadable {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}"
        )
    try:
        at = datetime.fromtimestamp(int(stamp), UTC)
        text = body.decode("utf-8")
    except (ValueError, OverflowError, OSError):  # UnicodeDecodeError is a ValueError
        raise WebhookRefused(
            "bad_signature", "a timestamp or body no signature can cover"
        ) from None
    expected = [
        base64.b64decode(sig.partition(",")[2]) for sig in _signatures(secrets, msg_id, at, text)
    ]
    # Every pair is compared, so the time taken says nothing about which one matched.
    matched = False
    for mine in expected:
        for theirs in offered:
            matched |= hmac.compare_digest(mine, theirs)
    if not matched:
        raise WebhookRefused("bad_signature", "no signature matches a configured secret")
    if abs(now - int(stamp)) > tolerance:
        raise WebhookRefused("stale", f"{TIMESTAMP_HEADER} is more than {tolerance:g}s from now")
    return msg_id
