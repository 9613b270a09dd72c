"""How sensitive one message is: the higher of what the NLU understood and what the
deterministic rules found.

Four kinds of rule fire, each giving ``Evidence`` at the level the flow assigns:

- the Rasa NLU result: an intent the flow lists for a level, with at least the flow's
  ``min_confidence`` (any intent of the ranking counts, not only the top one: a
  disclosure that ranks second at 0.6 is still a disclosure), and entities it lists;
- the named detectors (checksummed identifiers, dates of birth, amounts, orders);
- the flow's per-language keywords and patterns;
- attachments, at the flow's level per media kind.

The NLU result arrives as the plain JSON Rasa's ``/model/parse`` answers with; turning it
into ``NluResult`` here keeps the rules testable without a Rasa server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.domain.detectors import run_detectors
from bot.domain.evidence import Evidence, highest_level
from bot.domain.flows import Flow
from bot.domain.levels import Level

__all__ = ["Assessment", "NluEntity", "NluResult", "assess"]


@dataclass(frozen=True)
class NluEntity:
    name: str
    start: int | None
    end: int | None
    confidence: float


@dataclass(frozen=True)
class NluResult:
    intent: str | None
    confidence: float
    ranking: tuple[tuple[str, float], ...] = ()
    entities: tuple[NluEntity, ...] = ()

    @classmethod
    def from_rasa(cls, data: Mapping[str, Any]) -> NluResult:
        """From Rasa's ``/model/parse`` answer; missing parts count as "nothing understood"."""
        intent = data.get("intent") or {}
        ranking = tuple(
            (str(item["name"]), float(item.get("confidence") or 0.0))
            for item in data.get("intent_ranking") or ()
            if isinstance(item, Mapping) and item.get("name")
        )
        entities = tuple(
            NluEntity(
                str(item["entity"]),
                item.get("start"),
                item.get("end"),
                float(item.get("confidence_entity") or item.get("confidence") or 1.0),
            )
            for item in data.get("entities") or ()
            if isinstance(item, Mapping) and item.get("entity")
        )
        name = intent.get("name") if isinstance(intent, Mapping) else None
        confidence = float(intent.get("confidence") or 0.0) if isinstance(intent, Mapping) else 0.0
        if not ranking and name:
            ranking = ((str(name), confidence),)
        return cls(name, confidence, ranking, entities)


@dataclass(frozen=True)
class Assessment:
    """A message's level and every piece of evidence for it (spans, never values)."""

    level: Level
    evidence: tuple[Evidence, ...]
    intent: str | None = None
    intent_confidence: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level.label,
            "evidence": [e.as_dict() for e in self.evidence],
            "intent": self.intent,
            "intent_confidence": round(self.intent_confidence, 4),
        }


def _nlu_evidence(flow: Flow, nlu: NluResult, text_length: int) -> list[Evidence]:
    found = []
    intents = flow.intent_levels()
    for name, confidence in nlu.ranking:
        level = intents.get(name)
        if level is not None and confidence >= flow.min_confidence:
            found.append(Evidence("intent", name, level, 0, text_length, confidence))
    entities = flow.entity_levels()
    for entity in nlu.entities:
        level = entities.get(entity.name)
        if level is not None:
            found.append(
                Evidence("entity", entity.name, level, entity.start, entity.end, entity.confidence)
            )
    return found


def assess(
    text: str,
    flow: Flow,
    *,
    nlu: NluResult | None = None,
    language: str | None = None,
    media_kinds: Sequence[str] = (),
) -> Assessment:
    """The level of one message under ``flow``: the highest level any evidence gives."""
    evidence: list[Evidence] = []
    if nlu is not None:
        evidence += _nlu_evidence(flow, nlu, len(text))
    evidence += run_detectors(text, flow.detector_assignment())
    for rules in flow.rules.values():
        evidence += rules.match(text, language)
    evidence += [Evidence("media", kind, flow.media_level(kind)) for kind in media_kinds]
    ordered = _ordered(evidence)
    return Assessment(
        highest_level(ordered),
        ordered,
        nlu.intent if nlu else None,
        nlu.confidence if nlu else 0.0,
    )


def _ordered(evidence: Iterable[Evidence]) -> tuple[Evidence, ...]:
    """Highest level first, then by position; the same rule on the same span once."""
    unique = {(e.source, e.name, e.start, e.end): e for e in evidence}
    return tuple(
        sorted(unique.values(), key=lambda e: (-e.level, e.start if e.start is not None else -1))
    )
