"""Instructions to trade or move money: "buy 10 shares of ...", "uberweise 300 Euro",
"vends mes parts", "transfiere 100 euros".

An order is a trade verb used as an instruction (imperative, "I want to ...", "can you
... for me", a first-person present like "compro") together with what to trade: a
quantity, an amount, "all", or "my <holding>". Questions about how trading works ("how
do I buy shares with you?", "can I transfer money abroad?") are not orders.
"""

from __future__ import annotations

import re

from bot.domain.detectors.words import Found, clause_bounds, fold, words

__all__ = ["find_trade_instruction"]

_TRADE_VERB = words(
    # English
    r"buy",
    r"sell",
    r"purchase",
    r"transfer",
    r"send",
    r"wire",
    r"pay",
    r"put",
    r"move",
    r"withdraw",
    r"liquidate",
    r"dump",
    r"cash out",
    r"invest",
    # German
    r"(?:ver)?kauf(?:e|en|t)?",
    r"u(?:e)?berweis(?:e|en|t)?",
    r"transferier(?:e|en|t)?",
    r"investier(?:e|en|t)?",
    r"anlegen",
    r"steck(?:e|en|t)?",
    r"zahl(?:e|en|t)?",
    r"schick(?:e|en|t)?",
    r"sende(?:n|t)?",
    r"abheben",
    # French
    r"achet(?:e|ez|er)",
    r"vend(?:s|ez|re)",
    r"vir(?:e|ez|er)",
    r"transfer(?:e|ez|er)",
    r"plac(?:e|ez|er)",
    r"met(?:s|tez|tre)",
    r"investi(?:s|ssez|r)",
    r"envoi(?:e|ez)",
    r"envoy(?:ez|er)",
    r"pay(?:e|ez|er)",
    r"retir(?:e|ez|er)",
    # Spanish
    r"compr(?:a|e|en|ar|o)",
    r"vend(?:e|a|an|er|o)",
    r"transfier(?:e|a|o)",
    r"transferir",
    r"envi(?:a|e|ar|o)",
    r"met(?:e|a|er|o)",
    r"pon(?:ga|er|go)?",
    r"invier(?:te|ta|to)",
    r"invertir",
    r"pag(?:a|ue|ar)",
    r"retir(?:a|e|ar|o)",
    r"saca(?:r)?",
)
# A verb form that already says "I do it now".
_FIRST_PERSON_VERB = words(
    r"ich (?:ver)?kaufe",
    r"ich u(?:e)?berweise",
    r"ich transferiere",
    r"j'achete",
    r"je (?:vends|vire|transfere|place|mets)",
    r"compro",
    r"vendo",
    r"transfiero",
    r"envio",
)
_INTENT = words(
    r"i (?:want|wanna|need|wish) to",
    r"i wanna",
    r"i'?d (?:like|love|want) to",
    r"i would (?:like|love) to",
    r"i'?ll",
    r"i will",
    r"i'?m going to",
    r"i'?m gonna",
    r"let'?s",
    r"go ahead and",
    r"ich (?:will|mochte|moechte|werde|muss)",
    r"ich (?:wurde|wuerde|hatte|haette) gerne?",
    r"je (?:veux|voudrais|souhaite|vais|dois)",
    r"j'aimerais",
    r"quiero",
    r"quisiera",
    r"me gustaria",
    r"voy a",
    r"deseo",
    r"necesito",
)
_REQUEST = words(
    r"please",
    r"pls",
    r"plz",
    r"(?:can|could|would) you",
    r"for me",
    r"bitte",
    r"(?:kannst|konntest|koenntest) du",
    r"(?:konnen|konnten|koennen|koennten) sie",
    r"fur mich",
    r"fuer mich",
    r"s'il (?:vous|te) plait",
    r"svp",
    r"stp",
    r"(?:pouvez|pourriez)-vous",
    r"(?:peux|pourrais)-tu",
    r"pour moi",
    r"por favor",
    r"(?:puedes|podrias|puede usted|podria usted)",
    r"para mi",
)
_HOW_TO = words(
    r"how",
    r"can i",
    r"could i",
    r"may i",
    r"is it possible",
    r"do i",
    r"do you",
    r"is there",
    r"wie",
    r"kann ich",
    r"konnte ich",
    r"muss ich",
    r"ist es moglich",
    r"gibt es",
    r"comment",
    r"puis-je",
    r"est-ce que je peux",
    r"est-il possible",
    r"peut-on",
    r"dois-je",
    r"como",
    r"puedo",
    r"se puede",
    r"es posible",
    r"tengo que",
    r"hay que",
)
_NEGATION = words(
    r"don'?t",
    r"do not",
    r"not",
    r"never",
    r"nicht",
    r"nie",
    r"kein\w*",
    r"ne",
    r"n'",
    r"pas",
    r"jamais",
    r"no",
    r"nunca",
)
_CONDITION = words(
    r"if", r"when", r"once", r"wenn", r"falls", r"sobald", r"si", r"quand", r"cuando"
)
_FILLERS = re.compile(
    r"(?:[\s,:\-]|\b(?:please|pls|plz|ok|okay|so|then|now|and|just|also|right|hi|hey|bitte"
    r"|dann|jetzt|und|also|hallo|alors|maintenant|et|stp|svp|bonjour|salut|por favor|vale"
    r"|entonces|ahora|y|pues|hola|oui|yes|ja|si)\b)*",
    re.IGNORECASE,
)
_NON_FINANCIAL_THINGS = (
    r"house|home|car|flat|apartment|haus|wohnung|auto|maison|appartement|voiture|casa|coche"
    r"|piso|apartamento|time|questions?|details|data|daten|documents?|donnees|datos"
)
_QUANTITY = re.compile(
    r"(?<![\w.,])(?:[€$£]\s?)?\d+(?:[.,' ]\d{3})*(?:[.,]\d+)?"
    r"(?:\s?(?:k|%|€|\$|£|eur(?:os?)?|usd|dollars?|chf|shares?|stocks?|units?|aktien|anteile"
    r"|stuck|actions|parts|titres|acciones|participaciones)(?![\w]))?"
    r"|(?<![\w])(?:all|everything|half|the rest|alle|alles|die halfte|den rest|tout|toutes"
    r"|tous|la moitie|le reste|todo|todas|todos|la mitad|el resto)(?![\w])"
    rf"|(?<![\w])(?:my|meine?[nms]?|mes|mon|ma|mis|mi)\s+(?!(?:{_NON_FINANCIAL_THINGS})\b)\w{{2,}}",
    re.IGNORECASE,
)


def find_trade_instruction(text: str) -> list[Found]:
    """Each trade verb given as an instruction with something to trade, as one span from
    the verb to the quantity."""
    folded = fold(text)
    found: list[Found] = []
    for verb in _TRADE_VERB.finditer(folded):
        lo, hi = clause_bounds(folded, verb.start(), verb.end(), stops=".?!;\n")
        if any(s < verb.end() and verb.start() < e for s, e, _ in found):
            continue
        quantity = _quantity(folded, verb, lo, hi)
        if quantity is None or not _is_instruction(folded, verb, lo, hi):
            continue
        start, end = min(verb.start(), quantity[0]), max(verb.end(), quantity[1])
        found.append((start, end, 0.8))
    return found


def _quantity(folded: str, verb: re.Match[str], lo: int, hi: int) -> tuple[int, int] | None:
    """The nearest quantity after the verb, or before it in a verb-final clause."""
    after = _QUANTITY.search(folded, verb.end(), hi)
    if after is not None:
        return after.start(), after.end()
    before = list(_QUANTITY.finditer(folded, lo, verb.start()))
    return (before[-1].start(), before[-1].end()) if before else None


def _is_instruction(folded: str, verb: re.Match[str], lo: int, hi: int) -> bool:
    part_lo, _ = clause_bounds(folded, verb.start(), verb.end(), stops=",.?!;\n")
    lead = folded[part_lo : verb.start()]
    if _NEGATION.search(folded, lo, verb.start()) or _CONDITION.search(lead):
        return False
    request = _REQUEST.search(folded, lo, hi) is not None
    question = hi < len(folded) and folded[hi] == "?"
    if question and not request and _HOW_TO.search(folded, lo, hi):
        return False
    first_person = _FIRST_PERSON_VERB.search(folded, max(lo, verb.start() - 4), verb.end())
    imperative = _FILLERS.fullmatch(lead) is not None
    intent = _INTENT.search(folded, lo, verb.start()) is not None
    return bool(imperative or intent or request or first_person)
