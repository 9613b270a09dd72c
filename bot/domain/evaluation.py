"""Scoring a sensitivity classifier against the labelled evaluation set.

The set (``eval/sensitivity.yml``) gives every message the level a compliance officer
would give it; ``evaluate`` compares those labels with the levels a classifier predicted
and ``format_report`` prints the result for ``gangway eval``.

The two kinds of error are not equal. A prediction *below* the label is a miss: the
sensitive text stayed on WhatsApp and went to Rasa, a compliance failure. A prediction
*above* the label is a false alarm: the prospect is offered the secure channel too early,
an annoyance. Both are listed, misses first.

Ratios with nothing to divide by (the precision of a level nobody predicted, the recall of
a level with no labelled messages) are ``None``, shown as ``-``, rather than a made-up 0 or
1, so a target can never pass on an empty measure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.domain.levels import Level

__all__ = [
    "DEFAULT_TARGETS",
    "EVAL_LANGUAGES",
    "HARD_CATEGORIES",
    "EvalReport",
    "LabelledMessage",
    "LevelScore",
    "Mismatch",
    "Scores",
    "TargetCheck",
    "Targets",
    "evaluate",
    "format_report",
]

EVAL_LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es")

# What makes a hard item hard; eval/README.md explains each with examples.
HARD_CATEGORIES: tuple[str, ...] = (
    "not_identifier",
    "mentions_without_disclosing",
    "indirect_disclosure",
    "advice_without_word",
    "order_without_verb",
    "refusal",
)

_LEVELS: tuple[Level, ...] = tuple(Level)


@dataclass(frozen=True)
class LabelledMessage:
    """One message of the evaluation set with the level it should get."""

    text: str
    language: str
    level: Level
    hard: bool
    why: str | None
    line: int
    category: str | None = None


@dataclass(frozen=True)
class Mismatch:
    """A message whose predicted level differs from its label."""

    message: LabelledMessage
    predicted: Level


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass(frozen=True)
class LevelScore:
    """Counts for one level; precision, recall and F1 follow from them."""

    level: Level
    support: int  # messages labelled with this level
    predicted: int  # messages predicted at this level
    correct: int  # labelled and predicted at this level

    @property
    def precision(self) -> float | None:
        return _ratio(self.correct, self.predicted)

    @property
    def recall(self) -> float | None:
        return _ratio(self.correct, self.support)

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class Scores:
    """All figures for one group of messages, derived from its confusion matrix."""

    confusion: tuple[tuple[int, ...], ...]  # [expected][predicted], in Level order

    @classmethod
    def of(cls, pairs: Iterable[tuple[LabelledMessage, Level]]) -> Scores:
        matrix = [[0] * len(_LEVELS) for _ in _LEVELS]
        for message, predicted in pairs:
            matrix[message.level][predicted] += 1
        return cls(tuple(tuple(row) for row in matrix))

    @property
    def count(self) -> int:
        return sum(map(sum, self.confusion))

    @property
    def correct(self) -> int:
        return sum(self.confusion[level][level] for level in _LEVELS)

    def level(self, level: Level) -> LevelScore:
        return LevelScore(
            level=level,
            support=sum(self.confusion[level]),
            predicted=sum(row[level] for row in self.confusion),
            correct=self.confusion[level][level],
        )

    @property
    def per_level(self) -> tuple[LevelScore, ...]:
        return tuple(self.level(level) for level in _LEVELS)

    @property
    def accuracy(self) -> float | None:
        return _ratio(self.correct, self.count)

    def under(self, level: Level | None = None) -> int:
        """Messages predicted below their label (of ``level``, or of any level)."""
        rows = [level] if level is not None else list(_LEVELS)
        return sum(self.confusion[row][col] for row in rows for col in range(row))

    @property
    def sensitive_predicted(self) -> int:
        """Messages predicted above public: the ones that start the transition protocol."""
        return sum(row[level] for row in self.confusion for level in _LEVELS[1:])

    @property
    def sensitive_precision(self) -> float | None:
        """Micro precision over the sensitive predictions: of the messages predicted above
        public, the share predicted at exactly their labelled level."""
        return _ratio(
            self.correct - self.confusion[Level.PUBLIC][Level.PUBLIC], self.sensitive_predicted
        )

    @property
    def macro_precision(self) -> float | None:
        """The mean precision of the levels that were predicted at least once."""
        values = [p for s in self.per_level if (p := s.precision) is not None]
        return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class TargetCheck:
    """One quality target and how the evaluation measured against it."""

    measure: str
    value: float | None
    minimum: float
    detail: str

    @property
    def passed(self) -> bool:
        return self.value is not None and self.value >= self.minimum

    def describe(self) -> str:
        if self.value is None:
            return f"{self.measure} cannot be measured: {self.detail}"
        relation = "at or above" if self.passed else "below"
        return (
            f"{self.measure} is {self.value:.3f}, {relation} the target {self.minimum:.2f} "
            f"({self.detail})"
        )


@dataclass(frozen=True)
class Targets:
    """The quality bar: a missed disclosure costs more than a false alarm, and most
    messages should get exactly their level."""

    min_recall: tuple[tuple[Level, float], ...] = (
        (Level.IDENTITY, 0.98),
        (Level.FINANCIAL, 0.98),
        (Level.ORDER, 0.98),
    )
    min_sensitive_precision: float = 0.95
    min_accuracy: float = 0.95


DEFAULT_TARGETS = Targets()


@dataclass(frozen=True)
class EvalReport:
    """The scores of one evaluation run, overall, on the hard items and per language."""

    overall: Scores
    hard: Scores
    by_language: tuple[tuple[str, Scores], ...]
    misses: tuple[Mismatch, ...]  # predicted below the label: compliance failures
    false_alarms: tuple[Mismatch, ...]  # predicted above the label

    def check_targets(self, targets: Targets = DEFAULT_TARGETS) -> tuple[TargetCheck, ...]:
        checks = []
        for level, minimum in targets.min_recall:
            score = self.overall.level(level)
            detail = (
                f"{score.correct} of {score.support} {level} messages predicted {level}"
                if score.support
                else f"the set has no {level} messages"
            )
            checks.append(TargetCheck(f"recall for {level}", score.recall, minimum, detail))
        sensitive = self.overall.sensitive_predicted
        detail = (
            f"{self.overall.correct - self.overall.confusion[0][0]} of {sensitive} messages "
            "predicted above public had exactly their labelled level"
            if sensitive
            else "no message was predicted above public"
        )
        checks.append(
            TargetCheck(
                "precision over sensitive predictions",
                self.overall.sensitive_precision,
                targets.min_sensitive_precision,
                detail,
            )
        )
        checks.append(
            TargetCheck(
                "exact level",
                self.overall.accuracy,
                targets.min_accuracy,
                f"{self.overall.correct} of {self.overall.count} messages got exactly their level",
            )
        )
        return tuple(checks)

    def meets_targets(self, targets: Targets = DEFAULT_TARGETS) -> list[str]:
        """Plain-words failures, one per target missed; empty when every target is met."""
        return [c.describe() for c in self.check_targets(targets) if not c.passed]


def evaluate(pairs: Sequence[tuple[LabelledMessage, Level]]) -> EvalReport:
    """Score (labelled message, predicted level) pairs."""
    languages = sorted({message.language for message, _ in pairs})
    return EvalReport(
        overall=Scores.of(pairs),
        hard=Scores.of(p for p in pairs if p[0].hard),
        by_language=tuple(
            (language, Scores.of(p for p in pairs if p[0].language == language))
            for language in languages
        ),
        misses=tuple(Mismatch(m, p) for m, p in pairs if p < m.level),
        false_alarms=tuple(Mismatch(m, p) for m, p in pairs if p > m.level),
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _clip(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def _mismatch_lines(title: str, mismatches: Sequence[Mismatch]) -> list[str]:
    lines = [f"{title}: {len(mismatches)}"]
    for m in sorted(mismatches, key=lambda m: m.message.line):
        lines.append(
            f"  line {m.message.line:<5} {m.message.language}  "
            f"expected {m.message.level.label:<9} got {m.predicted.label:<9} "
            f'"{_clip(m.message.text)}"'
        )
    return lines


def _language_table(report: EvalReport) -> list[str]:
    """Precision, recall and messages judged below their level, per level and language."""
    groups = [*report.by_language, ("all", report.overall)]
    head = f"{'level':<10}" + "".join(f"{name:>20}" for name, _ in groups)
    out = [
        "per level and language: precision / recall / judged below their level",
        head,
    ]
    for level in _LEVELS:
        cells = []
        for _, scores in groups:
            s = scores.level(level)
            cells.append(f"{_fmt(s.precision)} / {_fmt(s.recall)} / {scores.under(level)}")
        out.append(f"{level.label:<10}" + "".join(f"{c:>20}" for c in cells))
    return out


def format_report(
    report: EvalReport, targets: Targets = DEFAULT_TARGETS, *, messages: bool = True
) -> str:
    """The report as a plain-text table, for a terminal or a closing note. With
    ``messages`` False the misses and false alarms are counted but not shown: a blind
    set's texts stay unread."""
    overall, hard = report.overall, report.hard
    out = [f"sensitivity evaluation: {overall.count} messages, {hard.count} of them hard", ""]

    out.append(
        f"{'level':<10} {'precision':>9} {'recall':>7} {'f1':>6} {'support':>8}"
        f"   {'hard: recall':>12} {'support':>8}"
    )
    for score, hard_score in zip(overall.per_level, hard.per_level, strict=True):
        out.append(
            f"{score.level.label:<10} {_fmt(score.precision):>9} {_fmt(score.recall):>7} "
            f"{_fmt(score.f1):>6} {score.support:>8}"
            f"   {_fmt(hard_score.recall):>12} {hard_score.support:>8}"
        )

    out += ["", "confusion matrix (rows: expected, columns: predicted)"]
    out.append(f"{'':<10}" + "".join(f"{level.label:>10}" for level in _LEVELS))
    for level, row in zip(_LEVELS, overall.confusion, strict=True):
        out.append(f"{level.label:<10}" + "".join(f"{n:>10}" for n in row))

    out += ["", f"{'':<34}{'all':>8}{'hard':>8}"]
    for name, a, h in (
        ("accuracy", overall.accuracy, hard.accuracy),
        ("precision, sensitive (micro)", overall.sensitive_precision, hard.sensitive_precision),
        ("precision, per level (macro)", overall.macro_precision, hard.macro_precision),
    ):
        out.append(f"{name:<34}{_fmt(a):>8}{_fmt(h):>8}")
    out.append(f"{'messages':<34}{overall.count:>8}{hard.count:>8}")

    out += [
        "",
        f"{'language':<10}{'messages':>9}{'accuracy':>10}{'precision (sensitive)':>23}"
        f"{'misses':>8}",
    ]
    for language, scores in report.by_language:
        misses = sum(1 for m in report.misses if m.message.language == language)
        out.append(
            f"{language:<10}{scores.count:>9}{_fmt(scores.accuracy):>10}"
            f"{_fmt(scores.sensitive_precision):>23}{misses:>8}"
        )

    out += ["", *_language_table(report)]
    out += ["", f"judged below their level (compliance failures): {overall.under()}"]

    out += ["", "targets"]
    for check in report.check_targets(targets):
        out.append(f"  {'ok' if check.passed else 'FAIL':<5}{check.describe()}")

    under = "misses (predicted below the label: compliance failures)"
    over = "false alarms (predicted above the label)"
    if not messages:
        out += ["", f"{under}: {len(report.misses)}", f"{over}: {len(report.false_alarms)}"]
        out.append("(messages not shown)")
        return "\n".join(out) + "\n"
    out += ["", *_mismatch_lines(under, report.misses)]
    out += ["", *_mismatch_lines(over, report.false_alarms)]
    return "\n".join(out) + "\n"
