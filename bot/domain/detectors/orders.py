"""Instructions to trade or move money: "buy 10 shares of ...", "uberweise 300 Euro",
"vends mes parts", "transfiere 100 euros".

An order is a trade verb used as an instruction (imperative, "I want to ...", "can you
... for me", a first-person present like "compro", a German infinitive order like "2k in
den Fonds schieben") together with what to trade: a quantity, an amount, "all", or "my
<holding>". Orders without a trade verb count too: an amount sent into a product ("300
into the tech fund please"), taking a number of units ("i'll take 20 of the world etf")
and an order type with a quantity ("limit order: 20 nvidia at 110").

Questions about how trading works ("how do I buy shares with you?", "can I transfer
money abroad?") and questions asking whether to trade ("is it smart for me to sell my
shares now?", which is advice) are not orders.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator

from bot.domain.detectors.exit_orders import find_exit_order, find_iban_transfer
from bot.domain.detectors.order_words import (
    CONDITION,
    FILLERS,
    FIRST_PERSON_VERB,
    FOR_ME,
    HOW_TO,
    INTENT,
    NEGATION,
    ORDER_TYPE,
    QUANTITY,
    REQUEST,
    SAVING_PARTICLE,
    TRADE_VERB,
    WHETHER,
)
from bot.domain.detectors.verbless_orders import find_verbless_order
from bot.domain.detectors.words import Found, clause_bounds, fold

__all__ = ["find_trade_instruction"]


def find_trade_instruction(text: str) -> list[Found]:
    """Each trade verb given as an instruction with something to trade, as one span from
    the verb to the quantity; and the orders without a trade verb."""
    folded = fold(text)
    found: list[Found] = []
    for verb in TRADE_VERB.finditer(folded):
        lo, hi = clause_bounds(folded, verb.start(), verb.end(), stops=".?!;\n")
        if any(s < verb.end() and verb.start() < e for s, e, _ in found):
            continue
        if SAVING_PARTICLE.match(folded, verb.end()):
            continue
        quantity = _quantity(folded, verb, lo, hi)
        if quantity is None or not _is_instruction(folded, verb, lo, hi, quantity):
            continue
        start, end = min(verb.start(), quantity[0]), max(verb.end(), quantity[1])
        found.append((start, end, 0.8))
    for start, end in find_verbless_order(folded) + find_exit_order(folded):
        if not any(s < end and start < e for s, e, _ in found):
            found.append((start, end, 0.7))
    for start, end, confidence in find_iban_transfer(text):
        if not any(s < end and start < e for s, e, _ in found):
            found.append((start, end, confidence))
    return sorted(found)


# "the statement of 2024": a year after a preposition is a date, not an amount.
_YEAR_AFTER_PREPOSITION = re.compile(
    r"(?:\b(?:of|from|in|for|since|de|del|desde|en|du|depuis|von|vom|fur|fuer|seit|im|aus)\s+)"
    r"(?:19|20)\d{2}$"
)


def _quantities(folded: str, lo: int, hi: int) -> Iterator[re.Match[str]]:
    """The quantities between ``lo`` and ``hi``, in order, found one at a time: the
    nearest after a verb is usually the first, and a clause may hold hundreds."""
    for m in QUANTITY.finditer(folded, lo, hi):
        if not _YEAR_AFTER_PREPOSITION.search(folded, max(0, m.start() - 10), m.end()):
            yield m


def _quantity(folded: str, verb: re.Match[str], lo: int, hi: int) -> tuple[int, int] | None:
    """The nearest quantity after the verb, or before it in a verb-final clause."""
    after = next(_quantities(folded, verb.end(), hi), None)
    if after is not None:
        return after.start(), after.end()
    before = deque(_quantities(folded, lo, verb.start()), maxlen=1)
    return (before[0].start(), before[0].end()) if before else None


def _is_instruction(
    folded: str, verb: re.Match[str], lo: int, hi: int, quantity: tuple[int, int]
) -> bool:
    part_lo, _ = clause_bounds(folded, verb.start(), verb.end(), stops=",.?!;\n")
    lead = folded[part_lo : verb.start()]
    if NEGATION.search(folded, lo, verb.start()) or CONDITION.search(lead):
        return False
    if WHETHER.search(folded, lo, hi):
        return False
    request = REQUEST.search(folded, lo, hi) is not None
    request = request or FOR_ME.search(folded, verb.end(), hi) is not None
    question = hi < len(folded) and folded[hi] == "?"
    if question and not request and HOW_TO.search(folded, lo, hi):
        return False
    first_person = FIRST_PERSON_VERB.search(folded, max(lo, verb.start() - 4), verb.end())
    imperative = FILLERS.fullmatch(lead) is not None
    intent = INTENT.search(folded, lo, verb.start()) is not None
    order_type = ORDER_TYPE.search(folded, lo, hi) is not None and not question
    return bool(
        imperative
        or intent
        or request
        or first_person
        or order_type
        or _infinitive_order(folded, verb, part_lo, hi, quantity)
    )


def _infinitive_order(
    folded: str, verb: re.Match[str], part_lo: int, hi: int, quantity: tuple[int, int]
) -> bool:
    """German orders put the infinitive last: "2k vom Tagesgeld in den Fonds schieben"."""
    if not verb.group().endswith("en") or quantity[0] > verb.start():
        return False
    opening = FILLERS.match(folded, part_lo)
    starts_with_quantity = opening is not None and opening.end() == quantity[0]
    return starts_with_quantity and FILLERS.fullmatch(folded, verb.end(), hi) is not None
