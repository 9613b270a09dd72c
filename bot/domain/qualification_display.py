"""A prospect's qualification answers in plain words, for the people who read them.

The answers are kept as codes (``mortgage``, ``DE``, ``fr``, ``evening``); an advisor
reads "Lives in: Germany (DE)". The console is in English, so the names are too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.domain.place_names import country_name, language_name
from bot.domain.qualification import SKIPPED, SLOTS

__all__ = ["LABELS", "in_plain_words"]

LABELS: Mapping[str, str] = {
    "product": "Interested in",
    "existing_client": "Already a client",
    "country": "Lives in",
    "language": "Prefers to talk in",
    "contact_time": "Best time to contact",
}
_YES_NO = {"yes": "yes", "no": "no"}


def _value(slot: str, value: str) -> str:
    if value == SKIPPED:
        return "rather not say"
    if slot == "country":
        name = country_name(value, "en")
        return f"{name} ({value})" if name else value
    if slot == "language":
        return language_name(value, "en")
    if slot == "existing_client":
        return _YES_NO.get(value, value)
    return value.replace("_", " ")


def in_plain_words(answers: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(label, answer) for each question, in the usual order, then whether all were
    answered; [] when there are no answers. ``answers`` is the handoff summary's
    ``qualification``: slot -> value or None, and ``complete``."""
    if not answers:
        return []
    order = {slot: n for n, slot in enumerate(SLOTS)}
    slots = sorted((s for s in answers if s != "complete"), key=lambda s: order.get(s, 99))
    rows = [
        (LABELS.get(slot, slot), "not answered yet" if value is None else _value(slot, value))
        for slot in slots
        if isinstance(value := answers[slot], str | None)
    ]
    rows.append(("All questions answered", "yes" if answers.get("complete") else "not yet"))
    return rows
