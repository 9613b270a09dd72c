"""How sensitive one message is: the higher of what the NLU understood and what the
deterministic rules found.

Six kinds of signal fire, each giving ``Evidence`` at the level the flow assigns:

- the Rasa NLU result: an intent the flow lists for a level, with at least the flow's
  ``min_confidence`` (any intent of the ranking counts, not only the top one: a
  disclosure that ranks second at 0.6 is still a disclosure), and entities it lists;
- the learned sensitivity model: the highest level whose score reaches the flow's
  ``min_score`` for it;
- the named detectors (checksummed identifiers, dates of birth, amounts, orders);
- the flow's per-language keywords and patterns;
- attachments, at the flow's level per media kind;
- the context of a follow-up ("yes, do it", see ``bot.domain.follow_ups``): at least the
  level of the previous messages it confirms, an order when it tells the firm to go
  ahead after a request for advice, and the model's reading of the follow-up together
  with them.

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
from bot.domain.follow_ups import FollowUp
from bot.domain.levels import Level
from bot.domain.sensitivity_model import LevelScores

__all__ = ["TOO_LONG", "Assessment", "Context", "NluEntity", "NluResult", "assess", "too_long"]

MODEL = "sensitivity_model"
TOO_LONG = "too_long"


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
class Context:
    """What a follow-up is judged with: what it does, the highest level among the
    previous messages it follows, and the model's scores for the follow-up read together
    with them (None without a model)."""

    follow_up: FollowUp
    previous_level: Level
    scores: LevelScores | None = None


@dataclass(frozen=True)
class Assessment:
    """A message's level and every piece of evidence for it (spans, never values)."""

    level: Level
    evidence: tuple[Evidence, ...]
    intent: str | None = None
    intent_confidence: float = 0.0
    scores: LevelScores | None = None  # the model's, whether or not they reached a minimum

    def fresh_level(self, reached: Level) -> Level:
        """The level a conversation that already reached ``reached`` must react to: the
        message's own evidence, and its context's only where that goes beyond
        ``reached``. A follow-up repeating what the conversation already knows ("yes"
        after a passport number) is not a new disclosure; a go-ahead that turns advice
        into an order is."""
        return max(
            highest_level(e for e in self.evidence if e.source != "context"),
            highest_level(e for e in self.evidence if e.source == "context" and e.level > reached),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level.label,
            "evidence": [e.as_dict() for e in self.evidence],
            "intent": self.intent,
            "intent_confidence": round(self.intent_confidence, 4),
            "model_scores": self.scores.as_dict() if self.scores else None,
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


def _model_evidence(
    flow: Flow, scores: LevelScores, name: str, length: int | None
) -> list[Evidence]:
    """The highest level the model's scores reach; its span is the whole text read."""
    found = scores.highest(flow.min_scores())
    if found is None:
        return []
    level, score = found
    start = None if length is None else 0
    return [Evidence("model", name, level, start, length, score)]


def _context_evidence(flow: Flow, context: Context) -> list[Evidence]:
    kind = context.follow_up.value
    found = []
    if context.previous_level > Level.PUBLIC:
        found.append(Evidence("context", f"follow_up:{kind}", context.previous_level))
    if context.follow_up is FollowUp.PROCEED and context.previous_level == Level.ADVICE:
        found.append(Evidence("context", "follow_up:go_ahead_after_advice", Level.ORDER))
    if context.scores is not None:
        found += [
            Evidence("context", MODEL, e.level, None, None, e.confidence)
            for e in _model_evidence(flow, context.scores, MODEL, None)
        ]
    return found


def assess(
    text: str,
    flow: Flow,
    *,
    nlu: NluResult | None = None,
    scores: LevelScores | None = None,
    language: str | None = None,
    media_kinds: Sequence[str] = (),
    context: Context | None = None,
) -> Assessment:
    """The level of one message under ``flow``: the highest level any evidence gives."""
    evidence: list[Evidence] = []
    if nlu is not None:
        evidence += _nlu_evidence(flow, nlu, len(text))
    # An answer to a qualification question ("English please") is not the model's to
    # judge: it never saw such answers. Every other check below still runs.
    answer = flow.qualification is not None and flow.qualification.answer_only(text)
    if scores is not None and not answer:
        evidence += _model_evidence(flow, scores, MODEL, len(text))
    evidence += run_detectors(text, flow.detector_assignment())
    for rules in flow.rules.values():
        evidence += rules.match(text, language)
    evidence += [Evidence("media", kind, flow.media_level(kind)) for kind in media_kinds]
    if context is not None:
        evidence += _context_evidence(flow, context)
    ordered = _ordered(evidence)
    return Assessment(
        highest_level(ordered),
        ordered,
        nlu.intent if nlu else None,
        nlu.confidence if nlu else 0.0,
        scores,
    )


def too_long(flow: Flow, length: int) -> Assessment:
    """The assessment of a message too long to screen: no detector, keyword or model
    looks at it, so it cannot be shown harmless and counts as sensitive. Its level is
    the flow's threshold, or the level the flow gives what it cannot read (an
    attachment) if that is higher, so it is never forwarded to the bot; the evidence
    ("length", "too_long") spans the whole text and says why."""
    level = max(flow.transition_at, flow.media_level("default"))
    return Assessment(level, (Evidence("length", TOO_LONG, level, 0, length),))


def _ordered(evidence: Iterable[Evidence]) -> tuple[Evidence, ...]:
    """Highest level first, then by position; the same rule on the same span once."""
    unique = {(e.source, e.name, e.start, e.end): e for e in evidence}
    return tuple(
        sorted(unique.values(), key=lambda e: (-e.level, e.start if e.start is not None else -1))
    )
