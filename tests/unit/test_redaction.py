"""Error texts lose the numbers and URL paths they quote before anything keeps them."""

from __future__ import annotations

import pytest

from bot.domain.redaction import redact


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (
            "The 'To' number whatsapp:+12025550101 is not a valid phone number.",
            "The 'To' number whatsapp:[number] is not a valid phone number.",
        ),
        ("call +1 (202) 555-0101 now", "call [number] now"),
        (
            "GET https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1 404",
            "GET https://api.twilio.com/… 404",
        ),
        ("HTTP 503 code 20003 after 3 attempts", "HTTP 503 code 20003 after 3 attempts"),
    ],
)
def test_numbers_and_url_paths_are_taken_out(text: str, kept: str) -> None:
    assert redact(text) == kept
