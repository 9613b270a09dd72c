"""Numbered identifiers and their check digits: IBANs, payment cards, national ID,
tax and social security numbers.

A checksum is what lets a detector tell an identifier from any other long number, so
everything here that fails its check is not a match. The checks and formats come from
python-stdnum wherever it has the identifier; the few it lacks are written out below,
each saying so. The patterns here only find where a candidate is, and the context rules
(words near it, confidences) decide whether the prospect disclosed it.
"""

from __future__ import annotations

import functools
import re

from stdnum import iban, luhn, numdb
from stdnum.de import idnr, stnr
from stdnum.es import dni, nie
from stdnum.es import nif as es_nif
from stdnum.fr import nif as fr_nif
from stdnum.fr import nir
from stdnum.gb import utr
from stdnum.us import itin, ssn

from bot.domain.detectors.words import (
    ID_WORDS,
    SPANISH_NSS_WORDS,
    SSN_WORDS,
    TAX_WORDS,
    UTR_WORDS,
    Found,
    fold,
    near,
)

__all__ = [
    "find_iban",
    "find_iban_shaped",
    "find_national_id",
    "find_payment_card",
    "find_social_security_number",
    "find_spanish_ids",
    "find_tax_id",
    "icao_check_digit",
]

# stdnum's copy of the SWIFT IBAN registry: country -> BBAN structure ("8!n10!n").
_IBAN_REGISTRY = numdb.get("iban")


@functools.cache
def _iban_length(country: str) -> int | None:
    """The length of an IBAN of ``country`` (upper case), or None if it has none.

    The registry gives the BBAN as counts of characters ("8!n10!n": 8 digits, 10
    digits); the country code and check digits add four.
    """
    bban = _IBAN_REGISTRY.info(country)[0][1].get("bban")
    if not bban:
        return None
    return 4 + sum(int(count) for count in re.findall(r"(\d+)!", bban))


def icao_check_digit(chars: str) -> int:
    """The ICAO 9303 check digit (weights 7, 3, 1) of ``chars`` (German ID card serial).

    Written out here: stdnum has no module for the German ID card or ICAO 9303."""
    weights = (7, 3, 1)
    values = (int(c) if c.isdigit() else ord(c.upper()) - 55 for c in chars)
    return sum(v * weights[i % 3] for i, v in enumerate(values)) % 10


_IBAN_START = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2})(\d{2})")


def find_iban(text: str) -> list[Found]:
    """IBANs, compact or grouped by spaces or dashes, valid for stdnum: the country's
    length and BBAN format and mod-97. Where stdnum also knows the national check digits
    or bank codes, passing them gives full confidence; failing them alone still counts
    (0.9), since a bank newer than stdnum's list has real IBANs too."""
    found: list[Found] = []
    for s, e, chars in _iban_candidates(text):
        if iban.is_valid(chars):
            found.append((s, e, 1.0))
        elif iban.is_valid(chars, check_country=False):
            found.append((s, e, 0.9))
    return found


def find_iban_shaped(text: str) -> list[Found]:
    """Spans shaped like an IBAN (country, length), valid or not: a mistyped IBAN is
    still not a phone number or an amount."""
    return [(s, e, 1.0) for s, e, _ in _iban_candidates(text)]


def _iban_candidates(text: str) -> list[tuple[int, int, str]]:
    found: list[tuple[int, int, str]] = []
    for m in _IBAN_START.finditer(text):
        length = _iban_length(m.group(1).upper())
        if length is None:
            continue
        chars, end = _take_grouped(text, m.start(), length)
        if chars is not None:
            found.append((m.start(), end, chars.upper()))
    return found


def _take_grouped(text: str, start: int, length: int) -> tuple[str | None, int]:
    """The first ``length`` letters/digits from ``start``, single spaces or dashes allowed
    between them, and where they end; None if fewer, or if more follow without a gap."""
    chars: list[str] = []
    i = start
    while i < len(text) and len(chars) < length:
        ch = text[i]
        if ch.isascii() and ch.isalnum():
            chars.append(ch)
        elif ch in " -" and chars and i + 1 < len(text) and text[i + 1].isalnum():
            pass
        else:
            break
        i += 1
    if len(chars) != length or (i < len(text) and text[i].isalnum()):
        return None, i
    return "".join(chars), i


# A run of digits in groups separated by single spaces or dashes. Not preceded by a
# letter, digit, "+" (phone numbers) or a decimal separator.
_DIGIT_RUN = re.compile(r"(?<![\w+.,])\d+(?:[ -]\d+)*(?![\w])")


def _card_brand_ok(digits: str) -> bool:
    """Whether the number starts with a prefix some issuer uses for its length.

    Written out here: stdnum has the Luhn check but no table of card issuers."""
    n = len(digits)
    p2, p3, p4, p6 = int(digits[:2]), int(digits[:3]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4":  # Visa
        return n in (13, 16, 19)
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard
        return n == 16
    if p2 in (34, 37):  # American Express
        return n == 15
    if p4 == 6011 or p2 == 65 or 644 <= p3 <= 649 or 622126 <= p6 <= 622925:  # Discover
        return 16 <= n <= 19
    if p4 in (5018, 5020, 5038, 5893, 6304, 6759, 6761, 6762, 6763):  # Maestro
        return 13 <= n <= 19
    if 3528 <= p4 <= 3589:  # JCB
        return 16 <= n <= 19
    if p2 in (36, 38, 39) or 300 <= p3 <= 305 or p4 == 3095:  # Diners Club
        return 14 <= n <= 19
    if p2 == 62:  # UnionPay
        return 16 <= n <= 19
    if 2200 <= p4 <= 2204:  # Mir
        return 16 <= n <= 19
    return False


def find_payment_card(text: str) -> list[Found]:
    """Card numbers of 13-19 digits, Luhn-valid and with a plausible issuer prefix.

    Grouped digits can run into neighbouring numbers ("order 12 4111 1111 ..."), so
    every run of consecutive groups is tried and the longest valid one kept. Digits
    inside an IBAN are not a card.
    """
    ibans = find_iban(text)
    found: list[Found] = []
    for m in _DIGIT_RUN.finditer(fold(text)):
        if any(s < m.end() and m.start() < e for s, e, _ in ibans):
            continue
        best = _longest_card(m.group(), m.start())
        if best is not None:
            found.append(best)
    return found


def _longest_card(run: str, offset: int) -> Found | None:
    groups = [(g.start(), g.end(), g.group()) for g in re.finditer(r"\d+", run)]
    best: tuple[int, int] | None = None
    for i in range(len(groups)):
        digits = ""
        for j in range(i, len(groups)):
            digits += groups[j][2]
            if len(digits) > 19:
                break
            start, end = groups[i][0], groups[j][1]
            if len(digits) < 13 or digits[0] == "0":
                continue
            longer = best is None or end - start > best[1] - best[0]
            if longer and _card_brand_ok(digits) and luhn.is_valid(digits):
                best = (start, end)
    if best is None:
        return None
    return (offset + best[0], offset + best[1], 1.0)


# --- national ID numbers -------------------------------------------------------------

# 12345678Z, 12345678-Z, 12.345.678-Z
_DNI = re.compile(r"(?<![\w.])(\d{2}\.?\d{3}\.?\d{3})[ -]?([a-z])(?![\w])", re.IGNORECASE)
_NIE = re.compile(r"(?<![\w])([xyz])[ -]?(\d{7})[ -]?([a-z])(?![\w])", re.IGNORECASE)
# German ID card serial: 9 characters from an alphabet without vowels and look-alikes,
# optionally followed by its check digit.
_AUSWEIS = re.compile(r"(?<![\w])([cfghjklmnprtvwxyz0-9]{9})(\d)?(?![\w])", re.IGNORECASE)
_GENERIC_ID = re.compile(
    r"(?<![\w-])(?<!tax )(?<!customer )(?<!order )(?<!client )(?<!kunden-)(?<!booking )(?<!user )"
    # longest words first, and whole words: "id" must not match the start of "identite"
    r"(?:identity|identite|identidad|ausweis|documento|cedula|(?:cni|dni|id)(?![a-z])"
    r"|driv(?:ing|er'?s) licen[cs]e|fuhrerschein|permis de conduire"
    r"|carnet de conducir|licencia de conducir)"
    r"(?:\s*(?:card|karte|number|no\.?|nr\.?|nummer|numero|n°|#))?"
    r"\s*(?:is|:|=|ist|lautet|est|es)?\s*(?:the |der |le |el )?"
    r"([a-z0-9][a-z0-9-]{4,17})(?![\w])",
    re.IGNORECASE,
)


def find_spanish_ids(text: str) -> list[Found]:
    """Spanish DNI (8 digits + letter) and NIE (X/Y/Z + 7 digits + letter), letter valid."""
    found: list[Found] = []
    for m in _DNI.finditer(text):
        if dni.is_valid(m.group(1).replace(".", "") + m.group(2)):
            found.append((m.start(), m.end(), 1.0))
    for m in _NIE.finditer(text):
        if nie.is_valid("".join(m.groups())):
            found.append((m.start(), m.end(), 1.0))
    return found


def find_national_id(text: str) -> list[Found]:
    """Spanish DNI/NIE, German ID card serials, and "my ID number is X"."""
    folded = fold(text)
    found = find_spanish_ids(text)
    for m in _AUSWEIS.finditer(folded):
        serial, check = m.group(1), m.group(2)
        if any(s <= m.start() < e for s, e, _ in found) or not any(c.isdigit() for c in serial):
            continue
        if check is not None and not serial[0].isdigit():
            if icao_check_digit(serial.upper()) == int(check):
                found.append((m.start(), m.end(), 1.0))
        elif check is None and near(ID_WORDS, folded, m.start(), m.end()):
            found.append((m.start(), m.end(), 0.8))
    for m in _GENERIC_ID.finditer(folded):
        token = m.group(1)
        if not any(c.isdigit() for c in token):
            continue
        if _DNI.fullmatch(token) or _NIE.fullmatch(token):
            continue  # shaped like a DNI/NIE but its letter is wrong: not one
        if any(s < m.end(1) and m.start(1) < e for s, e, _ in found):
            continue
        found.append((m.start(1), m.end(1), 0.7))
    return found


# --- tax numbers ---------------------------------------------------------------------

_STEUER_ID = re.compile(r"(?<![\w+.,])([1-9]\d) ?(\d{3}) ?(\d{3}) ?(\d{3})(?![\w])")
_FR_FISCAL = re.compile(r"(?<![\w+.,])[0-3]\d(?: ?\d){11}(?![\w])")
_ITIN = re.compile(r"(?<![\w-])9\d{2}([- ]?)(\d{2})\1\d{4}(?![\w-])")
# German Steuernummer as the tax office writes it: 12/345/67890, 123/4567/8901
_STEUERNUMMER = re.compile(r"(?<![\w/])\d{2,3}/\d{3,4}/\d{4,5}(?![\w/])")
_UTR = re.compile(r"(?<![\w+.,])\d{5} ?\d{5}(?![\w])")
# The NIF of someone with neither DNI nor NIE (K: Spanish children, L: Spaniards abroad,
# M: foreigners), checked like a DNI.
_NIF_KLM = re.compile(r"(?<![\w])([klm])[ -]?(\d{7})[ -]?([a-z])(?![\w])", re.IGNORECASE)


def _three_in_a_row(digits: str) -> bool:
    """Whether a digit stands three times in a row in the first ten digits of a Steuer-ID,
    which the tax office never issues; written out here because stdnum's IdNr check
    (digit counts and check digit) leaves it out."""
    return any(digits[i] == digits[i + 1] == digits[i + 2] for i in range(8))


def _itin_ok(digits: str) -> bool:
    """A valid ITIN for stdnum, or one of the groups 50-65 the IRS also issues and
    stdnum's list of groups does not have yet."""
    return itin.is_valid(digits) or (digits[0] == "9" and 50 <= int(digits[3:5]) <= 65)


def find_tax_id(text: str) -> list[Found]:
    """German Steuer-ID and Steuernummer, French numero fiscal, US ITIN, Spanish NIF
    and UK UTR."""
    folded = fold(text)
    found: list[Found] = []
    for m in _STEUER_ID.finditer(folded):
        digits = "".join(m.groups())
        if not idnr.is_valid(digits):
            continue
        # The full shape is what lets a bare 11-digit number pass for a Steuer-ID; next
        # to a tax word the check digit and digit counts are enough.
        if not _three_in_a_row(digits) or near(TAX_WORDS, folded, m.start(), m.end()):
            found.append((m.start(), m.end(), 1.0))
    for m in _FR_FISCAL.finditer(folded):
        if fr_nif.is_valid(m.group()) and near(TAX_WORDS, folded, m.start(), m.end()):
            found.append((m.start(), m.end(), 0.85))
    for m in _ITIN.finditer(folded):
        if not _itin_ok(re.sub(r"\D", "", m.group())):
            continue
        if m.group(1):
            found.append((m.start(), m.end(), 0.9))
        elif near(TAX_WORDS, folded, m.start(), m.end()):
            found.append((m.start(), m.end(), 0.8))
    for start, end, confidence in find_spanish_ids(text):
        if near(TAX_WORDS, folded, start, end):
            found.append((start, end, confidence))
    for m in _NIF_KLM.finditer(folded):
        if es_nif.is_valid("".join(m.groups())) and near(TAX_WORDS, folded, m.start(), m.end()):
            found.append((m.start(), m.end(), 1.0))
    for m in _STEUERNUMMER.finditer(folded):
        if stnr.is_valid(m.group()) and near(TAX_WORDS, folded, m.start(), m.end()):
            found.append((m.start(), m.end(), 0.85))
    for m in _UTR.finditer(folded):
        if utr.is_valid(m.group()) and near(UTR_WORDS, folded, m.start(), m.end()):
            found.append((m.start(), m.end(), 0.85))
    return found


# --- social security numbers ---------------------------------------------------------

_US_SSN = re.compile(r"(?<![\w-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\w-])")
_NIR = re.compile(
    r"(?<![\w+])([1-478]) ?(\d{2}) ?(\d{2}) ?(\d{2}|2a|2b) ?(\d{3}) ?(\d{3}) ?(\d{2})(?![\w])",
    re.IGNORECASE,
)
_NINO = re.compile(
    r"(?<![\w])([a-z]{2}) ?(\d{2}) ?(\d{2}) ?(\d{2}) ?([a-d])(?![\w])", re.IGNORECASE
)
_NINO_BAD_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
_RVNR = re.compile(
    r"(?<![\w])(\d{2}) ?(\d{2})(\d{2})(\d{2}) ?([a-z]) ?(\d{2})(\d)(?![\w])", re.IGNORECASE
)
_ES_NSS = re.compile(r"(?<![\w+.,/])(\d{2})[ /-]?(\d{8})[ /-]?(\d{2})(?![\w/])")


def _nino_ok(prefix: str) -> bool:
    """Whether HMRC issues National Insurance numbers with this prefix; written out here
    because stdnum has no module for the NINO."""
    prefix = prefix.upper()
    if prefix == "QQ":  # the prefix HMRC uses in its own examples; people copy its shape
        return True
    first, second = prefix[0], prefix[1]
    return first not in "DFIQUV" and second not in "DFIOQUV" and prefix not in _NINO_BAD_PREFIXES


def _rvnr_ok(m: re.Match[str]) -> bool:
    """The Rentenversicherungsnummer's date and check digit; written out here because
    stdnum has no module for it."""
    day, month = int(m.group(2)), int(m.group(3))
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return False
    letter = f"{ord(m.group(5).upper()) - 64:02d}"
    digits = m.group(1) + m.group(2) + m.group(3) + m.group(4) + letter + m.group(6)
    weights = (2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1)
    total = sum(sum(divmod(int(d) * w, 10)) for d, w in zip(digits, weights, strict=True))
    return total % 10 == int(m.group(7))


def _es_nss_ok(m: re.Match[str]) -> bool:
    """The Spanish social security number's mod-97 control digits; written out here
    because stdnum has no module for it."""
    province, number = int(m.group(1)), int(m.group(2))
    base = number + province * 10_000_000 if number < 10_000_000 else int(m.group(1) + m.group(2))
    return base % 97 == int(m.group(3))


def find_social_security_number(text: str) -> list[Found]:
    """US SSN, French NIR, UK National Insurance, German Rentenversicherungsnummer and
    the Spanish numero de la Seguridad Social."""
    folded = fold(text)
    found: list[Found] = []
    for m in _US_SSN.finditer(folded):
        if not ssn.is_valid(m.group(1) + m.group(3) + m.group(4)):
            continue
        if near(SSN_WORDS, folded, m.start(), m.end()):
            found.append((m.start(), m.end(), 0.9))
        elif m.group(2) == "-":
            found.append((m.start(), m.end(), 0.8))
    found += [(m.start(), m.end(), 1.0) for m in _NIR.finditer(folded) if nir.is_valid(m.group())]
    for m in _NINO.finditer(folded):
        if _nino_ok(m.group(1)):
            found.append((m.start(), m.end(), 0.9))
    found += [(m.start(), m.end(), 1.0) for m in _RVNR.finditer(folded) if _rvnr_ok(m)]
    for m in _ES_NSS.finditer(folded):
        if near(SPANISH_NSS_WORDS, folded, m.start(), m.end()):
            found.append((m.start(), m.end(), 1.0 if _es_nss_ok(m) else 0.7))
    return found
