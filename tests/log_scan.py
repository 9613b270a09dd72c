"""Reading gangway's JSON log lines back, and what must never be in them.

Shared by the in-process test (tests/integration/test_log_scan.py) and the end-to-end
one (tests/e2e/test_log_scan.py), which scan the lines of a whole journey.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import phonenumbers

__all__ = ["json_lines", "leaks", "number_forms", "text_fragments"]


def json_lines(text: str) -> list[dict[str, Any]]:
    """Each line of ``text`` as the JSON object it must be, carrying a request_id key
    (an AssertionError naming the first line that is not)."""
    parsed = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            item = json.loads(line)
        except ValueError:
            raise AssertionError(f"line {number} is not JSON: {line!r}") from None
        assert isinstance(item, dict), f"line {number} is not an object: {line!r}"
        assert "request_id" in item, f"line {number} has no request_id: {line!r}"
        parsed.append(item)
    return parsed


def number_forms(number: str) -> list[str]:
    """The ways a WhatsApp number may be written: whatsapp:+E.164, +E.164, the digits
    alone, national format (with and without its spaces), the national number."""
    e164 = number.removeprefix("whatsapp:")
    parsed = phonenumbers.parse(e164)
    national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    forms = {
        f"whatsapp:{e164}",
        e164,
        e164.lstrip("+"),
        national,
        "".join(c for c in national if c.isdigit()),
        phonenumbers.national_significant_number(parsed),
    }
    return sorted(forms, key=len, reverse=True)


def text_fragments(texts: Iterable[str], shortest: int = 12) -> list[str]:
    """The lines of ``texts`` long enough to be told apart from a log line's own words
    ("hi" is in "this"): what a log line holding one of the texts would show."""
    found = {
        part.strip()
        for text in texts
        for part in text.splitlines()
        if len(part.strip()) >= shortest
    }
    return sorted(found)


def leaks(lines: list[dict[str, Any]], forbidden: Iterable[str]) -> list[tuple[str, str]]:
    """(what, line) for each of ``forbidden`` found in any field of any line."""
    wanted = list(forbidden)
    found = []
    for line in lines:
        shown = json.dumps(line, ensure_ascii=False) + " " + " ".join(map(str, line.values()))
        found += [(what, shown) for what in wanted if what in shown]
    return found
