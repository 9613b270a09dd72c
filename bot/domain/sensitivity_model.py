"""The learned sensitivity model: a linear model over word and character n-grams.

It is trained by scikit-learn (``bot.adapters.model_training``: TF-IDF features and a
multinomial logistic regression) and scored here, from its weights alone, in plain
Python: loading a model is reading numbers, never unpickling code, and scoring a message
costs a few hundred dictionary look-ups. A test holds the two to the same probabilities.

The model gives each message a probability per level; its *score* for a level is the
probability that the message is at that level or above (so scores never rise from one
level to the next). A flow turns scores into evidence with its ``min_score`` per level.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.domain.levels import Level
from bot.domain.model_features import Features

__all__ = ["LevelScores", "LinearModel"]


@dataclass(frozen=True)
class LevelScores:
    """The model's score for "at least this level", for each level above public."""

    model: str
    scores: Mapping[Level, float]

    def highest(self, min_scores: Mapping[Level, float]) -> tuple[Level, float] | None:
        """The highest level whose score reaches its minimum, with that score."""
        for level in sorted(min_scores, reverse=True):
            score = self.scores.get(level, 0.0)
            if level > Level.PUBLIC and score >= min_scores[level]:
                return level, score
        return None

    def as_dict(self) -> dict[str, float]:
        return {level.label: round(score, 4) for level, score in sorted(self.scores.items())}


class LinearModel:
    """TF-IDF weighted n-gram counts, L2-normalised, times a weight per (n-gram, level).

    ``weights`` holds one row of ``len(classes)`` weights per n-gram of ``vocabulary``,
    row after row; ``classes`` are the levels in the order of the weights' columns.
    """

    def __init__(
        self,
        *,
        name: str,
        features: Features,
        vocabulary: Mapping[str, int],
        idf: Sequence[float],
        weights: Sequence[float],
        intercepts: Sequence[float],
        classes: Sequence[Level],
        sublinear_tf: bool,
    ) -> None:
        width = len(classes)
        if len(intercepts) != width or len(weights) != len(vocabulary) * width:
            raise ValueError("the model's weights do not match its vocabulary and levels")
        if len(idf) != len(vocabulary):
            raise ValueError("the model's idf does not match its vocabulary")
        self.name = name
        self.features = features
        self.classes = tuple(classes)
        self._vocabulary = dict(vocabulary)
        self._idf = array("d", idf)
        self._weights = array("d", weights)
        self._intercepts = tuple(intercepts)
        self._sublinear = sublinear_tf

    def table(self) -> dict[str, Any]:
        """Everything that makes the model, for saving: the vocabulary in index order."""
        vocabulary = [""] * len(self._vocabulary)
        for term, index in self._vocabulary.items():
            vocabulary[index] = term
        return {
            "vocabulary": vocabulary,
            "idf": self._idf,
            "weights": self._weights,
            "intercepts": self._intercepts,
            "sublinear_tf": self._sublinear,
        }

    @property
    def size(self) -> int:
        """The number of n-grams the model knows."""
        return len(self._vocabulary)

    def probabilities(self, text: str) -> dict[Level, float]:
        """The probability of each level for ``text`` (they sum to 1)."""
        counts = Counter(
            index for f in self.features(text) if (index := self._vocabulary.get(f)) is not None
        )
        values = {}
        for index, count in counts.items():
            tf = 1.0 + math.log(count) if self._sublinear else float(count)
            values[index] = tf * self._idf[index]
        norm = math.sqrt(sum(v * v for v in values.values())) or 1.0
        width = len(self.classes)
        logits = list(self._intercepts)
        weights = self._weights
        for index, value in values.items():
            x = value / norm
            row = index * width
            for k in range(width):
                logits[k] += x * weights[row + k]
        top = max(logits)
        exps = [math.exp(v - top) for v in logits]
        total = sum(exps)
        return {level: e / total for level, e in zip(self.classes, exps, strict=True)}

    def score(self, text: str) -> LevelScores:
        """The score of each level above public: the probability of it or any above it."""
        probabilities = self.probabilities(text)
        scores: dict[Level, float] = {}
        running = 0.0
        for level in sorted(Level, reverse=True):
            running += probabilities.get(level, 0.0)
            if level > Level.PUBLIC:
                scores[level] = min(running, 1.0)
        return LevelScores(self.name, scores)
