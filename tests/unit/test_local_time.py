"""When a link stops working, as the prospect reads it: their language, their number's
time zone, the zone named.

Every number is made up or from a range reserved for fiction: Berlin's 030 23125 xxx
(Bundesnetzagentur), France's 06 39 98 xx xx (ARCEP), Ofcom's 07700 900xxx, Australia's
0491 570 xxx (ACMA), NANP 555-01xx.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.local_time import format_expiry, format_moment, zone_of

BERLIN = "whatsapp:+4930231250042"
PARIS = "whatsapp:+33639981234"
LONDON = "whatsapp:+447700900123"
DENVER = "whatsapp:+13035550123"
TORONTO = "whatsapp:+14165550199"
AUSTRALIA_MOBILE = "whatsapp:+61491570156"  # phonenumbers: eight Australian zones
NANP_NO_AREA = "whatsapp:+15555550123"  # area code 555: no zone of its own

WINTER = datetime(2026, 12, 3, 14, 5, tzinfo=UTC)
SUMMER = datetime(2026, 7, 3, 14, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("number", "language", "expected"),
    [
        (BERLIN, "de", "3. Dezember 2026, 15:05 MEZ"),
        (LONDON, "en", "3 December 2026, 14:05 GMT"),
        (DENVER, "en", "December 3, 2026, 7:05\u202fAM MST"),
        (PARIS, "fr", "3 décembre 2026, 15:05 UTC+01:00"),
        (BERLIN, "es", "3 de diciembre de 2026, 15:05 CET"),
        (BERLIN, "en", "3 December 2026, 15:05 CET"),  # English as written in Germany
    ],
)
def test_a_winter_expiry_in_the_prospects_language_and_zone(
    number: str, language: str, expected: str
) -> None:
    assert format_expiry(WINTER, language=language, wa_number=number) == expected


@pytest.mark.parametrize(
    ("number", "language", "expected"),
    [
        (BERLIN, "de", "3. Juli 2026, 16:05 MESZ"),
        (LONDON, "en", "3 July 2026, 15:05 BST"),
        (DENVER, "en", "July 3, 2026, 8:05\u202fAM MDT"),
        (PARIS, "fr", "3 juillet 2026, 16:05 UTC+02:00"),
    ],
)
def test_summer_time_moves_the_hour_and_renames_the_zone(
    number: str, language: str, expected: str
) -> None:
    assert format_expiry(SUMMER, language=language, wa_number=number) == expected


def test_the_night_the_clocks_go_back_in_berlin() -> None:
    # 25 October 2026: at 01:00 UTC, 03:00 summer time becomes 02:00 winter time.
    before = datetime(2026, 10, 25, 0, 59, tzinfo=UTC)
    after = datetime(2026, 10, 25, 1, 0, tzinfo=UTC)
    assert format_expiry(before, language="de", wa_number=BERLIN) == (
        "25. Oktober 2026, 02:59 MESZ"
    )
    assert format_expiry(after, language="de", wa_number=BERLIN) == ("25. Oktober 2026, 02:00 MEZ")


def test_the_local_date_can_be_the_next_day() -> None:
    late = datetime(2026, 12, 3, 23, 30, tzinfo=UTC)
    assert format_expiry(late, language="de", wa_number=BERLIN) == "4. Dezember 2026, 00:30 MEZ"


@pytest.mark.parametrize(
    ("number", "zone"),
    [
        (BERLIN, "Europe/Berlin"),
        ("0049 30 23125 042", "Europe/Berlin"),  # written the international way with 00
        (LONDON, "Europe/London"),  # fictional range: the country has one zone
        (DENVER, "America/Denver"),  # +1 is many zones: the area code decides
        (TORONTO, "America/Toronto"),
        (AUSTRALIA_MOBILE, "Australia/Sydney"),  # several zones: the country's main one
    ],
)
def test_the_zone_comes_from_the_number(number: str, zone: str) -> None:
    assert zone_of(number) == zone


@pytest.mark.parametrize(
    "number",
    [
        NANP_NO_AREA,  # a country of many zones, and the number names none
        "+80012345678",  # international freephone: no country
        "07700 900123",  # not international: no country to go by
        "not a number",
    ],
)
def test_an_unknown_zone_is_utc_and_says_so(number: str) -> None:
    assert zone_of(number) == "UTC"
    assert format_expiry(WINTER, language="de", wa_number=number) == ("3. Dezember 2026, 14:05 UTC")
    assert format_expiry(WINTER, language="fr", wa_number=number).endswith("14:05 UTC")


def test_a_multi_zone_number_is_read_the_same_way_every_time() -> None:
    answers = {format_expiry(WINTER, language="en", wa_number=AUSTRALIA_MOBILE) for _ in range(3)}
    assert answers == {"4 December 2026, 1:05\u202fam AEDT"}


def test_without_a_language_the_expiry_is_in_english() -> None:
    assert format_expiry(WINTER, language=None, wa_number=LONDON) == "3 December 2026, 14:05 GMT"


def test_a_zone_the_time_zone_data_does_not_know_reads_as_utc() -> None:
    zone = "Atlantis/Capital"  # e.g. from a timer made with other time zone data
    assert format_moment(WINTER, language="de", zone=zone) == "3. Dezember 2026, 14:05 UTC"


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        format_expiry(datetime(2026, 12, 3, 14, 5), language="de", wa_number=BERLIN)


def test_dublin_is_named_by_its_offset_in_both_seasons() -> None:
    # Irish winter time counts as the daylight one; babel names it the wrong way round.
    dublin = "Europe/Dublin"
    assert format_moment(WINTER, language="en", zone=dublin) == "3 December 2026, 14:05 GMT"
    assert format_moment(SUMMER, language="en", zone=dublin) == "3 July 2026, 15:05 GMT+01:00"
