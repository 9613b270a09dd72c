"""Orders without a trade verb: an amount sent into a product ("300 into the tech fund
please", "500 in den World-ETF bitte", "300 dans le fonds tech", "300 al fondo tech"),
a number of units taken ("i'll take 20 of the world etf", "ich nehm 20 Stück", "je
prends 20 parts", "me quedo 20 participaciones"), an order type with a quantity ("limit
order: 20 nvidia at 110"). Not in how-to questions, conditions, negations, questions
asking whether to trade, or statements of what the prospect already holds.
"""

from __future__ import annotations

import re

from bot.domain.detectors.order_words import (
    CONDITION,
    NEGATION,
    ORDER_TYPE,
    QUANTITY,
    REQUEST,
    TRADE_VERB,
    WHETHER,
)
from bot.domain.detectors.words import clause_bounds, words

__all__ = ["find_verbless_order"]

_UNITS = (
    r"shares?|units?|stocks?|stuck|aktien|anteile|parts|actions|titres|acciones"
    r"|participaciones|titulos|of (?:the|your|it|them)|von (?:dem|den|der)|vom"
    r"|du|de la|des|del|de los"
)
# "i'll take 20 of the world etf", "ich nehm 20 Stück", "je prends 20 parts", "me quedo 20"
_TAKE = re.compile(
    r"(?<![\w])(?:i'?ll (?:take|have|grab)|i will (?:take|have)|ich nehm(?:e)?|nehm(?:e)? ich"
    r"|je (?:prends|prendrai)|me quedo(?: con)?|me llevo)\s+(?P<q>\d+(?:[.,]\d+)?\s?k?)"
    rf"\s+(?:{_UNITS})(?![\w])",
    re.IGNORECASE,
)
_MONEY = (
    r"(?:[€$£]\s?)?\d+(?:[.,' ]\d{3})*(?:[.,]\d+)?\s?(?:k|€|eur(?:os?)?|quid|pounds?|dollars?)?"
)
# "100 a month into ...", "100 im Monat in ...", "100 par mois sur ...", "100 al mes al ..."
_EVERY = (
    r"(?:(?:a|per|every|each|im|pro|jeden|par|chaque|al|por|cada)\s+"
    r"(?:month|week|year|monat|woche|jahr|mois|semaine|an|mes|semana|ano)\s+)"
)
# An amount sent somewhere: "300 into the tech fund", "500 in den world etf",
# "300 dans le fonds tech", "300 al fondo tech", "2k vom Tagesgeld in den S&P Fonds".
_INTO = re.compile(
    rf"(?<![\w.,])(?P<q>{_MONEY})(?![\w])\s*{_EVERY}?"
    r"(?:(?:from|vom|von|du|de)\s+[^,.?!;\n]{0,30}?\s)?"
    r"(?:into|onto|to|in(?: den| die| das|s)|aufs|auf (?:den|das|mein)|dans|sur|vers|al|a la"
    r"|hacia|en (?:el|la))\s+[^,.?!;\n]{0,30}?"
    r"(?:fund|etf|tracker|index|portfolio|pot|isa|fonds|etf|depot|sparplan|tagesgeld|livret"
    r"|pea|fondo|cartera|plan)s?(?![\w])",
    re.IGNORECASE,
)
_HOLDING_LEAD = words(
    r"i have",
    r"i'?ve got",
    r"i got",
    r"i hold",
    r"we have",
    r"there'?s",
    r"(?:ich )?hab(?:e|en)?",
    r"liegen",
    r"j'ai",
    r"nous avons",
    r"il y a",
    r"tengo",
    r"tenemos",
    r"hay",
)


def find_verbless_order(folded: str) -> list[tuple[int, int]]:
    """Orders without a trade verb, in folded text: an amount sent into a product, a
    number of units taken, an order type with a quantity. Not in how-to questions,
    conditions, negations or statements of what the prospect already holds."""
    spans: list[tuple[int, int]] = []
    candidates = [(m.start(), m.end()) for m in _TAKE.finditer(folded)]
    candidates += [(m.start(), m.end()) for m in _INTO.finditer(folded)]
    for m in ORDER_TYPE.finditer(folded):
        lo, hi = clause_bounds(folded, m.start(), m.end(), stops=".?!;\n")
        quantity = QUANTITY.search(folded, lo, hi)
        if quantity is not None:
            candidates.append((min(m.start(), quantity.start()), max(m.end(), quantity.end())))
    for start, end in candidates:
        lo, hi = clause_bounds(folded, start, end, stops=".?!;\n")
        lead = folded[lo:start]
        if NEGATION.search(lead) or CONDITION.search(lead) or WHETHER.search(folded, lo, hi):
            continue
        if _HOLDING_LEAD.search(folded, lo, end) or TRADE_VERB.search(lead):
            continue  # "i have 500 in the fund"; a trade verb is judged on its own
        question = hi < len(folded) and folded[hi] == "?"
        if question and not REQUEST.search(folded, lo, hi):
            continue
        spans.append((start, end))
    return spans
