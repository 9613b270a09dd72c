"""Why a message got its sensitivity level: one piece of evidence per rule that fired.

Evidence names the rule and the span of the text it matched, never the matched value
itself, so it can be stored, audited and shown to an advisor without repeating the
sensitive data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.domain.levels import Level

__all__ = ["SOURCES", "Evidence", "highest_level"]

# detector: a named deterministic detector (checksums, formats) in bot.domain.detectors
# intent / entity: the Rasa NLU result
# keyword / pattern: a flow's per-language word list or regular expression
# media: an attachment (image, document, voice note, location, contact card)
# model: the learned sensitivity model's score, at or above the flow's min_score
# context: a follow-up judged with the previous messages (bot.domain.follow_ups)
# length: a message too long to screen at all (bot.domain.sensitivity.too_long)
SOURCES = (
    "detector",
    "intent",
    "entity",
    "keyword",
    "pattern",
    "media",
    "model",
    "context",
    "length",
)


@dataclass(frozen=True)
class Evidence:
    source: str
    name: str
    level: Level
    start: int | None = None
    end: int | None = None
    confidence: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        span = [self.start, self.end] if self.start is not None else None
        return {
            "source": self.source,
            "name": self.name,
            "level": self.level.label,
            "span": span,
            "confidence": round(self.confidence, 4),
        }


def highest_level(evidence: Iterable[Evidence]) -> Level:
    """The level of a message: the highest any evidence gives, public if none."""
    return max((e.level for e in evidence), default=Level.PUBLIC)
