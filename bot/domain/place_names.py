"""Country and language names as prospects write them, in the flow's four languages.

The qualification questions ask where a prospect lives and which language they prefer;
they answer in words ("Spain", "Deutschland", "en Espagne", "inglés"). The names come
from babel's CLDR data, so they are the names the languages' own style guides use, and
are matched whole-word, ignoring case and accents (``bot.domain.flows.fold``). A few
everyday names CLDR does not list ("USA", "England", "Holland") are added by hand.
Only the four languages gangway speaks count as a preferred language.
"""

from __future__ import annotations

import re
from functools import lru_cache

from babel import Locale

from bot.domain.flows import REQUIRED_LANGUAGES, fold
from bot.domain.phone_country import COUNTRY_CODES

__all__ = [
    "SPOKEN",
    "country_name",
    "country_names",
    "language_name",
    "language_names",
]

# The languages a prospect may prefer: the ones gangway and its advisors speak.
SPOKEN: tuple[str, ...] = REQUIRED_LANGUAGES

# Everyday names CLDR leaves out. England, Scotland and Wales are parts of the United
# Kingdom, and Holland is what many call the Netherlands.
_EXTRA_COUNTRY_NAMES: dict[str, dict[str, str]] = {
    "en": {
        "usa": "US",
        "america": "US",
        "uk": "GB",
        "britain": "GB",
        "great britain": "GB",
        "england": "GB",
        "scotland": "GB",
        "wales": "GB",
        "holland": "NL",
    },
    "de": {
        "usa": "US",
        "amerika": "US",
        "england": "GB",
        "großbritannien": "GB",
        "schottland": "GB",
        "holland": "NL",
    },
    "fr": {
        "usa": "US",
        "amérique": "US",
        "angleterre": "GB",
        "grande-bretagne": "GB",
        "écosse": "GB",
        "hollande": "NL",
    },
    "es": {
        "usa": "US",
        "ee uu": "US",
        "eeuu": "US",
        "ee. uu.": "US",
        "inglaterra": "GB",
        "gran bretaña": "GB",
        "escocia": "GB",
        "holanda": "NL",
    },
}
_EXTRA_LANGUAGE_NAMES: dict[str, dict[str, str]] = {"es": {"castellano": "es"}}
_PARENTHESES = re.compile(r"\s*\(([^)]*)\)")


def _variants(name: str) -> set[str]:
    """``"Myanmar (Burma)"`` -> Myanmar, Burma; ``"Bosnia & Herzegovina"`` also with "and"."""
    out = {_PARENTHESES.sub("", name).strip(), *_PARENTHESES.findall(name)}
    if " - " in name:  # "Congo - Kinshasa": the part before names it as people say it
        out.add(name.split(" - ")[0])
    return {v for v in out if len(v) > 2}


@lru_cache(maxsize=8)
def country_names(language: str) -> dict[str, str]:
    """Folded country name in ``language`` -> ISO 3166 alpha-2 code (upper case)."""
    names: dict[str, str] = {}
    for code, name in Locale.parse(language).territories.items():
        if code in COUNTRY_CODES:
            for variant in _variants(name):
                names.setdefault(fold(variant)[0], code)
    for name, code in _EXTRA_COUNTRY_NAMES.get(language, {}).items():
        names.setdefault(fold(name)[0], code)
    return names


@lru_cache(maxsize=8)
def language_names(language: str) -> dict[str, str]:
    """Folded name, in ``language`` or in its own, of each spoken language -> its code."""
    names: dict[str, str] = {}
    shown = Locale.parse(language).languages
    for code in SPOKEN:
        names.setdefault(fold(shown[code])[0], code)
        names.setdefault(fold(language_name(code))[0], code)
    for name, code in _EXTRA_LANGUAGE_NAMES.get(language, {}).items():
        names.setdefault(fold(name)[0], code)
    return names


def country_name(code: str, language: str) -> str | None:
    """The country's name in ``language`` (``("DE", "fr")`` -> "Allemagne"); None if unknown."""
    name = Locale.parse(language).territories.get(code.upper())
    return None if name is None else str(name)


def language_name(code: str, in_language: str | None = None) -> str:
    """A language's name in ``in_language``, by default in its own (``"de"`` -> "Deutsch")."""
    locale = Locale.parse(code)
    name = locale.get_display_name(in_language or code) or code
    return str(name)
