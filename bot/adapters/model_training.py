"""Training the sensitivity model with scikit-learn, and measuring it by cross-validation.

The features are ``bot.domain.model_features`` (the same function scores messages in the
service), weighted by TF-IDF; the classifier is a multinomial logistic regression. The
fitted weights are copied into a ``LinearModel``, which is what the service loads: the
service never runs scikit-learn.

Cross-validation holds out one writer's messages at a time: every message is scored by a
model that saw nothing its writer wrote, which is how the model meets prospects it was
never tuned on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.adapters.training_set import TrainingMessage
from bot.domain.follow_ups import follow_up
from bot.domain.levels import Level
from bot.domain.model_features import Features
from bot.domain.sensitivity_model import LinearModel

__all__ = ["TrainingSettings", "cross_validate", "examples", "fit"]


@dataclass(frozen=True)
class TrainingSettings:
    """The model's hyper-parameters; changing one changes the model's fingerprint."""

    features: Features = field(default_factory=Features)
    c: float = 30.0  # inverse regularisation strength of the logistic regression
    min_df: int = 2  # an n-gram must occur in this many messages to be kept
    sublinear_tf: bool = True
    balanced: bool = True  # weight levels by the inverse of their frequency

    def as_dict(self) -> dict[str, object]:
        return {
            "features": self.features.as_dict(),
            "c": self.c,
            "min_df": self.min_df,
            "sublinear_tf": self.sublinear_tf,
            "balanced": self.balanced,
        }


def examples(messages: Sequence[TrainingMessage]) -> list[tuple[str, Level]]:
    """What the model learns from: every message as it reads on its own, which is how
    it scores a message in the service.

    A message given with a context that stands on its own is learned at its label. A
    follow-up ("yes, do it", see ``bot.domain.follow_ups``) is learned alone only when
    its label is public: then it is public on its own too. One that takes a sensitive
    level from its context is left out: alone it says nothing sensitive, and the rules
    for follow-ups, not the model, carry its context's level over. (Learned together
    with their context, such pairs taught the model that a bare "yes" is an order.)
    """
    out = []
    for m in messages:
        if m.context and m.level > Level.PUBLIC and follow_up(m.text, m.language):
            continue
        out.append((m.text, m.level))
    return out


def fit(
    messages: Sequence[TrainingMessage], settings: TrainingSettings, *, name: str
) -> LinearModel:
    """A model trained on every message (see ``examples``)."""
    texts, levels = zip(*examples(messages), strict=True)
    return _fit(texts, levels, settings, name)


def _fit(
    texts: Sequence[str], levels: Sequence[Level], settings: TrainingSettings, name: str
) -> LinearModel:
    # Imported here: only training needs scikit-learn, the service does not.
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectoriser = TfidfVectorizer(
        analyzer=settings.features,
        min_df=settings.min_df,
        sublinear_tf=settings.sublinear_tf,
        dtype=np.float64,
    )
    matrix = vectoriser.fit_transform(texts)
    classifier = LogisticRegression(
        C=settings.c,
        max_iter=2000,
        class_weight="balanced" if settings.balanced else None,
    )
    classifier.fit(matrix, [int(level) for level in levels])
    classes = [Level(int(c)) for c in classifier.classes_]
    coef = classifier.coef_  # (levels, n-grams)
    intercepts = [float(v) for v in classifier.intercept_]
    if len(classes) == 2:  # scikit-learn keeps one row for two classes: expand it
        coef = np.vstack([-coef[0], coef[0]])
        intercepts = [-intercepts[0], intercepts[0]]
    weights = [float(w) for w in coef.T.ravel()]  # row after row, one row per n-gram
    vocabulary = {str(term): int(index) for term, index in vectoriser.vocabulary_.items()}
    return LinearModel(
        name=name,
        features=settings.features,
        vocabulary=vocabulary,
        idf=[float(v) for v in vectoriser.idf_],
        weights=weights,
        intercepts=intercepts,
        classes=classes,
        sublinear_tf=settings.sublinear_tf,
    )


def cross_validate(
    messages: Sequence[TrainingMessage], settings: TrainingSettings
) -> dict[str, LinearModel]:
    """For each writer, a model trained on everyone else's messages: score a writer's
    messages with theirs. With a single writer there is nobody to hold out: ValueError."""
    writers = sorted({m.writer for m in messages})
    if len(writers) < 2:
        raise ValueError("cross-validation by writer needs at least two writers")
    return {
        writer: fit([m for m in messages if m.writer != writer], settings, name=f"without-{writer}")
        for writer in writers
    }
