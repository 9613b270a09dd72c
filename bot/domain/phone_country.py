"""Countries: ISO 3166 codes, and the country a WhatsApp number belongs to.

Routing needs the prospect's country (which advisors are licensed for them). Before the
prospect says where they live, their number is the best clue. phonenumbers (Google's
libphonenumber metadata) reads it from the calling code and, where several countries
share one, from the number itself: +1 is the United States, Canada and the Caribbean
(told apart by area code), +44 is the United Kingdom and the Crown Dependencies (Jersey,
Guernsey, Isle of Man: regulated apart from the UK), +7 is Russia and Kazakhstan.

A territory with its own ISO code and its own number range is reported under that code
(``+1 787`` is ``PR``, ``+44 1534`` is ``JE``, ``+358 18`` is ``AX``, ``+39 06 698`` is
``VA``), so an advisor licensed for ``US`` or ``GB`` is not assumed to cover it. A
number in no territory's range (unassigned, or reserved for fiction like ``+44 7700
900xxx``) counts for the calling code's main country, so every +1 number that is neither
Canadian nor Caribbean is ``US`` (shared toll-free codes such as 800 included). Unknown
calling codes, numbers of no country (``+800`` freephone) and regions without an ISO
code (Kosovo's ``XK``) give ``None``. A number shows where a phone was registered, not
where its owner lives: a clue for routing, not proof of residence.
"""

from __future__ import annotations

import re

import phonenumbers

__all__ = [
    "COUNTRY_CODES",
    "calling_code_countries",
    "country_of",
    "international_number",
    "is_country_code",
]

# ISO 3166-1 alpha-2, every officially assigned code. Kept here because neither
# phonenumbers nor stdnum has the list: phonenumbers' regions add codes ISO does not
# assign (AC, TA, XK) and leave out territories without telephones of their own.
_ISO_3166 = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
    BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ
    DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP
    GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG
    KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML
    MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE
    PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL
    SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM
    US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""
COUNTRY_CODES: frozenset[str] = frozenset(_ISO_3166.split())

_SEPARATORS = re.compile(r"[\s().\-/]")


def calling_code_countries() -> frozenset[str]:
    """Every country ``country_of`` can answer."""
    return frozenset(phonenumbers.SUPPORTED_REGIONS & COUNTRY_CODES)


def is_country_code(code: str) -> bool:
    """Whether ``code`` is an ISO 3166-1 alpha-2 code, in capitals (``DE``, not ``de``)."""
    return code in COUNTRY_CODES


def international_number(wa_number: str) -> phonenumbers.PhoneNumber | None:
    """``wa_number`` parsed, if it is an international number (see ``country_of``)."""
    text = wa_number.strip()
    if text[:9].lower() == "whatsapp:":
        text = text[9:]
    text = _SEPARATORS.sub("", text)
    if text.startswith("+"):
        digits = text[1:]
    elif text.startswith("00"):
        digits = text[2:]
    else:
        return None
    # ASCII only: phonenumbers would read other scripts' digits, which no one dials.
    if not (digits.isascii() and digits.isdigit() and 7 <= len(digits) <= 15):
        return None
    try:
        return phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return None


def country_of(wa_number: str) -> str | None:
    """The ISO country code of an international number, or None if it cannot be told.

    Accepts ``whatsapp:+4930...``, ``+49 30 ...``, ``0049 30 ...``, with spaces, dots,
    dashes, slashes or brackets. A number without ``+`` or ``00`` is not international and
    gives None, as does one that is not 7 to 15 digits long (E.164) or whose calling code
    phonenumbers does not know.
    """
    number = international_number(wa_number)
    if number is None:
        return None
    country = phonenumbers.region_code_for_number(number)
    if country is None and number.country_code is not None:
        # In no region's range (unassigned, fictional): the calling code's main country.
        country = phonenumbers.region_code_for_country_code(number.country_code)
    return country if country in COUNTRY_CODES else None
