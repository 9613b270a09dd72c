"""Debts disclosed in passing: "still paying off 12k on the car", "90k left on the
mortgage", "ich zahle noch 15.000 fur das Auto ab", "il nous reste 140 000 EUR de
credit", "todavia estoy pagando 10.000 del coche".

A debt is an amount in the same clause as a word of owing or repaying, said about the
prospect (a first-person word, or "still"/"noch"/"encore"/"todavia"). Questions about the
firm's loans ("what's the interest on a 10k car loan?") are not disclosures.
"""

from __future__ import annotations

import re

from bot.domain.detectors.order_words import CONDITION, HOW_TO
from bot.domain.detectors.words import FIRST_PERSON, Found, clause_bounds, fold, words

__all__ = ["find_debt"]

_DEBT_WORDS = words(
    # English
    r"pay(?:ing)? (?:off|back|down)",
    r"repay(?:ing)?",
    r"owe",
    r"owing",
    r"owed",
    r"debts?",
    r"outstanding",
    r"left (?:on|to pay)",
    r"to go on",
    r"overdraft",
    r"on finance",
    r"in the red",
    # German
    r"ab(?:zu)?zahlen",
    r"abbezahlen",
    r"abstottern",
    r"stotter\w* [^?!;\n]{0,40}\bab",
    r"zahle\w* [^?!;\n]{0,40}\bab",
    r"schulden",
    r"restschuld",
    r"offen",
    r"tilge\w*",
    r"im minus",
    # French
    r"rembours\w*",
    r"dois",
    r"devons",
    r"dettes?",
    r"il (?:me|nous) reste",
    r"decouvert",
    # Spanish
    r"pagando",
    r"debo",
    r"debemos",
    r"deudas?",
    r"(?:me|nos) quedan?",
    r"pendiente",
    r"en numeros rojos",
)
# A loan word discloses a debt only when it is one the prospect has: "90k left on the
# mortgage", not "a mortgage of 200k" asked for.
_LOAN = words(
    r"loans?",
    r"mortgage",
    r"kredit\w*",
    r"darlehen",
    r"hypothek\w*",
    r"credits?",
    r"prets?",
    r"prestamos?",
    r"hipoteca",
)
_EXISTING = words(
    r"still",
    r"left",
    r"remaining",
    r"current",
    r"existing",
    r"noch",
    r"offen",
    r"laufend\w*",
    r"encore",
    r"reste",
    r"en cours",
    r"todavia",
    r"aun",
    r"quedan?",
    r"pendiente",
    r"actual",
    r"sigo",
    r"seguimos",
)
_OWN = words(
    r"still",
    r"noch",
    r"encore",
    r"todavia",
    r"aun",
    r"nos",
    r"i'?m",
    r"we'?re",
    r"we'?ve",
    r"i'?ve",
)
_AMOUNT = re.compile(
    r"(?<![\w.,/])(?:[€$£]\s?)?(?:\d{1,3}(?:[.,' ]\d{3})+|\d+(?:[.,]\d+)?\s?k|\d{3,})"
    r"(?:\s?(?:€|eur(?:os?)?|gbp|usd|chf|quid|pounds?|dollars?))?(?![\w/.,]\d)(?![\w])",
    re.IGNORECASE,
)
_YEAR = re.compile(r"(?:19|20)\d{2}$")
# "a 10k car loan with you", "bei Ihnen", "chez vous", "con vosotros": the firm's product.
_FIRM = words(r"with you", r"you offer", r"bei ihnen", r"bei euch", r"chez vous", r"con vosotros")


def find_debt(text: str) -> list[Found]:
    """Each amount owed or being repaid by the prospect, as its span."""
    folded = fold(text)
    found: list[Found] = []
    for m in _AMOUNT.finditer(folded):
        if _YEAR.match(m.group().strip()) and not re.search(r"[€$£k]|eur", m.group(), re.I):
            continue  # "till 2028"
        lo, hi = clause_bounds(folded, m.start(), m.end(), stops=".?!;\n")
        loan = _LOAN.search(folded, lo, hi) and _EXISTING.search(folded, lo, hi)
        if not (_DEBT_WORDS.search(folded, lo, hi) or loan):
            continue
        if not (FIRST_PERSON.search(folded, lo, hi) or _OWN.search(folded, lo, hi)):
            continue
        if CONDITION.search(folded, lo, m.start()) or _FIRM.search(folded, lo, hi):
            continue
        question = hi < len(folded) and folded[hi] == "?"
        if question and HOW_TO.search(folded, lo, hi):
            continue
        found.append((m.start(), m.end(), 0.7))
    return found
