"""The webhook secrets as an operator writes them: Standard Webhooks' ``whsec_`` form,
the raw secrets of before, several at once while one changes; a mistyped one stops
gangway at start, without showing the secret."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from bot.config import MissingConfiguration, Settings, load_settings
from bot.domain.webhook_secrets import parse_webhook_secrets

KEY = b"thirty-two bytes of webhook key!"
STANDARD = "whsec_" + base64.b64encode(KEY).decode()
RAW = "3f9c0a6be1d24c7a8e5f60b7d1c2a3e4"


def test_a_standard_secret_is_the_base64_after_its_prefix() -> None:
    assert parse_webhook_secrets(STANDARD) == (KEY,)


def test_a_standard_secret_without_its_base64_padding_is_read_the_same() -> None:
    """Some tools print base64 unpadded; the key is the same."""
    assert parse_webhook_secrets("whsec_" + base64.b64encode(b"key!!").decode().rstrip("=")) == (
        b"key!!",
    )


def test_a_secret_from_before_the_standard_format_is_its_own_bytes() -> None:
    """An operator upgrading keeps their secret: it signs exactly as the same bytes."""
    assert parse_webhook_secrets(RAW) == (RAW.encode(),)


@pytest.mark.parametrize(
    "text",
    [f"{STANDARD},{RAW}", f"{STANDARD} {RAW}", f" {STANDARD} ,\n {RAW} ,"],
    ids=["comma", "space", "both-and-stray"],
)
def test_several_secrets_are_separated_by_commas_or_whitespace(text: str) -> None:
    assert parse_webhook_secrets(text) == (KEY, RAW.encode())


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        pytest.param("", "no secret", id="empty"),
        pytest.param(" , ", "no secret", id="only-separators"),
        pytest.param("whsec_not*base64", "not base64", id="bad-base64"),
        pytest.param(f"{RAW},whsec_", "secret 2 of 2 is 0 bytes", id="empty-standard"),
        pytest.param("my passphrase-with-spaces", "secret 1 of 2 is 2 bytes", id="split-raw"),
    ],
)
def test_a_wrong_secret_is_refused_saying_which_without_showing_it(
    text: str, complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint) as caught:
        parse_webhook_secrets(text, min_bytes=16)
    assert "passphrase" not in str(caught.value) and RAW not in str(caught.value)


def test_the_settings_give_each_integration_its_keys() -> None:
    settings = load_settings(
        {"GANGWAY_CRM_SECRET": f"{STANDARD} {RAW}", "GANGWAY_CHANNEL_WEBHOOK_SECRET": RAW}
    )
    assert settings.crm_secrets == (KEY, RAW.encode())
    assert settings.channel_webhook_secrets == (RAW.encode(),)
    assert load_settings({}).crm_secrets == ()


@pytest.mark.parametrize(
    ("name", "read"),
    [
        ("GANGWAY_CRM_SECRET", lambda s: s.crm_secrets),
        ("GANGWAY_CHANNEL_WEBHOOK_SECRET", lambda s: s.channel_webhook_secrets),
    ],
)
def test_a_mistyped_standard_secret_is_refused_naming_the_setting_not_the_value(
    name: str, read: Callable[[Settings], tuple[bytes, ...]]
) -> None:
    """The service is built with these keys, so it does not start; the message names
    the variable and never repeats the secret."""
    settings = load_settings({name: "whsec_dGhpcyBpcyBub3Q*"})
    with pytest.raises(MissingConfiguration, match=f"{name}: .*not base64") as caught:
        read(settings)
    assert "dGhpcyBpcyBub3Q" not in str(caught.value)
