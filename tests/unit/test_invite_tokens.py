"""Signed invite tokens: they round-trip, expire, and refuse any edit or forgery."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.invite_tokens import check_token, mint_token, token_digest

SECRET = b"test-invite-secret-0123456789abcdef"
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(hours=24)


def minted(ref: str = "42", expires_at: datetime = EXPIRES) -> str:
    return mint_token(SECRET, invite_ref=ref, expires_at=expires_at)


def test_a_fresh_token_checks_out_with_its_expiry_and_reference() -> None:
    """A token minted now is valid and carries the invite reference and expiry it was given."""
    check = check_token(SECRET, minted(), now=NOW)
    assert (check.valid, check.reason) == (True, "ok")
    assert check.expires_at == EXPIRES
    assert check.invite_ref == "42"


def test_a_token_can_sit_in_a_url_path_as_it_is() -> None:
    """Tokens use only URL-safe characters: no escaping, no slash, no padding."""
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", minted())


def test_two_tokens_for_the_same_invite_differ() -> None:
    """The random nonce makes every token unique, even with the same invite and expiry."""
    assert minted() != minted()


def test_a_token_is_refused_from_the_second_of_its_expiry() -> None:
    """One second before expiry it works; at expiry it is refused as expired."""
    token = minted()
    assert check_token(SECRET, token, now=EXPIRES - timedelta(seconds=1)).valid
    check = check_token(SECRET, token, now=EXPIRES)
    assert (check.valid, check.reason) == (False, "expired")
    assert check.expires_at == EXPIRES


def test_a_token_signed_with_another_secret_is_refused() -> None:
    """A token from another deployment (another secret) has a bad signature here."""
    token = mint_token(b"another-secret-0123456789abcdef!", invite_ref="42", expires_at=EXPIRES)
    check = check_token(SECRET, token, now=NOW)
    assert (check.valid, check.reason) == (False, "bad_signature")
    assert check.expires_at is None and check.invite_ref is None


def test_extending_the_expiry_in_a_token_breaks_its_signature() -> None:
    """Editing the body (here: a later expiry) is detected, even with valid base64."""
    body, signature = minted().split(".")
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[1:9] = int((EXPIRES + timedelta(days=365)).timestamp()).to_bytes(8, "big")
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode() + "." + signature
    assert check_token(SECRET, forged, now=NOW).reason == "bad_signature"


def test_every_single_character_change_invalidates_the_token() -> None:
    """Changing any one character of the body or the signature never yields a valid token."""
    token = minted()
    for index, char in enumerate(token):
        if char == ".":
            continue
        for swapped in ("A", "B", "g", "-"):
            if swapped == char:
                continue
            tampered = token[:index] + swapped + token[index + 1 :]
            check = check_token(SECRET, tampered, now=NOW)
            assert check.reason in ("bad_signature", "malformed"), (index, swapped)


@pytest.mark.parametrize(
    "token",
    ["", "no-dot-at-all", ".", "abc.", ".abc", "a.b.c", "!!!.???", "AAAA.AAAA", "ünïcode.x"],
)
def test_malformed_tokens_are_refused_as_malformed(token: str) -> None:
    """Garbage, truncated or non-ASCII tokens are reported malformed, never raise."""
    check = check_token(SECRET, token, now=NOW)
    assert (check.valid, check.reason) == (False, "malformed")


def test_a_token_cut_short_is_refused() -> None:
    """A link truncated by a chat app (the signature cut short) is not accepted."""
    token = minted()
    assert check_token(SECRET, token[:-5], now=NOW).reason == "malformed"


def test_a_short_secret_is_rejected() -> None:
    """An HMAC key shorter than 16 bytes is a configuration error, not a weak link."""
    with pytest.raises(ValueError, match="at least 16 bytes"):
        mint_token(b"short", invite_ref="1", expires_at=EXPIRES)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        check_token(b"", minted(), now=NOW)


def test_a_naive_expiry_is_rejected() -> None:
    """Expiries must be aware datetimes, so a local-time mistake cannot shift them."""
    with pytest.raises(ValueError, match="aware"):
        mint_token(SECRET, invite_ref="1", expires_at=datetime(2026, 11, 23, 9, 0))


def test_the_digest_is_a_sha256_hex_that_does_not_contain_the_token() -> None:
    """What is stored is a 64-hex SHA-256, stable for one token and different for another."""
    token = minted()
    digest = token_digest(token)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest == token_digest(token)
    assert digest != token_digest(minted())
    assert token not in digest
