"""`gangway eval`: the sensitivity classifier scored on a labelled evaluation set.

It builds the same `Classifier` as the live service (the flow in force, Rasa's NLU and
the trained sensitivity model) and treats every message as the first of a conversation,
in the language `Classifier.language_of` finds in it.

Exit codes: 0 every quality target met; 1 a target missed; 2 nothing could be measured
(an evaluation set that cannot be used, or see bot.entrypoints.classifier_pipeline).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.adapters.eval_set import SHIPPED_EVAL_SET, EvalSetError, load_eval_set
from bot.config import REPO_ROOT
from bot.domain.evaluation import (
    DEFAULT_TARGETS,
    EvalReport,
    LabelledMessage,
    Mismatch,
    evaluate,
    format_report,
)
from bot.domain.levels import Level
from bot.entrypoints.classifier_pipeline import (
    EXIT_CANNOT_RUN,
    FlowOption,
    NoModelOption,
    NoNluOption,
    RasaUrlOption,
    pipeline,
)

__all__ = ["eval_", "report_as_dict"]

EXIT_TARGETS_MISSED = 1
# Fewer messages than this are classified in a blink: no progress shown.
_PROGRESS_FROM = 50


def _relative(path: Path) -> Path:
    """The shipped set is relative to the repository root, wherever gangway runs from."""
    return path if path.is_absolute() or path.exists() else REPO_ROOT / path


@contextmanager
def _progress(total: int) -> Iterator[Any]:
    """A callable advancing a progress display on stderr: a bar on a terminal, a line
    every 100 messages otherwise (logs, CI), nothing for a short run."""
    if total < _PROGRESS_FROM:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        done = 0

        def advance() -> None:
            nonlocal done
            done += 1
            if done % 100 == 0 or done == total:
                typer.echo(f"  ... {done} of {total} messages classified", err=True)

        yield advance
        return
    with Progress(
        "classifying",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("classify", total=total)
        yield lambda: progress.advance(task)


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _mismatch(m: Mismatch) -> dict[str, Any]:
    return {
        "line": m.message.line,
        "language": m.message.language,
        "expected": m.message.level.label,
        "predicted": m.predicted.label,
        "text": m.message.text,
    }


def report_as_dict(report: EvalReport) -> dict[str, Any]:
    """The report for `gangway eval --json`: the figures the table shows, and the targets."""
    overall = report.overall
    checks = report.check_targets(DEFAULT_TARGETS)
    return {
        "messages": overall.count,
        "hard": report.hard.count,
        "levels": {
            s.level.label: {
                "precision": _ratio(s.precision),
                "recall": _ratio(s.recall),
                "f1": _ratio(s.f1),
                "support": s.support,
                "hard_recall": _ratio(report.hard.level(s.level).recall),
            }
            for s in overall.per_level
        },
        "confusion": {
            "levels": [level.label for level in Level],
            "rows_expected_columns_predicted": [list(row) for row in overall.confusion],
        },
        "accuracy": _ratio(overall.accuracy),
        "sensitive_precision": _ratio(overall.sensitive_precision),
        "under": overall.under(),
        "by_language": {
            language: {
                "messages": scores.count,
                "accuracy": _ratio(scores.accuracy),
                "sensitive_precision": _ratio(scores.sensitive_precision),
                "under": scores.under(),
                "levels": {
                    s.level.label: {
                        "precision": _ratio(s.precision),
                        "recall": _ratio(s.recall),
                        "under": scores.under(s.level),
                    }
                    for s in scores.per_level
                },
            }
            for language, scores in report.by_language
        },
        "targets": [
            {
                "measure": c.measure,
                "value": _ratio(c.value),
                "minimum": c.minimum,
                "passed": c.passed,
            }
            for c in checks
        ],
        "targets_met": all(c.passed for c in checks),
        "misses": [_mismatch(m) for m in report.misses],
        "false_alarms": [_mismatch(m) for m in report.false_alarms],
    }


def eval_(
    eval_set: Annotated[
        Path,
        typer.Option("--set", help="The labelled evaluation set.", dir_okay=False),
    ] = SHIPPED_EVAL_SET,
    flow: FlowOption = None,
    rasa_url: RasaUrlOption = None,
    no_nlu: NoNluOption = False,
    no_model: NoModelOption = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as one JSON object.")
    ] = False,
    hide_messages: Annotated[
        bool,
        typer.Option(
            "--hide-messages",
            help="Count misses and false alarms without showing their texts (a blind set).",
        ),
    ] = False,
) -> None:
    """Score the classifier on a labelled evaluation set: per-level precision and recall,
    confusion matrix, misses and false alarms. Exit 0 when the quality targets are met,
    1 when one is missed, 2 when the evaluation cannot run."""
    try:
        messages = load_eval_set(_relative(eval_set))
    except EvalSetError as exc:
        typer.echo(f"error: the evaluation set cannot be used: {exc}", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN) from exc
    with pipeline(flow, rasa_url, no_nlu, no_model) as found:
        classifier = found.classifier
        pairs: list[tuple[LabelledMessage, Level]] = []
        with _progress(len(messages)) as advance:
            for message in messages:
                language = classifier.language_of(message.text)
                pairs.append((message, classifier.classify(message.text, language=language).level))
                advance()
    report = evaluate(pairs)
    if as_json:
        document = report_as_dict(report)
        if hide_messages:
            document["misses"] = len(report.misses)
            document["false_alarms"] = len(report.false_alarms)
        typer.echo(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        typer.echo(found.describe())
        typer.echo(format_report(report, DEFAULT_TARGETS, messages=not hide_messages), nl=False)
    failures = report.meets_targets(DEFAULT_TARGETS)  # one plain sentence per missed target
    if failures:
        raise typer.Exit(EXIT_TARGETS_MISSED)
