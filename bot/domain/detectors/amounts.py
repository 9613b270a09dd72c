"""Amounts that disclose the prospect's own finances: income, savings, holdings, debts.

An amount alone is not sensitive: prospects quote fees, minimum deposits and prices all
the time. A disclosure is an amount next to an income/savings/holding/debt word, said
about the prospect (a first-person word in the same sentence, or an income word such as
"salary" or "net" right next to it in a statement: "salary 3200 net per month"), and
not as a hypothetical question ("what would I earn on 10,000?").
"""

from __future__ import annotations

import re

from bot.domain.detectors.identifiers import find_iban_shaped, find_payment_card
from bot.domain.detectors.words import FIRST_PERSON, Found, clause_bounds, fold, near, words

__all__ = ["MONEY_WORDS", "find_financial_amount"]

_CURRENCY = (
    r"(?:€|\$|£|eur(?:os?)?|usd|dollars?|gbp|pounds?|quid|bucks|chf|franken|francs?|pesos?"
    r"|balles|pavos|pelas)"
)
_MULTIPLIER = (
    r"(?:k|m|mn|bn|mio\.?|mrd\.?|mill?\.?|millions?|millionen|millones|milliards?|mil|tausend"
    r"|thousand|grand|mille|riesen|lappen)"
)
_NUMBER = r"\d{1,3}(?:[.,' ]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_AMOUNT = re.compile(
    rf"(?<![\w.,:/-])(?:(?P<cur1>{_CURRENCY})\s?)?(?P<num>{_NUMBER})"
    rf"(?:\s?(?P<mult>{_MULTIPLIER})(?![\w]))?(?:\s?(?P<cur2>{_CURRENCY}))?(?![\w:/]|[.,]\d)",
    re.IGNORECASE,
)
# Things counted or measured that are not money.
_NOT_MONEY_AFTER = re.compile(
    r"^\s*(?:%|percent|per ?cent|prozent|pour ?cent|por ?ciento|years?|yrs?|jahren?|ans?|annees?"
    r"|anos?|months?|monaten?|mois|mes(?:es)?|weeks?|wochen?|semaines?|semanas?|days?|tagen?"
    r"|jours?|dias?|hours?|h\b|std|stunden?|heures?|horas?|minutes?|mins?|minuten?|minutos?"
    r"|kids|children|kinder[n]?|enfants|hijos|people|personen|personnes|personas|times|mal"
    r"|fois|veces|am\b|pm\b|uhr|km|kg|m2|qm|sqm)(?![\w])",
    re.IGNORECASE,
)
_HOLDING_AFTER = re.compile(
    r"^\s*(?:\w+\s+){0,2}?(?:shares?|stocks?|units?|aktien|anteile|stuck|actions|parts"
    r"|titres|acciones|participaciones|bitcoins?|btc|eth|etfs?)(?![\w])",
    re.IGNORECASE,
)
_YEAR_PREPOSITION = re.compile(
    r"(?:^|\W)(?:in|since|until|till|by|from|the|during|seit|bis|ab|im|von|wahrend|depuis"
    r"|jusqu'en|en|des|durant|pendant|durante"
    r"|desde|hasta|del|de|el|le|year|jahr|annee|ano)\s*$",
    re.IGNORECASE,
)
_DATE = re.compile(r"\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})|\d{4}-\d{1,2}-\d{1,2}")

MONEY_WORDS = words(
    # English
    r"earn\w*",
    r"salary",
    r"income",
    r"wages?",
    r"paycheck",
    r"take home",
    r"savings?",
    r"saved",
    r"nest egg",
    r"(?:in|on) (?:my|our|the) (?:\w+ )?account",
    r"balance",
    r"portfolio",
    r"worth",
    r"own",
    r"hold(?:ing)?s?",
    r"invest(?:ed|ing|ments?)?",
    r"debts?",
    r"owe",
    r"mortgage",
    r"loans?",
    r"overdraft",
    r"inherit\w*",
    r"pension",
    r"bonus",
    r"rent",
    r"assets?",
    r"mak(?:e|ing)",
    r"bring(?:ing)? in",
    r"left (?:over|each|every|per|a|at the end)",
    r"pot",
    r"isa",
    r"(?:a|per|every|each) (?:month|year|week)",
    r"after tax",
    r"monthly",
    r"yearly",
    r"net",
    r"gross",
    # German
    r"verdien\w*",
    r"gehalt",
    r"lohn",
    r"einkommen",
    r"netto",
    r"brutto",
    r"erspar\w*",
    r"gespart",
    r"spar\w*",
    r"auf (?:meinem|unserem|dem) (?:\w+)?konto",
    r"kontostand",
    r"guthaben",
    r"depot",
    r"vermogen",
    r"schulden",
    r"kredit\w*",
    r"darlehen",
    r"hypothek",
    r"geerbt",
    r"erbschaft",
    r"rente",
    r"miete",
    r"investier\w*",
    r"angelegt",
    r"tagesgeld",
    r"festgeld",
    r"(?:im|pro|jeden|jedes) (?:monat|jahr)",
    r"nach steuern",
    r"monatlich",
    r"bleib(?:t|en) (?:mir|uns)",
    r"ubrig",
    r"betriebsrente",
    r"angespart",
    r"wert",
    # French
    r"gagn\w*",
    r"salaire",
    r"revenus?",
    r"paie",
    r"brut",
    r"epargn\w*",
    r"economi\w*",
    r"sur (?:mon|notre|le) (?:\w+ )?compte",
    r"solde",
    r"portefeuille",
    r"dettes?",
    r"dois",
    r"doit",
    r"devons",
    r"pret",
    r"credit",
    r"hypotheque",
    r"herit\w*",
    r"patrimoine",
    r"loyer",
    r"retraite",
    r"livret",
    r"assurance[- ]vie",
    r"vau[tx]",
    r"valent",
    r"touch(?:e|ons|ez|ent)",
    r"(?:il )?(?:me|nous) reste",
    r"investi\w*",
    r"(?:par|chaque) (?:mois|an|annee)",
    r"apres impots",
    # Spanish
    r"gan[oa]\w*",
    r"sueldo",
    r"salario",
    r"ingresos?",
    r"nomina",
    r"neto",
    r"bruto",
    r"ahorr\w*",
    r"en (?:mi|la|nuestra) (?:\w+ )?cuenta",
    r"saldo",
    r"cartera",
    r"deudas?",
    r"debo",
    r"debemos",
    r"debe",
    r"hipoteca",
    r"prestamos?",
    r"credito",
    r"herencia",
    r"here\w+",
    r"patrimonio",
    r"alquiler",
    r"invert\w*",
    r"cobro",
    r"cobramos",
    r"plan(?:es)? de (?:pensiones|empleo|jubilacion)",
    r"me qued(?:a|an)",
    r"nos qued(?:a|an)",
    r"entran",
    r"(?:al|por|cada) (?:mes|ano)",
    r"despues de impuestos",
)
# "I have 50,000 euros": having money is a disclosure when the amount is clearly money.
_HAVE_WORDS = words(
    r"i have",
    r"i own",
    r"(?:mir )?gehor(?:t|en)(?: mir)?",
    r"i've got",
    r"we have",
    r"(?:ich )?hab(?:e|en)?",
    r"besitze",
    r"j'ai",
    r"nous avons",
    r"possede",
    r"tengo",
    r"tenemos",
    r"poseo",
)
# Words that say the amount is the prospect's pay even without "I" or "my": people type
# "salary 3200 net per month" about themselves, never about someone else.
_OWN_INCOME = words(
    r"salary",
    r"net",
    r"gross",
    r"take home",
    r"after tax",
    r"left (?:over|each|every|per|a)",
    r"gehalt",
    r"netto",
    r"brutto",
    r"nach steuern",
    r"salaire",
    r"net",
    r"brut",
    r"apres impots",
    r"sueldo",
    r"salario",
    r"netos?",
    r"brutos?",
    r"nomina",
)
# ... unless it is a price or a condition of a product: "a minimum salary of 3000".
_REQUIREMENT = words(
    r"fees?",
    r"price",
    r"costs?",
    r"charges?",
    r"gebuhr\w*",
    r"preis",
    r"kost\w*",
    r"frais",
    r"prix",
    r"cout\w*",
    r"comision\w*",
    r"precio",
    r"cuesta",
    r"minimum",
    r"min",
    r"required",
    r"requirement",
    r"mindest\w*",
    r"minimal\w*",
    r"minimo",
    r"requis",
    r"exige",
)
_HYPOTHETICAL = words(
    r"if",
    r"would",
    r"could",
    r"can i",
    r"suppose",
    r"what if",
    r"wenn",
    r"falls",
    r"wurden?",
    r"konnte",
    r"kann ich",
    r"angenommen",
    r"si",
    r"pourrais",
    r"pourrait",
    r"serait",
    r"puis-je",
    r"podria",
    r"puedo",
    r"seria",
    r"supongamos",
)


def _value(num: str) -> float:
    digits = re.sub(r"[.,' ](?=\d{3}(?:\D|$))", "", num).replace(",", ".")
    try:
        return float(digits)
    except ValueError:
        return 0.0


def find_financial_amount(text: str) -> list[Found]:
    """Amounts the prospect discloses about their own income, savings, holdings or debts."""
    folded = fold(text)
    taken = [(s, e) for s, e, _ in find_iban_shaped(text) + find_payment_card(text)]
    taken += [(m.start(), m.end()) for m in _DATE.finditer(folded)]
    found: list[Found] = []
    for m in _AMOUNT.finditer(folded):
        start, end = m.start(), m.end()
        if any(s < end and start < e for s, e in taken):
            continue
        after = folded[end : end + 40]
        if _NOT_MONEY_AFTER.match(after):
            continue
        money = bool(m.group("cur1") or m.group("cur2") or m.group("mult"))
        holding = bool(_HOLDING_AFTER.match(after))
        if not (money or holding or _plain_number_is_money(folded, m)):
            continue
        context = near(MONEY_WORDS, folded, start, end, before=40, after=40)
        having = near(_HAVE_WORDS, folded, start, start, before=25, after=0)
        if not context and not ((money or holding) and having):
            continue
        if not _about_the_prospect(folded, start, end):
            continue
        found.append((start, end, 0.85 if money or holding else 0.75))
    return found


def _plain_number_is_money(folded: str, m: re.Match[str]) -> bool:
    """A bare number counts when it is large enough and not a year after "in", "seit" ..."""
    num = m.group("num")
    if _value(num) < 100:
        return False
    if re.fullmatch(r"(?:19|20)\d{2}", num):
        return not _YEAR_PREPOSITION.search(folded[max(0, m.start() - 12) : m.start()])
    return True


def _about_the_prospect(folded: str, start: int, end: int) -> bool:
    """A first-person word in the sentence (or an income word next to the amount in a
    statement), and not a hypothetical question."""
    lo, hi = clause_bounds(folded, start, end, stops=".?!;\n")
    question = hi < len(folded) and folded[hi] == "?"
    if not FIRST_PERSON.search(folded, lo, hi) and (
        question
        or not near(_OWN_INCOME, folded, start, end, before=25, after=25)
        or _REQUIREMENT.search(folded, lo, hi)
    ):
        return False
    if question:
        part_lo, part_hi = clause_bounds(folded, start, end, stops=",?!;\n")
        # a comma between digits is a thousands separator, not a clause break
        while part_lo > lo and folded[part_lo - 1] == "," and folded[part_lo].isdigit():
            part_lo, _ = clause_bounds(folded, part_lo - 1, part_lo - 1, stops=",?!;\n")
        if not FIRST_PERSON.search(folded, part_lo, part_hi):
            # an amount on its own belongs to the question: "how much can i pay in, 20000?"
            part_lo, part_hi = lo, hi
        if _HYPOTHETICAL.search(folded, part_lo, part_hi):
            return False
    return True
