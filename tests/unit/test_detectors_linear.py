"""Every detector (and every other pattern that screens a prospect's text) on 64 kB of
hostile input: digit groups, runs of one character, near-misses of IBANs, cards, phone
numbers and amounts, non-Latin digits and letters.

Each case ends with a real disclosure after the hostile part, and the test checks it is
found where it is: a detector that backtracks would not finish, and one made faster by
looking at less would miss it. How long they take is measured by
``bench/pathological.py``, not here.
"""

from __future__ import annotations

import pytest

from bot.domain.commands import Command, parse_command
from bot.domain.detectors import DETECTORS
from bot.domain.redaction import redact

SIZE = 64 * 1024


def _fill(unit: str, size: int = SIZE) -> str:
    return (unit * (size // len(unit) + 1))[:size]


HOSTILE = {
    "digit groups, spaces": _fill("1234 "),
    "digit groups, dashes": _fill("12-34-"),
    "digit groups, mixed": _fill("12 345-678.9 (0) "),
    "one digit run": _fill("7"),
    "one letter run": _fill("a"),
    "spaces": _fill(" "),
    "words, no stops": _fill("my salary is high and i live near the "),
    "iban near-miss": _fill("DE89 3704 0044 0532 0130 "),
    "card near-miss": _fill("4111 1111 1111 1112 "),
    "phone near-miss": _fill("+44 (0)20 7946 0958 "),
    "amount near-miss": _fill("1,000,"),
    "amount groups": "my savings are €" + _fill("1.000 "),
    "dates": _fill("12.12."),
    "email near-miss": _fill("a.b-c_") + "@",
    "address near-miss": _fill("12 example "),
    "order near-miss": _fill("buy 100 of "),
    "unicode digits": _fill("١٢٣٤ "),
    "unicode letters": _fill("ßéü "),
    "polite words": "x " + _fill("please ") + " y",
}

# One disclosure per detector (invented data), and the part of it the detector spans.
DISCLOSURES = {
    "passport_number": ("My passport number is C01X00T47", "C01X00T47"),
    "national_id_number": ("Mi DNI es 12345678Z", "12345678Z"),
    "tax_id": ("My UTR is 1955839661", "1955839661"),
    "social_security_number": ("My SSN is 536-22-1234", "536-22-1234"),
    "date_of_birth": ("I was born on 14.03.1985", "14.03.1985"),
    "email_address": ("My email is anna.berg@example.com", "anna.berg@example.com"),
    "phone_number": ("My number is +44 20 7946 0958", "+44 20 7946 0958"),
    "home_address": ("I live at 12 Example Street", "12 Example Street"),
    "iban": ("My IBAN is DE89 3704 0044 0532 0130 00", "DE89 3704 0044 0532 0130 00"),
    "payment_card": ("My card is 4111 1111 1111 1111", "4111 1111 1111 1111"),
    "financial_amount": ("I earn 3,200 EUR a month", "3,200 EUR"),
    "trade_instruction": ("buy 10 shares of Apple", "buy 10 shares"),
}


def test_every_detector_has_a_disclosure_to_find() -> None:
    """The cases below cover every registered detector."""
    assert set(DISCLOSURES) == set(DETECTORS)


@pytest.mark.parametrize("name", sorted(DISCLOSURES))
def test_disclosure_alone_is_found(name: str) -> None:
    """Each disclosure used below is found on its own, at the expected span."""
    message, value = DISCLOSURES[name]
    start = message.index(value)
    spans = [(m.start, m.end) for m in DETECTORS[name].find(message)]
    assert any(s <= start and start + len(value) <= e for s, e in spans), spans


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
@pytest.mark.parametrize("name", sorted(DISCLOSURES))
def test_disclosure_after_64_kb_of_hostile_text_is_found(name: str, hostile: str) -> None:
    """64 kB of hostile text, then a line with a disclosure: the detector finishes and
    finds the disclosure at its place in the whole text."""
    message, value = DISCLOSURES[name]
    text = HOSTILE[hostile] + "\n" + message
    start = len(text) - len(message) + message.index(value)
    spans = [(m.start, m.end) for m in DETECTORS[name].find(text)]
    assert any(s <= start and start + len(value) <= e for s, e in spans), spans[-3:]


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_commands_read_a_long_message_as_no_command(hostile: str) -> None:
    """64 kB is never a command (commands are short), however it is made."""
    assert parse_command(HOSTILE[hostile]) is None


def test_stop_followed_by_64_kb_of_polite_words_is_still_an_opt_out() -> None:
    """Polite words around STOP are allowed, however many: the message opts out."""
    found = parse_command("stop" + " please" * (SIZE // 7))
    assert found is not None and found.command is Command.OPT_OUT


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_redaction_hides_a_number_after_64_kb_of_hostile_text(hostile: str) -> None:
    """The number at the end is replaced, whatever precedes it."""
    assert redact(HOSTILE[hostile] + "\ncall +44 20 7946 0958").endswith("\ncall [number]")
