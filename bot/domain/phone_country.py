"""Countries: ISO 3166 codes, and the country a WhatsApp number's calling code points to.

Routing needs the prospect's country (which advisors are licensed for them). Before the
prospect says where they live, their number is the best clue. The calling code is matched
longest prefix first, because several countries share one: +1 is the United States, Canada
and the Caribbean (told apart by area code), +44 is the United Kingdom and the Crown
Dependencies (Jersey, Guernsey, Isle of Man: regulated apart from the UK), +7 is Russia
and Kazakhstan.

A territory with its own ISO code and its own number range is reported under that code
(``+1 787`` is ``PR``, ``+44 1534`` is ``JE``, ``+358 18`` is ``AX``), so an advisor
licensed for ``US`` or ``GB`` is not assumed to cover it. Every +1 number whose area code
is neither Canadian nor Caribbean counts as ``US`` (shared toll-free codes such as 800
included); calling codes outside the table give ``None``. A number shows where a phone
was registered, not where its owner lives: a clue for routing, not proof of residence.
"""

from __future__ import annotations

import re

__all__ = ["COUNTRY_CODES", "calling_code_countries", "country_of", "is_country_code"]

# ISO 3166-1 alpha-2, every officially assigned code.
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


def _table(spec: str) -> dict[str, str]:
    """``"CODE:prefix prefix ..."`` lines as {prefix: CODE}."""
    table: dict[str, str] = {}
    for line in spec.strip().splitlines():
        code, prefixes = line.split(":")
        for prefix in prefixes.split():
            if prefix in table:
                raise ValueError(f"calling code prefix {prefix} is listed twice")
            table[prefix] = code.strip()
    return table


# Calling code (and, where countries share one, the leading national digits) -> country.
_PREFIXES = _table(
    """
    AT: 43
    BE: 32
    BG: 359
    HR: 385
    CY: 357
    CZ: 420
    DK: 45
    EE: 372
    FI: 358
    AX: 35818
    FR: 33
    GP: 590
    GF: 594
    MQ: 596
    RE: 262
    YT: 262269 262639
    DE: 49
    GR: 30
    HU: 36
    IE: 353
    IT: 39
    LV: 371
    LT: 370
    LU: 352
    MT: 356
    NL: 31
    PL: 48
    PT: 351
    RO: 40
    SK: 421
    SI: 386
    ES: 34
    SE: 46
    IS: 354
    LI: 423
    NO: 47
    CH: 41
    GB: 44
    GG: 441481 447781 447839 4479111 4479117
    IM: 441624 447524 447624 447924 4474576
    JE: 441534 447509 447829 447937 4477003 4477007 4477008 4477977 4477978 4477979
    AD: 376
    AL: 355
    AM: 374
    AZ: 994
    BA: 387
    BY: 375
    FO: 298
    GE: 995
    GI: 350
    GL: 299
    MC: 377
    MD: 373
    ME: 382
    MK: 389
    RS: 381
    SM: 378
    TR: 90
    UA: 380
    RU: 7
    KZ: 76 77
    US: 1
    CA: 1204 1226 1236 1249 1250 1257 1263 1289 1306 1343 1354 1365 1367 1368 1382 1403
    CA: 1416 1418 1428 1431 1437 1438 1450 1468 1474 1506 1514 1519 1548 1579 1581 1584
    CA: 1587 1604 1613 1639 1647 1672 1683 1705 1709 1742 1753 1778 1780 1782 1807 1819
    CA: 1825 1867 1873 1879 1902 1905 1942
    AG: 1268
    AI: 1264
    AS: 1684
    BB: 1246
    BM: 1441
    BS: 1242
    DM: 1767
    DO: 1809 1829 1849
    GD: 1473
    GU: 1671
    JM: 1876 1658
    KN: 1869
    KY: 1345
    LC: 1758
    MP: 1670
    MS: 1664
    PR: 1787 1939
    SX: 1721
    TC: 1649
    TT: 1868
    VC: 1784
    VG: 1284
    VI: 1340
    AE: 971
    AR: 54
    AU: 61
    BR: 55
    CL: 56
    CN: 86
    CO: 57
    EG: 20
    HK: 852
    IL: 972
    IN: 91
    JP: 81
    KR: 82
    MA: 212
    MX: 52
    NZ: 64
    QA: 974
    SA: 966
    SG: 65
    ZA: 27
    """
)
_LONGEST = max(map(len, _PREFIXES))
_SEPARATORS = re.compile(r"[\s().\-/]")


def calling_code_countries() -> frozenset[str]:
    """Every country ``country_of`` can answer."""
    return frozenset(_PREFIXES.values())


def is_country_code(code: str) -> bool:
    """Whether ``code`` is an ISO 3166-1 alpha-2 code, in capitals (``DE``, not ``de``)."""
    return code in COUNTRY_CODES


def country_of(wa_number: str) -> str | None:
    """The ISO country code of an international number, or None if it cannot be told.

    Accepts ``whatsapp:+4930...``, ``+49 30 ...``, ``0049 30 ...``, with spaces, dots,
    dashes, slashes or brackets. A number without ``+`` or ``00`` is not international and
    gives None, as does one that is not 7 to 15 digits long (E.164) or whose calling code
    is not in the table.
    """
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
    if not (digits.isascii() and digits.isdigit() and 7 <= len(digits) <= 15):
        return None
    for length in range(min(_LONGEST, len(digits)), 0, -1):
        country = _PREFIXES.get(digits[:length])
        if country is not None:
            return country
    return None
