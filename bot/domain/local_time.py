"""A moment as the prospect reads it: in their language and in their own time zone.

The prospect's time zone is read from their WhatsApp number (phonenumbers' time zone
metadata, by calling code and area code), so a link "valid until" a moment says the
hour on the prospect's clock, with the zone named so that nobody has to guess:
"3. Dezember 2026, 15:05 MEZ" for a German number, "3 December 2026, 14:05 GMT" for a
British one, "December 3, 2026, 9:05 AM EST" for a New York one.

How the zone is chosen, always the same way for the same number:

- a number of a country with one time zone (``phone_country.country_of``; CLDR's zones
  of the country) is in that zone, whatever its range: ``+44 7700 900xxx``, reserved
  for fiction, is London, and an Irish mobile is Dublin (phonenumbers gives such
  numbers London and the Crown Dependencies);
- in a country with several, the zones phonenumbers gives for the full number, by area
  code: a +1 303 number is Denver, a +1 613 number Toronto, a German mobile Berlin;
- of several such zones (a Spanish or Portuguese mobile: the mainland and the islands;
  a Russian, Australian or toll-free one: many), the main zone in ``MAIN_ZONES`` of the
  number's country, or else of its calling code's main country, when it is one of them;
  else the first in phonenumbers' (alphabetical) order;
- no zone at all (no country, a number of no country such as ``+800``, a number in no
  zone's range in a country with several, like ``+1 555 01xx``): UTC, named so.

The words come from babel (CLDR) in the locale of the language and the zone's country
(``de_AT``, ``en_GB``, ``en_US``, ``fr_CA``), or of the language alone when CLDR has no
such locale or the zone is UTC: its long date, its short time and the zone's short name
in that language, joined as the locale joins a date and a time. Where the language has
no short name for the zone, the offset stands in its place ("UTC+01:00"). A number shows
where a phone was registered, not where its owner is: a best guess, which is why the
zone is always named. Only the zone's name is kept (a timer carries it to the reminder).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.dates import format_datetime, get_timezone_gmt
from phonenumbers import timezone as number_zones

from bot.domain.phone_country import country_of, international_number

__all__ = ["MAIN_ZONES", "UTC_ZONE", "format_expiry", "format_moment", "zone_of"]

# Where most of a country's people live, for numbers phonenumbers places in several zones.
MAIN_ZONES: dict[str, str] = {
    "AR": "America/Argentina/Buenos_Aires",
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "CA": "America/Toronto",
    "CL": "America/Santiago",
    "DE": "Europe/Berlin",
    "ES": "Europe/Madrid",
    "GB": "Europe/London",
    "ID": "Asia/Jakarta",
    "KZ": "Asia/Almaty",
    "MX": "America/Mexico_City",
    "PT": "Europe/Lisbon",
    "RU": "Europe/Moscow",
    "US": "America/New_York",
}

UTC_ZONE = "UTC"  # the zone of a number whose own cannot be told
_UNKNOWN = "Etc/Unknown"
_DEFAULT_LANGUAGE = "en"


def zone_of(wa_number: str) -> str:
    """The time zone (IANA name) of a WhatsApp number (``whatsapp:+49...``, ``+49 ...``),
    chosen as the module describes; ``UTC_ZONE`` when it cannot be told."""
    number = international_number(wa_number)
    country = country_of(wa_number)
    if number is None or country is None:
        return UTC_ZONE
    country_zones = get_global("territory_zones").get(country, ())
    if len(country_zones) == 1:
        zones = list(country_zones)  # the country says it; its numbers need not
    else:
        zones = [z for z in number_zones.time_zones_for_number(number) if z != _UNKNOWN]
    zones = [z for z in zones if _known(z)]
    if not zones:
        return UTC_ZONE
    calling_country = phonenumbers.region_code_for_country_code(number.country_code or 0)
    for main in (MAIN_ZONES.get(country), MAIN_ZONES.get(calling_country)):
        if main is not None and main in zones:
            return main
    return zones[0]


def _known(zone: str) -> bool:
    try:
        ZoneInfo(zone)
    except (KeyError, ValueError):
        return False
    return True


def _locale(language: str | None, zone: str) -> Locale:
    """The language as written where ``zone`` is (CLDR's country of the zone)."""
    language = language or _DEFAULT_LANGUAGE
    country = get_global("zone_territories").get(zone)
    if country is not None:
        try:
            return Locale.parse(f"{language}_{country}")
        except (UnknownLocaleError, ValueError):
            pass
    try:
        return Locale.parse(language)
    except (UnknownLocaleError, ValueError):
        return Locale.parse(_DEFAULT_LANGUAGE)


def _quoted(text: str) -> str:
    """``text`` as a literal inside a CLDR date pattern."""
    return "'" + text.replace("'", "''") + "'"


def _winter_is_daylight(local: datetime) -> bool:
    tz = local.tzinfo
    assert tz is not None
    return any(
        (tz.dst(datetime(local.year, month, 15)) or timedelta(0)) < timedelta(0) for month in (1, 7)
    )


def _zone_name(local: datetime, zone: str, locale: Locale) -> str:
    """The zone's short name in ``locale`` ("MEZ", "GMT", "EST"), else its offset."""
    if zone == UTC_ZONE:
        return "UTC"
    # A zone whose winter time counts as the daylight one (Dublin) babel names the wrong
    # way round all year: it gets its offset.
    if not _winter_is_daylight(local):
        name = format_datetime(local, "z", locale=locale)
        if name[:1] not in "+-":  # babel's bare offset: the language has no name for it
            return name
    if local.utcoffset():
        return get_timezone_gmt(local, "long", locale=locale)  # "UTC+01:00", "GMT+03:00"
    return locale.zone_formats["gmt"] % ""  # "GMT", "UTC": without "+00:00"


def format_moment(at: datetime, *, language: str | None, zone: str) -> str:
    """``at`` (an aware datetime) as a date and an hour in ``zone`` (an IANA name), in
    ``language`` (en, de, fr, es; None: English), the zone named after the hour."""
    if at.tzinfo is None:
        raise ValueError("at must be an aware datetime")
    if not _known(zone):  # a zone this machine's time zone data does not have
        zone = UTC_ZONE
    locale = _locale(language, zone)
    local = at.astimezone(ZoneInfo(zone))
    name = _zone_name(local, zone, locale)
    date_and_time = str(locale.datetime_formats["long"])
    pattern = date_and_time.replace("{1}", locale.date_formats["long"].pattern).replace(
        "{0}", locale.time_formats["short"].pattern + " " + _quoted(name)
    )
    return format_datetime(local, pattern, locale=locale)


def format_expiry(at: datetime, *, language: str | None, wa_number: str) -> str:
    """When a link sent to ``wa_number`` stops working, as its holder reads it."""
    return format_moment(at, language=language, zone=zone_of(wa_number))
