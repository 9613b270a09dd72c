"""Dates of birth given casually, as a year or an age the prospect reached: "born in
'91", "i just turned 34", "bin Jahrgang 1985", "ich bin 40 geworden", "je suis nee en
1990", "j'ai eu 34 ans", "naci en el 91", "soy del 85", "acabo de cumplir 34".

An age alone ("I'm 45", "j'ai 34 ans") is not a date of birth; reaching it ("turned
34") dates the birthday. Only the prospect's own: "my son turned 18" or "the fund
turned 10" are not found, so the patterns need a first-person subject or start the
message.
"""

from __future__ import annotations

import re

from bot.domain.detectors.words import Found, fold

__all__ = ["find_birth_year"]

_YEAR = r"(?:(?:19|20)\d{2}|'\d{2})"
_SHORT_YEAR = r"(?:(?:19|20)?\d{2}|'\d{2})"
_AGE = r"\d{2}"
_PATTERNS = (
    # English
    rf"(?:^\W*|\bi(?:'ve| have)? (?:just )?|\bjust )turned {_AGE}\b",
    rf"(?:^\W*|\bi (?:was|am|'m) |\bi'm |\bim |\bwas )born (?:in |back in )?{_YEAR}(?!\d)",
    rf"\bi'?ll be {_AGE} (?:next|this|in)\b",
    # German
    rf"\bjahrgang {_SHORT_YEAR}(?!\d)",
    rf"\b(?:ich bin|bin)\b[^,.?!;\n]{{0,30}}\b{_AGE} geworden\b",
    rf"\b(?:ich bin |bin )?(?:im jahr |in )?{_YEAR} geboren\b",
    rf"(?:^\W*|\bich bin |\bbin )geboren (?:im jahr |in |anno )?{_YEAR}(?!\d)",
    # French
    rf"\bj'ai eu {_AGE} ans\b",
    rf"\bje (?:fete|vais feter|vais avoir|viens d'avoir) (?:mes )?{_AGE} ans\b",
    rf"(?:^\W*|\bje suis )nee? en {_YEAR}(?!\d)",
    # Spanish
    rf"\b(?:acabo de |voy a )cumplir {_AGE}\b",
    rf"\bcumpli {_AGE}\b",
    rf"\bnaci en (?:el )?{_SHORT_YEAR}(?!\d)",
    rf"\bsoy del {_SHORT_YEAR}(?!\d)",
)
_BIRTH_YEAR = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE | re.MULTILINE)


def find_birth_year(text: str) -> list[Found]:
    """The prospect's own birth year or age, given in passing."""
    return [(m.start(), m.end(), 0.8) for m in _BIRTH_YEAR.finditer(fold(text))]
