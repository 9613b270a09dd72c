"""Scoring predicted levels against labels: the figures behind `gangway eval`."""

from __future__ import annotations

import pytest

from bot.domain.evaluation import (
    EvalReport,
    LabelledMessage,
    Targets,
    evaluate,
    format_report,
)
from bot.domain.levels import Level

PUB, IDN, FIN, ADV, ORD = Level.PUBLIC, Level.IDENTITY, Level.FINANCIAL, Level.ADVICE, Level.ORDER


def msg(line: int, level: Level, *, hard: bool = False, language: str = "en") -> LabelledMessage:
    return LabelledMessage(
        text=f"message on line {line}",
        language=language,
        level=level,
        hard=hard,
        why="hard" if hard else None,
        line=line,
    )


# Ten messages worked out by hand, as line: expected -> predicted (* = hard, 5 is German):
#   1: public -> public     2: public -> public        3: public -> identity*
#   4: identity -> identity 5: identity -> public*     6: financial -> financial
#   7: advice -> advice     8: order -> order          9: order -> advice*
#   10: financial -> order
PAIRS = [
    (msg(1, PUB), PUB),
    (msg(2, PUB), PUB),
    (msg(3, PUB, hard=True), IDN),
    (msg(4, IDN), IDN),
    (msg(5, IDN, hard=True, language="de"), PUB),
    (msg(6, FIN), FIN),
    (msg(7, ADV), ADV),
    (msg(8, ORD), ORD),
    (msg(9, ORD, hard=True), ADV),
    (msg(10, FIN), ORD),
]


@pytest.fixture
def report() -> EvalReport:
    return evaluate(PAIRS)


def test_confusion_matrix_has_expected_rows_and_predicted_columns(report: EvalReport) -> None:
    """Row = labelled level, column = predicted level, both in ladder order."""
    assert report.overall.confusion == (
        (2, 1, 0, 0, 0),
        (1, 1, 0, 0, 0),
        (0, 0, 1, 0, 1),
        (0, 0, 0, 1, 0),
        (0, 0, 0, 1, 1),
    )


def test_per_level_precision_recall_f1_and_support(report: EvalReport) -> None:
    """Each level's precision, recall, F1 and support match the hand count."""
    got = {s.level: (s.precision, s.recall, s.f1, s.support) for s in report.overall.per_level}
    expected = {
        PUB: (2 / 3, 2 / 3, 2 / 3, 3),
        IDN: (1 / 2, 1 / 2, 1 / 2, 2),
        FIN: (1.0, 1 / 2, 2 / 3, 2),
        ADV: (1 / 2, 1.0, 2 / 3, 1),
        ORD: (1 / 2, 1 / 2, 1 / 2, 2),
    }
    for level, figures in expected.items():
        assert got[level] == pytest.approx(figures), level


def test_overall_accuracy_and_both_precisions(report: EvalReport) -> None:
    """Accuracy 6/10; sensitive micro precision 4 right of 7 predicted above public;
    macro precision the mean of the five levels' precisions, 19/30."""
    assert report.overall.count == 10
    assert report.overall.accuracy == pytest.approx(0.6)
    assert report.overall.sensitive_predicted == 7
    assert report.overall.sensitive_precision == pytest.approx(4 / 7)
    assert report.overall.macro_precision == pytest.approx(19 / 30)


def test_hard_items_are_scored_on_their_own(report: EvalReport) -> None:
    """The hard subset (3 items, all wrong) has its own matrix and figures."""
    hard = report.hard
    assert hard.count == 3
    assert hard.accuracy == 0.0
    assert hard.sensitive_precision == 0.0
    assert hard.level(IDN).support == 1 and hard.level(IDN).recall == 0.0
    assert hard.level(FIN).recall is None  # no hard financial item: nothing to measure


def test_misses_and_false_alarms_are_listed_apart(report: EvalReport) -> None:
    """Predicted below the label is a miss, above it a false alarm; wrong-but-sideways is
    neither."""
    assert [(m.message.line, m.predicted) for m in report.misses] == [(5, PUB), (9, ADV)]
    assert [(m.message.line, m.predicted) for m in report.false_alarms] == [(3, IDN), (10, ORD)]


def test_scores_are_split_by_language(report: EvalReport) -> None:
    """Each language gets its own figures."""
    by_language = dict(report.by_language)
    assert sorted(by_language) == ["de", "en"]
    assert by_language["de"].count == 1 and by_language["de"].accuracy == 0.0
    assert by_language["en"].accuracy == pytest.approx(6 / 9)


def test_undefined_ratios_are_none_not_zero() -> None:
    """A level nobody predicted has no precision, a level with no items no recall."""
    only_public = evaluate([(msg(1, PUB), PUB)])
    assert only_public.overall.level(ORD).precision is None
    assert only_public.overall.level(ORD).recall is None
    assert only_public.overall.level(ORD).f1 is None
    assert only_public.overall.sensitive_precision is None
    assert only_public.overall.macro_precision == 1.0


def test_failed_targets_are_named_in_plain_words(report: EvalReport) -> None:
    """Each missed target gives one sentence with the measured value and the bar."""
    failures = report.meets_targets()
    assert failures == [
        "recall for identity is 0.500, below the target 0.98 "
        "(1 of 2 identity messages predicted identity)",
        "recall for financial is 0.500, below the target 0.98 "
        "(1 of 2 financial messages predicted financial)",
        "recall for order is 0.500, below the target 0.98 (1 of 2 order messages predicted order)",
        "precision over sensitive predictions is 0.571, below the target 0.95 "
        "(4 of 7 messages predicted above public had exactly their labelled level)",
        "exact level is 0.600, below the target 0.95 (6 of 10 messages got exactly their level)",
    ]


def test_messages_judged_below_their_level_are_counted_per_level_and_language(
    report: EvalReport,
) -> None:
    """The report counts under-classified messages on a line of its own and per language."""
    text = format_report(report)
    assert report.overall.under() == 2
    assert report.overall.under(ORD) == 1 and report.overall.under(IDN) == 1
    assert report.overall.under(ADV) == 0
    assert "judged below their level (compliance failures): 2" in text
    assert "per level and language: precision / recall / judged below their level" in text


def test_a_blind_report_counts_misses_without_showing_them(report: EvalReport) -> None:
    """With messages hidden, the report gives the counts and never a message's text."""
    text = format_report(report, messages=False)
    assert "misses (predicted below the label: compliance failures): 2" in text
    for message, _ in PAIRS:
        assert message.text not in text


def test_perfect_predictions_meet_the_targets() -> None:
    """When every prediction equals its label, no target fails."""
    perfect = evaluate([(m, m.level) for m, _ in PAIRS])
    assert perfect.meets_targets() == []
    assert perfect.misses == () and perfect.false_alarms == ()


def test_targets_sit_exactly_on_their_bar() -> None:
    """49 of 50 identity messages is recall 0.98: exactly on the target, which passes;
    48 of 50 fails."""
    identity_only = Targets(min_recall=((IDN, 0.98),))
    hits = [(msg(n, IDN), IDN) for n in range(49)]
    on_the_bar = evaluate([*hits, (msg(99, IDN), PUB)])
    assert on_the_bar.meets_targets(identity_only) == []
    below = evaluate([*hits[:48], (msg(98, IDN), PUB), (msg(99, IDN), PUB)])
    assert below.meets_targets(identity_only) == [
        "recall for identity is 0.960, below the target 0.98 "
        "(48 of 50 identity messages predicted identity)"
    ]


def test_a_target_with_nothing_to_measure_fails() -> None:
    """No order messages and no sensitive predictions cannot pass the order-recall or
    precision targets."""
    failures = evaluate([(msg(1, PUB), PUB)]).meets_targets()
    assert "recall for order cannot be measured: the set has no order messages" in failures
    assert (
        "precision over sensitive predictions cannot be measured: no message was predicted "
        "above public" in failures
    )


def test_report_table_shows_levels_matrix_targets_and_misses(report: EvalReport) -> None:
    """The printed report names every level, marks targets ok/FAIL and lists misses by line."""
    text = format_report(report)
    lines = text.splitlines()
    assert lines[0] == "sensitivity evaluation: 10 messages, 3 of them hard"
    public_row = next(line for line in lines if line.startswith("public ") and "0.667" in line)
    assert public_row.split()[:5] == ["public", "0.667", "0.667", "0.667", "3"]
    header = lines[lines.index("confusion matrix (rows: expected, columns: predicted)") + 1]
    assert header.split() == ["public", "identity", "financial", "advice", "order"]
    assert any(line.split() == ["order", "0", "0", "0", "1", "1"] for line in lines)
    assert any(line.startswith("  FAIL recall for identity is 0.500") for line in lines)
    assert 'line 5     de  expected identity  got public    "message on line 5"' in text
    assert "misses (predicted below the label: compliance failures): 2" in text


def test_report_marks_met_targets_ok_and_truncates_long_texts() -> None:
    """A met target reads ok; a missed message longer than 60 characters is cut with '...'."""
    long = LabelledMessage("x" * 80, "fr", ORD, hard=False, why=None, line=7)
    text = format_report(evaluate([(long, PUB), *[(msg(n, ORD), ORD) for n in range(60)]]))
    assert "  ok   recall for order is 0.984, at or above the target 0.98 (60 of 61 order" in text
    assert "  ok   precision over sensitive predictions is 1.000" in text
    assert f'"{"x" * 57}..."' in text
    assert "x" * 58 not in text
