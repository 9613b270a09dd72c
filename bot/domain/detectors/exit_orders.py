"""Orders that close a position without a buy/sell verb ("get me out of tesla now",
"dump all my apple shares", "raus aus Tesla, sofort", "liquidez tout mon portefeuille",
"cierra mi posicion en el ibex hoy"), and transfers to an IBAN ("500 euro an DE44 ...",
"the rent, 850, to GB60 ..."): an amount sent to a valid IBAN is an instruction, not only
the disclosure of an account.

An exit needs something that makes it an instruction about the prospect's own holding:
a possessive or "all/whole" object, or urgency ("now", "sofort", "ya", "at market").
How-to questions, questions asking whether to exit, conditions and negations are not
orders.
"""

from __future__ import annotations

import re

from bot.domain.detectors.identifiers import find_iban
from bot.domain.detectors.order_words import CONDITION, HOW_TO, NEGATION, REQUEST, WHETHER
from bot.domain.detectors.words import Found, clause_bounds, fold, words

__all__ = ["find_exit_order", "find_iban_transfer"]

# Verbs that only ever mean getting rid of a holding.
_STRONG_EXIT = words(
    r"(?:get|take|pull) (?:me|us) out of",
    r"(?:i|we) (?:want|need) out of",
    r"liquidate",
    r"dump",
    r"offload",
    r"unload",
    r"get rid of",
    r"ditch",
    r"cash out(?: of)?",
    r"sell off",
    r"raus aus",
    r"aus (?:dem|der|den|meine[mnr]?) [^,.?!;\n]{1,40}? raus",
    r"glattstellen",
    r"abst(?:o|oe)(?:ss|ß)en",
    r"loswerden",
    r"liquidieren",
    r"sort(?:ez|s)-moi",
    r"liquid(?:ez|er)",
    r"sold(?:ez|er)",
    r"debarrass(?:ez|e)-moi",
    r"s[aá]ca(?:me|nos) de",
    r"s[aá]queme de",
    r"liquid(?:a|e|ar) (?:mi|mis|tod[oa]s?|la|el|las|los|tout|mon|ma|mes)",
    r"desh(?:a|á)z(?:te|gase) de",
)
# Verbs that also close accounts or leave other things ("salir de dudas").
_WEAK_EXIT = words(
    r"exit",
    r"close (?:out )?(?:my|our|all|the whole|the entire|every)",
    r"close (?:the|that) position",
    r"get out of",
    r"aufl(?:o|oe)sen",
    r"aussteigen",
    r"sortir (?:completement |totalement |entierement )?(?:de|du|des|d')",
    r"clotur(?:ez|er)",
    r"ferm(?:ez|er) (?:ma|mes) positions?",
    r"salir (?:del|de)",
    r"cierr(?:a|e)(?:me)?",
    r"cerrar (?:mi|mis) posici\w*",
)
_PRODUCT = words(
    r"funds?",
    r"etfs?",
    r"shares?",
    r"stocks?",
    r"positions?",
    r"holdings?",
    r"fonds",
    r"aktien",
    r"anteile",
    r"actions",
    r"parts",
    r"fondos?",
    r"acciones",
    r"participaciones",
    r"posicion(?:es)?",
)
# The message opens with "out of ..." ("out of nvidia completely, today please").
_OPENS_WITH_OUT = re.compile(r"^\W*(?:ok\W+|so\W+|right\W+)?out of\b", re.IGNORECASE)
_OWN_OR_ALL = words(
    r"my",
    r"our",
    r"all",
    r"whole",
    r"entire",
    r"everything",
    r"completely",
    r"position",
    r"holding",
    r"portfolio",
    r"meine?[mnrs]?",
    r"alle[mnrs]?",
    r"alles",
    r"ganze[mnrs]?",
    r"komplett",
    r"depot",
    r"mon",
    r"ma",
    r"mes",
    r"tout",
    r"toutes?",
    r"tous",
    r"completement",
    r"portefeuille",
    r"mi",
    r"mis",
    r"tod[oa]s?",
    r"cartera",
    r"posicion",
)
_NOW = words(
    r"now",
    r"today",
    r"asap",
    r"immediately",
    r"right away",
    r"at (?:the )?market",
    r"before (?:the )?close",
    r"sofort",
    r"jetzt",
    r"heute",
    r"umgehend",
    r"zum marktpreis",
    r"immediatement",
    r"maintenant",
    r"aujourd'hui",
    r"tout de suite",
    r"au (?:prix du )?marche",
    r"ya",
    r"ahora",
    r"hoy",
    r"inmediatamente",
    r"a (?:precio de )?mercado",
)
# Closing an account or a session is not a trade.
_NOT_A_HOLDING = words(
    r"account", r"konto", r"compte", r"cuenta", r"app", r"session", r"chat", r"dudas?"
)


def find_exit_order(folded: str) -> list[tuple[int, int]]:
    """Exits from a position given as instructions, in folded text."""
    candidates = [(m.start(), m.end(), True) for m in _STRONG_EXIT.finditer(folded)]
    candidates += [(m.start(), m.end(), False) for m in _WEAK_EXIT.finditer(folded)]
    opening = _OPENS_WITH_OUT.match(folded)
    if opening:
        candidates.append((opening.end() - len("out of"), opening.end(), True))
    spans: list[tuple[int, int]] = []
    for start, end, strong in candidates:
        lo, hi = clause_bounds(folded, start, end, stops=".?!;\n")
        lead = folded[lo:start]
        if NEGATION.search(lead) or CONDITION.search(lead) or WHETHER.search(folded, lo, hi):
            continue
        if HOW_TO.search(folded, lo, hi):
            continue
        question = hi < len(folded) and folded[hi] == "?"
        if question and not REQUEST.search(folded, lo, hi):
            continue
        own = _OWN_OR_ALL.search(folded, lo, hi) is not None
        now = _NOW.search(folded, lo, hi) is not None
        if (strong and (own or now)) or (
            not strong
            and not _NOT_A_HOLDING.search(folded, lo, hi)
            and (own or (now and _PRODUCT.search(folded, lo, hi)))
        ):
            spans.append((start, hi))
    return spans


_AMOUNT = re.compile(
    r"(?<![\w.,])(?:[€$£]\s?)?\d+(?:[.,' ]\d{3})*(?:[.,]\d+)?\s?(?:k|€|eur(?:os?)?|gbp|usd|chf)?"
    r"(?![\w])",
    re.IGNORECASE,
)
# The IBAN is where the money goes: "to", "an", "auf", "sur", "vers", "a", "al" just before.
_TO = re.compile(
    r"(?<![\w])(?:to|into|onto|an|auf|nach|sur|vers|a|al|hacia|para)"
    r"(?:\s+(?:the|my|das|den|mein|le|la|mon|el|mi)?\s*(?:account|konto|compte|cuenta|iban))?"
    r"\s*:?\s*$",
    re.IGNORECASE,
)


def find_iban_transfer(text: str) -> list[Found]:
    """An amount sent to a valid IBAN, as one span from the amount to the IBAN."""
    folded = fold(text)
    found: list[Found] = []
    for start, end, _ in find_iban(text):
        lo, hi = clause_bounds(folded, start, end, stops=".?!;\n")
        if not _TO.search(folded, max(lo, start - 40), start):
            continue
        amounts = list(_AMOUNT.finditer(folded, lo, start))
        if not amounts:
            continue
        lead = folded[lo : amounts[0].start()]
        if NEGATION.search(lead) or CONDITION.search(lead) or HOW_TO.search(folded, lo, hi):
            continue
        question = hi < len(folded) and folded[hi] == "?"
        if question and not REQUEST.search(folded, lo, hi):
            continue
        found.append((amounts[0].start(), end, 0.8))
    return found
