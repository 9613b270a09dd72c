"""The deterministic sensitivity detectors, by name.

Each detector finds spans of a message that disclose something (an IBAN, a date of
birth, an order ...) in English, German, French and Spanish. A flow file assigns
detectors to levels; ``run_detectors`` turns their matches into ``Evidence`` at the
assigned level. Evidence carries the span, never the matched value.

    identity   passport_number, national_id_number, tax_id, social_security_number,
               date_of_birth, email_address, phone_number, home_address
    financial  iban, payment_card, financial_amount
    order      trade_instruction

Detectors favour precision: numbers that are not identifiers (prices, fees, years,
times, references) are common in prospect messages, so checksums are validated and
identifiers without a checksum need context words in the same message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from bot.domain.detectors.addresses import find_home_address
from bot.domain.detectors.amounts import find_financial_amount
from bot.domain.detectors.birth_years import find_birth_year
from bot.domain.detectors.debts import find_debt
from bot.domain.detectors.examples import without_examples
from bot.domain.detectors.identifiers import (
    find_iban,
    find_national_id,
    find_payment_card,
    find_social_security_number,
    find_tax_id,
)
from bot.domain.detectors.orders import find_trade_instruction
from bot.domain.detectors.personal import (
    find_date_of_birth,
    find_email_address,
    find_passport_number,
    find_phone_number,
)
from bot.domain.detectors.words import Found
from bot.domain.evidence import Evidence
from bot.domain.levels import Level

__all__ = [
    "DEFAULT_ASSIGNMENT",
    "DETECTORS",
    "Detector",
    "Match",
    "run_detectors",
]


@dataclass(frozen=True)
class Match:
    """A span of the text a detector found, and how sure it is (0..1)."""

    start: int
    end: int
    confidence: float


class Detector(Protocol):
    """Finds the spans of a text that disclose one kind of data."""

    # Read-only members, so frozen (immutable) detectors satisfy the protocol.
    @property
    def name(self) -> str: ...

    @property
    def default_level(self) -> Level: ...

    def find(self, text: str) -> list[Match]: ...


@dataclass(frozen=True)
class _FunctionDetector:
    """A detector made of a name, a default level and a function returning spans."""

    name: str
    default_level: Level
    function: Callable[[str], list[Found]]

    def find(self, text: str) -> list[Match]:
        # One span reported twice (e.g. a DNI found by two rules) is one match.
        spans: dict[tuple[int, int], float] = {}
        for start, end, confidence in self.function(text):
            spans[start, end] = max(confidence, spans.get((start, end), 0.0))
        return [Match(s, e, c) for (s, e), c in sorted(spans.items())]


def _either(*functions: Callable[[str], list[Found]]) -> Callable[[str], list[Found]]:
    """One detector function from several finding the same kind of data."""

    def find(text: str) -> list[Found]:
        return [hit for function in functions for hit in function(text)]

    return find


def _registry(*detectors: _FunctionDetector) -> Mapping[str, Detector]:
    return MappingProxyType({d.name: d for d in detectors})


DETECTORS: Mapping[str, Detector] = _registry(
    _FunctionDetector("passport_number", Level.IDENTITY, find_passport_number),
    _FunctionDetector("national_id_number", Level.IDENTITY, find_national_id),
    _FunctionDetector("tax_id", Level.IDENTITY, find_tax_id),
    _FunctionDetector("social_security_number", Level.IDENTITY, find_social_security_number),
    _FunctionDetector(
        "date_of_birth", Level.IDENTITY, _either(find_date_of_birth, find_birth_year)
    ),
    _FunctionDetector("email_address", Level.IDENTITY, find_email_address),
    _FunctionDetector("phone_number", Level.IDENTITY, find_phone_number),
    _FunctionDetector("home_address", Level.IDENTITY, find_home_address),
    _FunctionDetector("iban", Level.FINANCIAL, find_iban),
    _FunctionDetector("payment_card", Level.FINANCIAL, find_payment_card),
    _FunctionDetector(
        "financial_amount", Level.FINANCIAL, _either(find_financial_amount, find_debt)
    ),
    _FunctionDetector("trade_instruction", Level.ORDER, find_trade_instruction),
)

DEFAULT_ASSIGNMENT: Mapping[str, Level] = MappingProxyType(
    {name: detector.default_level for name, detector in DETECTORS.items()}
)


def run_detectors(text: str, assignment: Mapping[str, Level] | None = None) -> list[Evidence]:
    """Evidence for every match of every detector named in ``assignment`` (detector name
    -> level; default ``DEFAULT_ASSIGNMENT``), at the level the assignment gives.

    An unknown detector name raises KeyError naming it and the known ones.
    """
    chosen = DEFAULT_ASSIGNMENT if assignment is None else assignment
    unknown = sorted(set(chosen) - set(DETECTORS))
    if unknown:
        raise KeyError(
            f"unknown detector {', '.join(map(repr, unknown))}: "
            f"known detectors are {', '.join(sorted(DETECTORS))}"
        )
    return [
        Evidence(
            source="detector",
            name=name,
            level=level,
            start=match.start,
            end=match.end,
            confidence=match.confidence,
        )
        for name, level in chosen.items()
        for match in without_examples(text, name, DETECTORS[name].find(text))
    ]
