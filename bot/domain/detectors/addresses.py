"""Home addresses: a street and a house number, written the way each language writes them.

    en  12 example street, flat 4 / 7 example close     (number, name, street type)
    de  musterstraße 12 / in der musterallee 7          (name+street suffix, number)
    fr  12 rue de l'exemple / au 7 impasse de l'exemple  (number, street type, name)
    es  calle del ejemplo 3 / avenida del ejemplo 7      (street type, name, number)

A postcode or a city alone is not an address ("a branch in the 80331 area"). Street
types that are also everyday words (close, way, place, court; chemin, route, cours;
paseo, camino) need a word about where the prospect lives or moved in the message. An
address that belongs to the firm ("is your branch at 12 high street open?") is not the
prospect's.
"""

from __future__ import annotations

import re

from bot.domain.detectors.words import Found, fold, near, words

__all__ = ["find_home_address"]

_EN_STRONG = (
    r"street|st|road|rd|avenue|ave|lane|ln|boulevard|blvd|terrace|crescent|drive|dr"
    r"|gardens|grove|mews"
)
_EN_WEAK = r"close|way|place|pl|court|ct|square|sq|row|hill|park|walk|view|rise|parade"
# Words that follow a number but never a house number, or cannot be part of a street name.
_NOT_A_NAME = (
    r"(?:in|on|at|the|a|an|to|for|of|from|by|my|your|and|or|with|is|are|was|minutes?|mins?"
    r"|hours?|days?|weeks?|months?|years?|times|shares?|people|kids|children|percent)\s"
)
_EN = re.compile(
    rf"(?<![\w.,/-])\d{{1,4}}[a-z]?,?\s+(?:(?!{_NOT_A_NAME})[a-z][\w'-]*\s+){{1,3}}?"
    rf"(?:(?P<strong>{_EN_STRONG})|(?P<weak>{_EN_WEAK}))\.?(?![\w])",
    re.IGNORECASE,
)
# German: the street type is the end of one word ("Musterstraße", "Hauptstr.") or, for
# a few, a word of its own ("Am Markt", "Kölner Straße").
_DE = re.compile(
    r"(?<![\w])[a-zäöüß][a-zäöüß-]{2,}(?:straße|strasse|str\.|weg|allee|gasse|platz|damm"
    r"|ufer|chaussee|steig|pfad|zeile)\s?(?P<number>\d{1,3}\s?[a-z]?)(?![\w]|[.,]\d)"
    r"|(?<![\w])(?:straße|strasse|allee|weg|platz|gasse)\s+(?P<number2>\d{1,3}\s?[a-z]?)"
    r"(?![\w]|[.,]\d)",
    re.IGNORECASE,
)
_FR_STRONG = r"rue|avenue|av\.?|boulevard|bd|impasse|allee|quai|residence|lotissement"
_FR_WEAK = r"chemin|route|place|cours|square|passage|villa|hameau"
_FR = re.compile(
    rf"(?<![\w.,/-])\d{{1,4}}(?:\s?(?:bis|ter|[ab]))?,?\s+"
    rf"(?:(?P<strong>{_FR_STRONG})|(?P<weak>{_FR_WEAK}))\s+(?:de |du |des |d'|de la )?[a-z][\w'-]*",
    re.IGNORECASE,
)
_ES_STRONG = r"(?:calle|avenida|avda|av|plaza|pza|ronda|travesia|glorieta)\.?(?![\w])|c/"
_ES_WEAK = r"(?:paseo|camino|carretera|urbanizacion|urb)\.?(?![\w])"
_ES = re.compile(
    rf"(?<![\w])(?:(?P<strong>{_ES_STRONG})|(?P<weak>{_ES_WEAK}))\s*"
    r"(?:de(?:l| la| los| las)?\s+)?[a-z][\w'-]*(?:\s+[a-z][\w'-]*){0,3}?,?\s+"
    r"(?:n[o°º.]?\s*)?\d{1,3}(?:\s?[a-z])?(?![\w]|[.,]\d)",
    re.IGNORECASE,
)
# Where the prospect lives, or moved to: makes a weak street type an address.
_RESIDENCE_WORDS = words(
    r"address",
    r"adress",
    r"live",
    r"living",
    r"lives",
    r"moved?",
    r"moving",
    r"new place",
    r"home",
    r"flat",
    r"apartment",
    r"house",
    r"postcode",
    r"zip",
    r"adresse",
    r"wohne?n?",
    r"wohnt",
    r"umgezogen",
    r"wohnung",
    r"anschrift",
    r"j'habite",
    r"habite?s?",
    r"habitons",
    r"habitez",
    r"domicile",
    r"demenage\w*",
    r"chez moi",
    r"vis",
    r"vivons",
    r"direccion",
    r"domicilio",
    r"vivo",
    r"vivimos",
    r"mudado",
    r"mudamos",
    r"piso",
    r"mi casa",
)
# The firm's address, quoted back or asked about.
_FIRM_BEFORE = words(
    r"your",
    r"branch",
    r"office",
    r"eure[rnms]?",
    r"euer",
    r"ihre",
    r"filiale",
    r"buro",
    r"zweigstelle",
    r"votre",
    r"vos",
    r"agence",
    r"bureau",
    r"vuestr[oa]s?",
    r"su",
    r"oficina",
    r"sucursal",
)


def find_home_address(text: str) -> list[Found]:
    """A street with its house number, in any of the four languages' usual order."""
    folded = fold(text)
    residence = _RESIDENCE_WORDS.search(folded) is not None
    found: list[Found] = []

    def add(m: re.Match[str], weak: bool) -> None:
        start, end = m.start(), m.end()
        if weak and not residence:
            return
        if near(_FIRM_BEFORE, folded, start, start, before=30, after=0):
            return
        if any(s < end and start < e for s, e, _ in found):
            return
        found.append((start, end, 0.7 if weak else 0.8))

    for pattern in (_EN, _FR, _ES):
        for m in pattern.finditer(folded):
            add(m, m.group("weak") is not None)
    for m in _DE.finditer(folded):
        add(m, False)
    return sorted(found)
