"""Numbered identifiers and their check digits: IBANs, payment cards, national ID,
tax and social security numbers.

A checksum is what lets a detector tell an identifier from any other long number, so
everything here that fails its check is not a match.
"""

from __future__ import annotations

import re

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
    "IBAN_LENGTHS",
    "dni_letter",
    "find_iban",
    "find_iban_shaped",
    "find_national_id",
    "find_payment_card",
    "find_social_security_number",
    "find_spanish_ids",
    "find_tax_id",
    "icao_check_digit",
    "iso7064_mod11_10",
    "luhn_valid",
    "mod97",
]

# ISO 13616 registry: country code -> IBAN length.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    "YE": 30,
}  # fmt: skip

_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def _char_value(ch: str) -> int:
    """0-9 for digits, 10-35 for A-Z (the value ISO 13616 and ICAO 9303 give letters)."""
    return int(ch) if ch.isdigit() else ord(ch.upper()) - 55


def mod97(iban: str) -> int:
    """The ISO 13616 remainder of ``iban`` (compact, upper case); 1 means valid."""
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(_char_value(c)) for c in rearranged)) % 97


def luhn_valid(digits: str) -> bool:
    """Whether ``digits`` passes the Luhn (mod 10) check used by payment cards."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iso7064_mod11_10(digits: str) -> int:
    """The ISO 7064 MOD 11,10 check digit of ``digits`` (German Steuer-ID)."""
    product = 10
    for ch in digits:
        total = (int(ch) + product) % 10 or 10
        product = total * 2 % 11
    return (11 - product) % 10


def icao_check_digit(chars: str) -> int:
    """The ICAO 9303 check digit (weights 7, 3, 1) of ``chars`` (German ID card serial)."""
    weights = (7, 3, 1)
    return sum(_char_value(c) * weights[i % 3] for i, c in enumerate(chars)) % 10


def dni_letter(number: int) -> str:
    """The check letter of a Spanish DNI number (NIE: X/Y/Z replaced by 0/1/2 first)."""
    return _DNI_LETTERS[number % 23]


_IBAN_START = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2})(\d{2})")


def find_iban(text: str) -> list[Found]:
    """IBANs, compact or grouped by spaces or dashes, with valid length and mod-97."""
    return [(s, e, 1.0) for s, e, chars in _iban_candidates(text) if mod97(chars) == 1]


def find_iban_shaped(text: str) -> list[Found]:
    """Spans shaped like an IBAN (country, length), valid or not: a mistyped IBAN is
    still not a phone number or an amount."""
    return [(s, e, 1.0) for s, e, _ in _iban_candidates(text)]


def _iban_candidates(text: str) -> list[tuple[int, int, str]]:
    found: list[tuple[int, int, str]] = []
    for m in _IBAN_START.finditer(text):
        length = IBAN_LENGTHS.get(m.group(1).upper())
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
    """Whether the number starts with a prefix some issuer uses for its length."""
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
            if longer and luhn_valid(digits) and _card_brand_ok(digits):
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
        if dni_letter(int(m.group(1).replace(".", ""))) == m.group(2).upper():
            found.append((m.start(), m.end(), 1.0))
    for m in _NIE.finditer(text):
        number = int(str("XYZ".index(m.group(1).upper())) + m.group(2))
        if dni_letter(number) == m.group(3).upper():
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


def _steuer_id_shape(digits: str) -> bool:
    """In the first ten digits one digit occurs two or three times, no other repeats,
    and a digit is never three times in a row."""
    counts = [digits[:10].count(d) for d in set(digits[:10])]
    repeated = [c for c in counts if c > 1]
    if len(repeated) != 1 or repeated[0] > 3:
        return False
    return not any(digits[i] == digits[i + 1] == digits[i + 2] for i in range(8))


def _itin_group_ok(group: str) -> bool:
    g = int(group)
    return 50 <= g <= 65 or 70 <= g <= 88 or 90 <= g <= 92 or 94 <= g <= 99


def find_tax_id(text: str) -> list[Found]:
    """German Steuer-ID and Steuernummer, French numero fiscal, US ITIN, Spanish NIF
    and UK UTR."""
    folded = fold(text)
    found: list[Found] = []
    for m in _STEUER_ID.finditer(folded):
        digits = "".join(m.groups())
        if iso7064_mod11_10(digits[:10]) != int(digits[10]):
            continue
        if _steuer_id_shape(digits) or near(TAX_WORDS, folded, m.start(), m.end()):
            found.append((m.start(), m.end(), 1.0))
    for m in _FR_FISCAL.finditer(folded):
        if near(TAX_WORDS, folded, m.start(), m.end()):
            found.append((m.start(), m.end(), 0.85))
    for m in _ITIN.finditer(folded):
        if not _itin_group_ok(m.group(2)):
            continue
        if m.group(1):
            found.append((m.start(), m.end(), 0.9))
        elif near(TAX_WORDS, folded, m.start(), m.end()):
            found.append((m.start(), m.end(), 0.8))
    for start, end, confidence in find_spanish_ids(text):
        if near(TAX_WORDS, folded, start, end):
            found.append((start, end, confidence))
    for m in _STEUERNUMMER.finditer(folded):
        if near(TAX_WORDS, folded, m.start(), m.end()):
            found.append((m.start(), m.end(), 0.85))
    for m in _UTR.finditer(folded):
        if near(UTR_WORDS, folded, m.start(), m.end()):
            found.append((m.start(), m.end(), 0.85))
    return found


# --- social security numbers ---------------------------------------------------------

_US_SSN = re.compile(r"(?<![\w-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\w-])")
# Numbers the SSA has said were never issued although they were widely printed.
_SSN_NEVER_ISSUED = frozenset({"078051120", "219099999"})
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


def _us_ssn_ok(area: str, group: str, serial: str) -> bool:
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return area + group + serial not in _SSN_NEVER_ISSUED


def _nir_ok(m: re.Match[str]) -> bool:
    dept = m.group(4).upper()
    # Corsica: 2A and 2B count as 19 and 18 in the key computation.
    dept_digits = {"2A": "19", "2B": "18"}.get(dept, dept)
    body = m.group(1) + m.group(2) + m.group(3) + dept_digits + m.group(5) + m.group(6)
    return 97 - int(body) % 97 == int(m.group(7))


def _nino_ok(prefix: str) -> bool:
    prefix = prefix.upper()
    if prefix == "QQ":  # the prefix HMRC uses in its own examples; people copy its shape
        return True
    first, second = prefix[0], prefix[1]
    return first not in "DFIQUV" and second not in "DFIOQUV" and prefix not in _NINO_BAD_PREFIXES


def _rvnr_ok(m: re.Match[str]) -> bool:
    day, month = int(m.group(2)), int(m.group(3))
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return False
    letter = f"{ord(m.group(5).upper()) - 64:02d}"
    digits = m.group(1) + m.group(2) + m.group(3) + m.group(4) + letter + m.group(6)
    weights = (2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1)
    total = sum(sum(divmod(int(d) * w, 10)) for d, w in zip(digits, weights, strict=True))
    return total % 10 == int(m.group(7))


def _es_nss_ok(m: re.Match[str]) -> bool:
    province, number = int(m.group(1)), int(m.group(2))
    base = number + province * 10_000_000 if number < 10_000_000 else int(m.group(1) + m.group(2))
    return base % 97 == int(m.group(3))


def find_social_security_number(text: str) -> list[Found]:
    """US SSN, French NIR, UK National Insurance, German Rentenversicherungsnummer and
    the Spanish numero de la Seguridad Social."""
    folded = fold(text)
    found: list[Found] = []
    for m in _US_SSN.finditer(folded):
        if not _us_ssn_ok(m.group(1), m.group(3), m.group(4)):
            continue
        if near(SSN_WORDS, folded, m.start(), m.end()):
            found.append((m.start(), m.end(), 0.9))
        elif m.group(2) == "-":
            found.append((m.start(), m.end(), 0.8))
    found += [(m.start(), m.end(), 1.0) for m in _NIR.finditer(folded) if _nir_ok(m)]
    for m in _NINO.finditer(folded):
        if _nino_ok(m.group(1)):
            found.append((m.start(), m.end(), 0.9))
    found += [(m.start(), m.end(), 1.0) for m in _RVNR.finditer(folded) if _rvnr_ok(m)]
    for m in _ES_NSS.finditer(folded):
        if near(SPANISH_NSS_WORDS, folded, m.start(), m.end()):
            found.append((m.start(), m.end(), 1.0 if _es_nss_ok(m) else 0.7))
    return found
