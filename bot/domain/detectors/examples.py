"""Questions about example values: "is 1234 5678 9012 3456 on the form just an example?",
"ist 01.01.1980 nur ein Beispiel?", "el formulario pone 12345678Z, es un ejemplo?".

The number in such a message is the firm's placeholder, not the prospect's data, so the
identifier detectors' matches are dropped. "For example" ("zum Beispiel", "par exemple",
"por ejemplo") introduces the prospect's own data and does not count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

from bot.domain.detectors.words import fold

__all__ = ["IDENTIFIER_DETECTORS", "asks_about_an_example", "without_examples"]

# The detectors whose matches are values a form could show as an example.
IDENTIFIER_DETECTORS = frozenset(
    {
        "passport_number",
        "national_id_number",
        "tax_id",
        "social_security_number",
        "date_of_birth",
        "iban",
        "payment_card",
    }
)
_EXAMPLE = re.compile(
    r"(?<!for )(?<!zum )(?<!par )(?<!por )(?<![\w])(?:an? |ein |un |una )?"
    r"(?:example|sample|placeholder|dummy|beispiel\w*|platzhalter|muster\w*|exemple|fictif"
    r"|ejemplo|ficticio)(?![\w])",
    re.IGNORECASE,
)

T = TypeVar("T")


def asks_about_an_example(text: str) -> bool:
    """Whether the message asks whether a value is an example or placeholder."""
    folded = fold(text)
    return "?" in folded and _EXAMPLE.search(folded) is not None


def without_examples(text: str, name: str, matches: Sequence[T]) -> list[T]:
    """``matches`` of detector ``name``, or none when they are an example asked about."""
    if name in IDENTIFIER_DETECTORS and matches and asks_about_an_example(text):
        return []
    return list(matches)
