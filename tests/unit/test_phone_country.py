"""The prospect's country from their WhatsApp number, as phonenumbers tells it.

Every number here is made up or from a range reserved for fiction (NANP 555-01xx, Ofcom's
07700 900xxx).
"""

from __future__ import annotations

import pytest

from bot.domain.phone_country import (
    COUNTRY_CODES,
    calling_code_countries,
    country_of,
    is_country_code,
)

EU_EEA = {
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
    "IS", "LI", "NO",
}  # fmt: skip


@pytest.mark.parametrize(
    ("number", "country"),
    [
        ("whatsapp:+12025550123", "US"),  # Washington DC, fictional 555-01xx
        ("+1 202-555-0147", "US"),
        ("+1 (416) 555-0199", "CA"),  # Toronto: +1 is shared, the area code decides
        ("+1 604 555 0110", "CA"),
        ("+1 876 555 0123", "JM"),  # Jamaica is +1 too
        ("+1 787 555 0123", "PR"),  # Puerto Rico has its own ISO code
        ("+1 800 555 0123", "US"),  # shared toll-free: counted as US
        ("+44 7700 900123", "GB"),  # Ofcom's drama range
        ("+44 20 7946 0958", "GB"),
        ("+44 1534 456789", "JE"),  # Jersey shares +44 but is not the UK
        ("+44 7797 712345", "JE"),
        ("+44 1481 256789", "GG"),
        ("+44 7624 123456", "IM"),
        ("+49 30 1234567", "DE"),
        ("+43 1 2345678", "AT"),
        ("+41 44 123 45 67", "CH"),
        ("+33 1 23 45 67 89", "FR"),
        ("+34 912 345 678", "ES"),
        ("+352 26 12 34", "LU"),  # +352 before +35 or +3
        ("+353 1 234 5678", "IE"),
        ("+358 9 1234567", "FI"),
        ("+358 18 12345", "AX"),  # Åland, inside +358
        ("+359 2 123 4567", "BG"),
        ("+30 21 0123 4567", "GR"),
        ("+354 512 3456", "IS"),
        ("+423 234 5678", "LI"),
        ("+47 2212 3456", "NO"),
        ("+7 495 123 4567", "RU"),
        ("+7 701 123 4567", "KZ"),
        ("0049 30 1234567", "DE"),  # 00 instead of +
        ("+81 3 1234 5678", "JP"),
    ],
)
def test_calling_code_gives_the_country(number: str, country: str) -> None:
    """The calling code, and where countries share one the number, names the country."""
    assert country_of(number) == country


@pytest.mark.parametrize(
    "number",
    [
        "030 1234567",  # national format: no country in it
        "+",
        "+49",  # too short to be a number
        "+49 30 12345678901234",  # longer than E.164's 15 digits
        "+49 30 12a4567",
        "+٤٩٣٠١٢٣٤٥٦٧",  # Arabic-Indic digits are not dialable digits
        "+999 1234 5678",  # no such calling code
        "",
    ],
)
def test_what_cannot_be_told_gives_none(number: str) -> None:
    """National, malformed or unknown numbers give None rather than a guess."""
    assert country_of(number) is None


def test_every_eu_and_eea_country_plus_ch_gb_us_ca_is_covered() -> None:
    """The whole EU/EEA, Switzerland, the UK, the US and Canada can be told, as ISO codes."""
    assert EU_EEA | {"CH", "GB", "US", "CA"} <= calling_code_countries()
    assert calling_code_countries() <= COUNTRY_CODES


def test_country_codes_are_iso_in_capitals() -> None:
    """ISO 3166 alpha-2 codes only: GB not UK, GR not EL, capitals only."""
    assert len(COUNTRY_CODES) == 249
    assert is_country_code("GB") and is_country_code("GR")
    assert not is_country_code("UK") and not is_country_code("EL")
    assert not is_country_code("de")


@pytest.mark.parametrize(
    ("number", "country"),
    [
        ("+254 712 345678", "KE"),  # any country phonenumbers knows, not only Europe's
        ("+66 2 123 4567", "TH"),
        ("+262 269 61 23 45", "YT"),  # Mayotte shares +262 with Réunion
        ("+262 262 12 34 56", "RE"),
        ("+39 06 6982 1234", "VA"),  # the Vatican's range inside Italy's +39
        ("+1 876 000 0000", "JM"),  # no such line, but Jamaica's area code
        ("+44 7700 900999", "GB"),  # reserved for fiction: no territory's range
    ],
)
def test_phonenumbers_metadata_tells_shared_codes_apart(number: str, country: str) -> None:
    """Territories are told by their number ranges, unassigned numbers by the main country."""
    assert country_of(number) == country


@pytest.mark.parametrize(
    "number",
    [
        "+800 1234 5678",  # international freephone: no country
        "+383 44 123 456",  # Kosovo: XK is not an ISO 3166 code
    ],
)
def test_numbers_of_no_iso_country_give_none(number: str) -> None:
    """A number phonenumbers places in no ISO 3166 country gives None."""
    assert country_of(number) is None
