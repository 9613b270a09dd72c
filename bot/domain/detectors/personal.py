"""Personal data recognised by its shape and the words around it: passport numbers,
dates of birth, email addresses and phone numbers.

None of these carries a checksum, so each needs context from the same message: a
passport word, a birth word, a "my number is" phrase. Numbers without that context are
left alone; prospects type prices, dates, times and references all the time. Whether
digits can be a phone number at all is phonenumbers' call (Google's libphonenumber
metadata); whether the prospect gave it as theirs is decided here.
"""

from __future__ import annotations

import re

from phonenumbers import Leniency, PhoneNumberMatcher

from bot.domain.detectors.identifiers import find_iban_shaped, find_payment_card
from bot.domain.detectors.words import (
    BIRTH_WORDS,
    PASSPORT_WORDS,
    PHONE_GIVING_WORDS,
    Found,
    clause_bounds,
    fold,
    near,
    words,
)

__all__ = [
    "find_date_of_birth",
    "find_email_address",
    "find_passport_number",
    "find_phone_number",
]

# --- passports -----------------------------------------------------------------------

_PASSPORT_TOKEN = re.compile(r"(?<![\w./-])(?=[a-z0-9]{0,8}\d)[a-z0-9]{6,9}(?![\w/-]|[.,]\d)", re.I)

# "35x45mm", "2mb", "100eur": sizes and amounts, not document numbers.
_MEASURE = re.compile(r"\d+(?:x\d+)?(?:mm|cm|px|kb|mb|gb|eur|usd|k|m)|\d+x\d+", re.IGNORECASE)


def find_passport_number(text: str) -> list[Found]:
    """A 6-9 character token with digits near a passport word ("reisepass", "pasaporte").

    All-digit tokens must follow the word ("passport number 123456789"): before it they
    are more often an amount or a reference than a passport.
    """
    folded = fold(text)
    found: list[Found] = []
    for m in _PASSPORT_TOKEN.finditer(folded):
        token = m.group()
        if _MEASURE.fullmatch(token):
            continue
        if token.isdigit():
            if near(PASSPORT_WORDS, folded, m.start(), m.end(), before=40, after=0):
                found.append((m.start(), m.end(), 0.75))
        elif near(PASSPORT_WORDS, folded, m.start(), m.end(), before=40, after=40):
            found.append((m.start(), m.end(), 0.85))
    return found


# --- dates of birth ------------------------------------------------------------------

_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "jan january januar janner janv janvier enero ene",
        "feb february februar fev fevr fevrier febrero",
        "mar march marz maerz mars marzo",
        "apr april avr avril abril abr",
        "may mai mayo",
        "jun june juni juin junio",
        "jul july juli juil juillet julio",
        "aug august aout agosto ago",
        "sep sept september septembre septiembre setiembre",
        "oct october okt oktober octobre octubre",
        "nov november novembre noviembre",
        "dec december dez dezember decembre diciembre dic",
    ),
    start=1,
):
    _MONTHS.update(dict.fromkeys(_names.split(), _number))

_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_YEAR = r"(?:19|20)\d{2}"
_DATE_PATTERNS = (
    # 03/03/1990, 3.3.90, 03-03-1990 (day and month either way round)
    re.compile(r"(?<![\w.,/-])(\d{1,2})([./-])(\d{1,2})\2(\d{4}|\d{2})(?![\w/-]|[.,]\d)"),
    # 1990-03-03
    re.compile(r"(?<![\w.,/-])(\d{4})-(\d{1,2})-(\d{1,2})(?![\w-])"),
    # 3 March 1990, 3rd of March, 3. Marz 1990, le 3 mars 1990, 3 de marzo de 1990
    re.compile(
        rf"(?<![\w.,])(\d{{1,2}})(?:st|nd|rd|th|er|\.|º|°)?\s*(?:of\s+|de\s+)?({_MONTH})\.?"
        rf"(?:,?\s*(?:de(?:l)?\s+)?({_YEAR}))?(?![\w])",
        re.IGNORECASE,
    ),
    # March 3, 1990 / March 3rd
    re.compile(
        rf"(?<![\w])({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s*({_YEAR}))?(?![\w])",
        re.IGNORECASE,
    ),
)


def _plausible(day: int, month: int, year: str | None) -> bool:
    if year is not None and len(year) == 4 and not 1900 <= int(year) <= 2099:
        return False
    return 1 <= day <= 31 and 1 <= month <= 12


def _dates(folded: str) -> list[tuple[int, int, bool]]:
    """Spans of plausible dates, and whether each has a year."""
    spans: list[tuple[int, int, bool]] = []
    numeric, iso, day_first, month_first = _DATE_PATTERNS
    for m in numeric.finditer(folded):
        a, b = int(m.group(1)), int(m.group(3))
        if _plausible(a, b, m.group(4)) or _plausible(b, a, m.group(4)):
            spans.append((m.start(), m.end(), True))
    for m in iso.finditer(folded):
        if _plausible(int(m.group(3)), int(m.group(2)), m.group(1)):
            spans.append((m.start(), m.end(), True))
    for m in day_first.finditer(folded):
        if _plausible(int(m.group(1)), _MONTHS[m.group(2).lower()], m.group(3)):
            spans.append((m.start(), m.end(), m.group(3) is not None))
    for m in month_first.finditer(folded):
        if _plausible(int(m.group(2)), _MONTHS[m.group(1).lower()], m.group(3)):
            spans.append((m.start(), m.end(), m.group(3) is not None))
    return spans


def find_date_of_birth(text: str) -> list[Found]:
    """A date near a birth word in the same sentence ("born on 3 March 1990",
    "Geburtsdatum 03.03.1990", "nee le 3 mars 1990", "naci el 3 de marzo de 1990")."""
    folded = fold(text)
    found: list[Found] = []
    for start, end, has_year in _dates(folded):
        if any(s < end and start < e for s, e, _ in found):
            continue
        if near(BIRTH_WORDS, folded, start, end, before=60, after=40):
            found.append((start, end, 0.9 if has_year else 0.7))
    return found


# --- email addresses -----------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![\w.+-])[a-z0-9][a-z0-9._%+-]*@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,24}(?![\w-])",
    re.IGNORECASE,
)


def find_email_address(text: str) -> list[Found]:
    """Every email address in the message; an address needs no context to be one."""
    return [(m.start(), m.end(), 0.9) for m in _EMAIL.finditer(fold(text))]


# --- phone numbers -------------------------------------------------------------------

# A stretch of text that may hold phone numbers: digits separated by up to two of
# space ( ) . - / or, before a group of three digits or more, by " - " or " / "
# ("089 / 1234 5678", but not "0152 00000000 - 18 uhr"), maybe after "+" or "(". Only
# these stretches are handed to phonenumbers, which keeps the detector linear and cheap
# on long messages full of digits.
_STRETCH = re.compile(
    r"(?<![\w+])(?:\+|\(\+?)?\d(?:(?:[ ().\-/]{1,2}| [-/] (?=\d{3}))?\d)*(?![\w])"
)
_SPACED_SEPARATOR = re.compile(r" [-/] ")
# More digits than three phone numbers' worth is a list or a reference.
_MAX_STRETCH_DIGITS = 45
# Digits this close to a number belong to it ("0152 00000000 12" is one 14-digit
# number), so a number phonenumbers cuts out of such a run is not one the prospect wrote.
_GLUED_BEFORE = re.compile(r"\d[ ().\-/]{0,2}$")
_GLUED_AFTER = re.compile(r"[ ().\-/]{0,2}\d")
# National formats are judged against the countries whose people write to the firm in
# its four languages, each in turn (phonenumbers only judges a national number against
# a region). "+..." and "00..." numbers carry their country; a region whose
# international prefix is 00, as everywhere in Europe, reads both.
_NATIONAL_REGIONS = ("DE", "FR", "ES", "GB", "AT", "CH", "BE", "LU", "IE", "US")
_INTERNATIONAL_REGIONS = ("DE",)
_NUMERIC_DATE = re.compile(r"\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})|\d{4}-\d{1,2}-\d{1,2}")
_MONEY_NEXT = re.compile(
    r"^\s*(?:[€$£%]|eur|euros?|usd|dollars?|gbp|pounds?|chf|k\b|mio|million)", re.I
)
_MONEY_BEFORE = re.compile(r"(?:[€$£]|eur|usd|gbp|chf)\s*$", re.I)
# The firm's own numbers, which prospects quote back.
_FIRM_NUMBER_BEFORE = words(
    r"your",
    r"hotline",
    r"helpline",
    r"support",
    r"ihre",
    r"eure",
    r"euer",
    r"kundenservice",
    r"votre",
    r"vos",
    r"service client",
    r"vuestro",
    r"su",
    r"atencion al cliente",
)
# A number the prospect received a call or message from, asking whether it is the
# firm's: "i got a text from +44 ...", "mir hat jemand von +49 ... geschrieben".
_RECEIVED_FROM = words(
    r"(?:texts?|sms|messages?|calls?|emails?|whatsapps?|voicemails?) from",
    r"(?:called|texted|messaged|rang) (?:me|us)",
    r"(?:strange|unknown|weird|random) number",
    r"(?:sms|nachricht|anruf|mail)\w* von",
    r"(?:hat (?:mich|mir|uns)|(?:mich|mir|uns) hat) .{0,25}(?:von|vom)",
    r"(?:jemand|wer) (?:von|vom|mit der nummer)",
    r"(?:fremde|unbekannte|komische) nummer",
    r"(?:sms|message|appel|mail|texto) (?:du|de|d'un|venant du)",
    r"(?:recu|eu) un (?:sms|appel|message|mail)",
    r"m'a (?:appele|ecrit|contacte|texte)",
    r"numero (?:bizarre|inconnu|etrange)",
    r"(?:sms|mensaje|llamada|correo|whatsapp) (?:de|del|desde)",
    r"me (?:ha|han) (?:escrito|llamado|mandado|contactado)",
    r"numero (?:raro|desconocido|extrano)",
)
# ... or asks whether it is the firm's: "is +44 ... one of your numbers?".
_ASKED_ABOUT = words(
    r"(?:one of )?your (?:numbers?|lines?|hotline|number)",
    r"(?:is|was) (?:that|this|it) (?:you|yours|real|legit|genuine)",
    r"(?:legit|genuine|real|fake|scam|phishing)",
    r"eure?r? (?:nummer|hotline)",
    r"von euch",
    r"seid ihr das",
    r"echt",
    r"betrug",
    r"c'est (?:vous|votre|bien vous|vraiment vous)",
    r"est-ce (?:vous|votre)",
    r"arnaque",
    r"es (?:vuestro|vuestra|de verdad)",
    r"sois vosotros",
    r"estafa",
)
# ... or says so after the number: "+49 ... hat mich angerufen".
_RECEIVED_AFTER = words(
    r"(?:called|texted|messaged|rang) (?:me|us)",
    r"(?:angerufen|geschrieben|gesimst)",
    r"m'a (?:appele|ecrit|contacte|texte)",
    r"me (?:ha|han) (?:escrito|llamado|mandado)",
)
_REFERENCE_BEFORE = words(
    r"order",
    r"ref",
    r"reference",
    r"tracking",
    r"invoice",
    r"ticket",
    r"case",
    r"bestell\w*",
    r"auftrag\w*",
    r"rechnung\w*",
    r"commande",
    r"facture",
    r"dossier",
    r"pedido",
    r"factura",
    r"referencia",
    r"expediente",
)


def _digit_count(s: str) -> int:
    return sum(c.isdigit() for c in s)


def _international(number: str) -> bool:
    return number.lstrip("(").startswith(("+", "00"))


def find_phone_number(text: str) -> list[Found]:
    """A phone number the prospect gives: any +/00 international number, or a national
    one of at least 8 digits next to "my number", "ruf mich an", "appelez-moi au",
    "llamame al" ... Amounts, dates, references, IBANs and card numbers are not phones.

    A number must be possible for phonenumbers (a known country code, a length that
    country uses), not valid: the ranges reserved for fiction and tests are possible
    but not valid, and the prospect who types one is still giving a number.
    """
    folded = fold(text)
    taken = [(s, e) for s, e, _ in find_iban_shaped(text) + find_payment_card(text)]
    found: list[Found] = []
    for stretch in _STRETCH.finditer(folded):
        if not 8 <= _digit_count(stretch.group()) <= _MAX_STRETCH_DIGITS:
            continue
        international = _international(stretch.group())
        if not international and not _giving_within_reach(folded, stretch):
            continue  # a national number counts only when given: spare phonenumbers
        regions = _INTERNATIONAL_REGIONS if international else _NATIONAL_REGIONS
        for start, end in _possible_numbers(folded, stretch, regions):
            if any(s < end and start < e for s, e in taken):
                continue
            if _looks_like_money(folded, start, end):
                continue
            if _international(folded[start:end]):
                context = near(PHONE_GIVING_WORDS, folded, start, end, before=40, after=30)
                if not context and _received(folded, start, end):
                    continue  # someone else's number the prospect asks about
                found.append((start, end, 0.95 if context else 0.9))
            elif _national_given(folded, start, end):
                found.append((start, end, 0.8))
    return found


def _possible_numbers(
    folded: str, stretch: re.Match[str], regions: tuple[str, ...]
) -> list[tuple[int, int]]:
    """The spans of 8 to 15 digits (after any 00) in ``stretch`` that phonenumbers finds
    possible, for the first of ``regions`` that has any, leaving out pieces it cut
    from a longer run of digits."""
    for region in regions:
        spans: list[tuple[int, int]] = []
        matcher = PhoneNumberMatcher(stretch.group(), region, leniency=Leniency.POSSIBLE)
        for match in matcher:
            start, end = stretch.start() + match.start, stretch.start() + match.end
            digits = _digit_count(match.raw_string)
            if match.raw_string.lstrip("(").startswith("00"):
                digits -= 2
            if 8 <= digits <= 15 and not _glued(folded, start, end):
                spans.append((start, end))
        if spans:
            return spans
    return []


def _glued(folded: str, start: int, end: int) -> bool:
    # A "+" starts a number wherever it stands ("9-5 +44 ..."); digits do not.
    plus = folded[start:end].lstrip("(").startswith("+")
    before = not plus and _GLUED_BEFORE.search(folded, max(0, start - 3), start)
    return bool(before or _GLUED_AFTER.match(folded, end, end + 3))


def _giving_within_reach(folded: str, stretch: re.Match[str]) -> bool:
    """Whether a giving phrase is near enough to the stretch for ``_given`` to find it
    next to any number inside it."""
    lo, hi = max(0, stretch.start() - 40), min(len(folded), stretch.end() + 25)
    return PHONE_GIVING_WORDS.search(folded, lo, hi) is not None


def _national_given(folded: str, start: int, end: int) -> bool:
    """Whether a national number is the prospect's own, given as such: not a decimal's
    tail, a date (or one before " - "), a reference, the firm's number, and with a
    giving phrase."""
    if start > 0 and folded[start - 1] in ".,":
        return False
    if any(_NUMERIC_DATE.fullmatch(part) for part in _SPACED_SEPARATOR.split(folded[start:end])):
        return False
    if near(_REFERENCE_BEFORE, folded, start, start, before=20, after=0):
        return False
    if near(_FIRM_NUMBER_BEFORE, folded, start, start, before=25, after=0):
        return False
    return _given(folded, start, end)


def _received(folded: str, start: int, end: int) -> bool:
    """Whether the number is one the prospect was called or messaged from."""
    return (
        near(_RECEIVED_FROM, folded, start, start, before=60, after=0)
        or near(_RECEIVED_AFTER, folded, end, end, before=0, after=30)
        or near(_ASKED_ABOUT, folded, end, end, before=0, after=40)
    )


def _given(folded: str, start: int, end: int) -> bool:
    """A giving phrase before the number, or right after it in the same clause
    ("0152 0000000 is my number"), not after a comma ("your 0800 number fails, my
    number is ...")."""
    if near(PHONE_GIVING_WORDS, folded, start, end, before=40, after=0):
        return True
    _, clause_end = clause_bounds(folded, start, end, stops=",?!;\n")
    return PHONE_GIVING_WORDS.search(folded, end, min(clause_end, end + 25)) is not None


def _looks_like_money(folded: str, start: int, end: int) -> bool:
    value = folded[start:end]
    if re.search(r"[.,]\d{2}$", value) and not re.search(r"[.,]\d{2}[.,]", value):
        return True  # a decimal part: 1.234.567,89
    after = folded[end : end + 12]
    before = folded[max(0, start - 5) : start]
    return bool(_MONEY_NEXT.match(after) or _MONEY_BEFORE.search(before))
