"""Signed, expiring tokens for the built-in secure-channel invite links.

A token is ``<body>.<signature>``, both unpadded URL-safe base64, so it can sit in a
URL path as it is::

    body      = version (1 byte) | expires_at (8 bytes, Unix seconds) | nonce (16 bytes)
                | invite_ref (UTF-8, the rest)
    signature = HMAC-SHA256(secret, body)

The nonce makes every token unguessable even for the same invite and expiry; the
signature lets a forged or edited link be refused before the database is asked. Only
``token_digest(token)`` is ever stored, so a copy of the database holds no usable link.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

__all__ = [
    "MIN_SECRET_BYTES",
    "TokenCheck",
    "TokenReason",
    "check_token",
    "mint_token",
    "token_digest",
]

# 128 bits: less would make the HMAC key, not the algorithm, the weak part.
MIN_SECRET_BYTES = 16

_VERSION = 1
_NONCE_BYTES = 16
_HEADER_BYTES = 1 + 8 + _NONCE_BYTES
_MAX_REF_BYTES = 64
_SIGNATURE_BYTES = hashlib.sha256().digest_size

TokenReason = Literal["ok", "malformed", "bad_signature", "expired"]


@dataclass(frozen=True)
class TokenCheck:
    """What a token says about itself. ``expires_at`` and ``invite_ref`` are only
    set when the signature is good (a forged token's claims are worth nothing)."""

    valid: bool
    reason: TokenReason
    expires_at: datetime | None = None
    invite_ref: str | None = None


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    # One spelling per token: ``urlsafe_b64decode`` drops characters it does not know and
    # ignores the unused low bits of the last character, so without the strict alphabet
    # and the round trip an edited link could still pass the signature check.
    raw = text.encode("ascii")
    decoded = base64.b64decode(raw + b"=" * (-len(raw) % 4), altchars=b"-_", validate=True)
    if _b64encode(decoded) != text:
        raise ValueError("not the canonical encoding")
    return decoded


def _check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the invite secret must be at least {MIN_SECRET_BYTES} bytes long")


def _sign(secret: bytes, body: bytes) -> bytes:
    return hmac.new(secret, body, hashlib.sha256).digest()


def mint_token(secret: bytes, *, invite_ref: str, expires_at: datetime) -> str:
    """A new URL-safe token for ``invite_ref``, valid until ``expires_at`` (aware)."""
    _check_secret(secret)
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be an aware datetime")
    ref = invite_ref.encode("utf-8")
    if not ref or len(ref) > _MAX_REF_BYTES:
        raise ValueError(f"invite_ref must be 1 to {_MAX_REF_BYTES} bytes of UTF-8")
    body = (
        bytes([_VERSION])
        + int(expires_at.timestamp()).to_bytes(8, "big", signed=False)
        + secrets.token_bytes(_NONCE_BYTES)
        + ref
    )
    return f"{_b64encode(body)}.{_b64encode(_sign(secret, body))}"


def check_token(secret: bytes, token: str, *, now: datetime) -> TokenCheck:
    """Whether ``token`` was minted with ``secret`` and is still within its expiry."""
    _check_secret(secret)
    body_text, dot, signature_text = token.partition(".")
    if not dot or not body_text or not signature_text or not token.isascii():
        return TokenCheck(False, "malformed")
    try:
        body = _b64decode(body_text)
        signature = _b64decode(signature_text)
    except (binascii.Error, ValueError):
        return TokenCheck(False, "malformed")
    if (
        len(signature) != _SIGNATURE_BYTES
        or not _HEADER_BYTES < len(body) <= _HEADER_BYTES + _MAX_REF_BYTES
        or body[0] != _VERSION
    ):
        return TokenCheck(False, "malformed")
    if not hmac.compare_digest(signature, _sign(secret, body)):
        return TokenCheck(False, "bad_signature")
    try:
        invite_ref = body[_HEADER_BYTES:].decode("utf-8")
        expires_at = datetime.fromtimestamp(int.from_bytes(body[1:9], "big"), UTC)
    except (UnicodeDecodeError, ValueError, OverflowError, OSError):
        # Signed by us but unreadable: only a bug could mint it.
        return TokenCheck(False, "malformed")
    if now >= expires_at:
        return TokenCheck(False, "expired", expires_at, invite_ref)
    return TokenCheck(True, "ok", expires_at, invite_ref)


def token_digest(token: str) -> str:
    """The SHA-256 (hex) of a token: the only form of it that is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
