"""Per-language word lists the detectors look for, and the helpers that look for them.

Prospects type casually: lower case, no accents, typos. Every list is therefore matched
case-insensitively against text folded by ``fold`` (accents removed, curly quotes made
straight), and written without accents. ``fold`` keeps the length of the text, so a
span found in the folded text is the same span in the original.
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata

__all__ = [
    "BIRTH_WORDS",
    "CLAUSE_LIMIT",
    "FIRST_PERSON",
    "ID_WORDS",
    "PASSPORT_WORDS",
    "PHONE_GIVING_WORDS",
    "SPANISH_NSS_WORDS",
    "SSN_WORDS",
    "TAX_WORDS",
    "UTR_WORDS",
    "Found",
    "clause_bounds",
    "fold",
    "near",
    "words",
]

Found = tuple[int, int, float]
"""What a detector function returns per hit: start, end, confidence."""


def _fold_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0xC0, 0x250):
        base = unicodedata.normalize("NFD", chr(code))[0]
        if base != chr(code) and base.isascii():
            table[code] = base
    table.update({ord("’"): "'", ord("‘"): "'", ord("´"): "'", ord("`"): "'"})
    table.update({ord("\u00a0"): " ", ord("\u202f"): " ", ord("–"): "-", ord("—"): "-"})
    return table


_FOLD = _fold_table()


def fold(text: str) -> str:
    """``text`` without accents and with straight quotes, the same length as ``text``."""
    return text.translate(_FOLD)


def words(*alternatives: str) -> re.Pattern[str]:
    """One case-insensitive pattern matching any of ``alternatives`` as whole words.

    Each alternative is a regular expression fragment; a space in it matches any run of
    spaces, so "date of birth" also matches "date  of birth", and " ?" any or none.
    """
    body = "|".join(a.replace(" ?", r"\s*").replace(" ", r"\s+") for a in alternatives)
    return re.compile(rf"(?<![\w])(?:{body})(?![\w])", re.IGNORECASE)


def near(
    pattern: re.Pattern[str],
    text: str,
    start: int,
    end: int,
    before: int = 50,
    after: int = 50,
) -> bool:
    """Whether ``pattern`` occurs within ``before``/``after`` characters of the span.

    The window stops at a question mark, exclamation mark or line break: a word in
    another sentence ("Do I need a passport? My order is 123") is not context.
    """
    lo, hi = clause_bounds(text, start, end, stops="?!\n")
    lo = max(lo, start - before)
    hi = min(hi, end + after)
    return pattern.search(text, lo, hi) is not None


# No clause is looked at further than this from its span: keeps every detector linear
# in the length of a message, however long and unpunctuated.
CLAUSE_LIMIT = 300


def clause_bounds(text: str, start: int, end: int, stops: str = "?!;\n") -> tuple[int, int]:
    """The start and end of the stretch around ``start:end`` not crossing any of ``stops``.

    A full stop always ends a clause when it ends a sentence: followed by a space, and not
    part of a number, a date like "3. März" or an abbreviation like "Nr." ("." in
    ``stops`` changes nothing).

    Detectors ask this once per candidate, and a hostile message has a candidate every
    few characters: the clause ends of a text are found once (``_clause_ends``) and each
    question is a binary search, not a walk of up to ``CLAUSE_LIMIT`` characters.
    """
    ends = _clause_ends(text, stops)
    floor, ceiling = max(0, start - CLAUSE_LIMIT), min(len(text), end + CLAUSE_LIMIT)
    # The last clause end before ``start`` (at ``floor`` or after) opens the clause.
    before = bisect.bisect_left(ends, start) - 1
    lo = ends[before] + 1 if before >= 0 and ends[before] >= floor else floor
    # The first clause end at ``end`` or after (before ``ceiling``) closes it.
    after = bisect.bisect_left(ends, end)
    hi = ends[after] if after < len(ends) and ends[after] < ceiling else max(ceiling, end)
    return lo, hi


@functools.lru_cache(maxsize=8)
def _clause_ends(text: str, stops: str) -> tuple[int, ...]:
    """Every index of ``text`` whose character ends a clause for ``stops``, in order: one
    pass over the text, remembered for the few texts being screened at a time."""
    candidates = re.finditer("[" + re.escape("".join(sorted(set(stops) | {"."}))) + "]", text)
    return tuple(m.start() for m in candidates if _ends_clause(text, m.start(), stops))


_ABBREVIATION = re.compile(
    r"(?<![\w.])(?:nr|no|num|n|geb|tel|ca|dr|st|str|mr|mrs|ms|vs|etc|bzw|inkl|ref|z\.b|sr|sra)$",
    re.IGNORECASE,
)


def _ends_clause(text: str, i: int, stops: str) -> bool:
    ch = text[i]
    return _sentence_dot(text, i) if ch == "." else ch in stops


def _sentence_dot(text: str, i: int) -> bool:
    """Whether the full stop at ``i`` ends a sentence (not "3. Marz", "Nr. 5", "1.000")."""
    before = text[i - 1] if i > 0 else " "
    after = text[i + 1] if i + 1 < len(text) else " "
    if not after.isspace() or before.isdigit():
        return False
    return _ABBREVIATION.search(text, max(0, i - 4), i) is None


# Context words, one pattern per concept, the four languages together. Written without
# accents (the text is folded first) and with the usual typos where they are common.
PASSPORT_WORDS = words(
    r"pas{1,2}[ae]?port(?:e|es|s)?",  # passport, pasport, passeport, pasaporte
    r"reise-?pass\w*",
    r"pass-?(?:nr|no|nummer)\.?",
    r"mein(?:en|em)? pass",
    r"passnr\.?",
)
ID_WORDS = words(
    r"(?:personal)?ausweis\w*",
    r"perso-?nr\.?",
    r"id[- ]?(?:card|karte|number|no|nr|nummer)\.?",
    r"identity (?:card|number|document)",
    r"national (?:id|identity|insurance)",
    r"identification number",
    r"carte (?:d'identite|nationale d'identite|d'id)",
    r"(?:numero|n°|no) (?:de )?(?:cni|carte)",
    r"cni",
    r"dni",
    r"documento (?:nacional )?de identidad",
    r"(?:numero de )?identificacion",
    r"cedula",
)
TAX_WORDS = words(
    r"tax ?(?:id|number|no|identification number|reference|file number|code)",
    r"taxpayer",
    r"tin",
    r"itin",
    r"steuer-?\s?(?:id|nummer|nr|identifikationsnummer|identnummer)\.?",
    r"steuer(?:liche)? identifikationsnummer",
    r"idnr",
    r"(?:numero|n°|no|identifiant|ident) (?:d'identification )?fiscal",
    r"numero d'identification fiscale",
    r"spi",
    r"fiscal",
    r"fiscale",
    r"impots?",
    r"nif",
    r"numero de identificacion fiscal",
    r"hacienda",
    r"utr",
    r"unique taxpayer reference",
)
UTR_WORDS = words(r"utr", r"unique tax ?payer reference", r"self assessment")
SSN_WORDS = words(
    r"ssn",
    r"social security(?: number| no)?",
    r"soc\.? sec\.?",
)
SPANISH_NSS_WORDS = words(
    r"seguridad social",
    r"nuss?",
    r"numero de afiliacion",
    r"afiliacion",
)
BIRTH_WORDS = words(
    r"born",
    r"birth ?days?",
    r"b-?day",
    r"d\.?o\.?b\.?",
    r"date of birth",
    r"birth ?date",
    r"geboren",
    r"geb\.",
    r"geburts(?:datum|tag|jahr)",
    r"nee?s? (?:le|en)",
    r"suis nee?",
    r"nee",
    r"date de naissance",
    r"naissance",
    r"anniversaire",
    r"anniv",
    r"nacid[oa]s?",
    r"naci",
    r"fecha de nacimiento",
    r"nacimiento",
    r"cumpleanos",
    r"cumple",
)
PHONE_GIVING_WORDS = words(
    r"my (?:phone|mobile|cell|cellphone|telephone|whatsapp|work|home)? ?(?:number|no\.?|#)",
    r"my (?:phone|mobile|cell|tel)",
    r"(?:call|ring|text|phone|reach|contact|whatsapp) me",
    r"i'?m (?:on|at)",
    r"meine (?:handy|telefon|mobil|festnetz)?-?(?:nummer|nr\.?)",
    r"mein (?:handy|telefon)",
    r"ruf(?:en sie|t)? mich",
    r"erreich(?:bar|en sie mich|st mich)",
    r"mon (?:numero|num|tel|telephone|portable|mobile|fixe)",
    r"(?:appel|rappel|contact|joign)\w*[\s-]*moi",
    r"joignable",
    r"mi (?:numero|telefono|movil|celular|tlf|tel)",
    r"(?:llam|contact|escrib)(?:a|e|ad|en)me",
    r"(?:llamar|contactar)me",
    r"localizable",
)
FIRST_PERSON = words(
    r"i",
    r"i'?m",
    r"i'?ve",
    r"i'?d",
    r"i'?ll",
    r"me",
    r"my",
    r"mine",
    r"we",
    r"our",
    r"us",
    r"ich",
    r"mein\w*",
    r"mir",
    r"mich",
    r"wir",
    r"unser\w*",
    r"hab",
    r"habe",
    r"verdiene",
    r"je",
    r"j'\w+",
    r"on (?:a|doit|gagne|touche|possede|paie|paye|rembourse)",
    r"moi",
    r"mon",
    r"ma",
    r"mes",
    r"nous",
    r"notre",
    r"nos",
    r"yo",
    r"mi",
    r"mis",
    r"nuestr[oa]s?",
    r"tengo",
    r"tenemos",
    r"gano",
    r"ganamos",
    r"cobro",
    r"debo",
    r"debemos",
    r"ahorre",
    r"herede",
)
