"""`gangway classify` and `gangway eval`: the sensitivity pipeline from a terminal.

Both build the same `Classifier` as the live service (the flow in force, Rasa's NLU and
the trained sensitivity model) and treat every message as the first of a conversation:
its language is the one `Classifier.language_of` finds in it, unless a `classify` input
line names one. A `classify` line may also give the messages before it (`context`), to
judge a follow-up such as "yes, do it" as the service does.

Exit codes, shared by both commands:

    0  classify: every line classified      eval: every quality target met
    1  classify: some line was unusable      eval: a target missed
    2  nothing could be measured: Rasa unreachable or without a model, no sensitivity
       model, a flow or an evaluation set that cannot be used (said in plain words on
       stderr)
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from bot.adapters.eval_set import SHIPPED_EVAL_SET, EvalSetError, load_eval_set
from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, FlowFileError, FlowStore
from bot.adapters.model_files import ModelFileError, load_model, model_path
from bot.config import REPO_ROOT, load_settings
from bot.domain.evaluation import (
    DEFAULT_TARGETS,
    EvalReport,
    LabelledMessage,
    Mismatch,
    evaluate,
    format_report,
)
from bot.domain.levels import Level
from bot.domain.sensitivity_model import LinearModel
from bot.service_layer.classification import Classifier, Previous
from integrations.errors import IntegrationError
from integrations.rasa import RasaClient

__all__ = ["classify", "eval_", "report_as_dict"]

EXIT_UNUSABLE_LINE = 1
EXIT_TARGETS_MISSED = 1
EXIT_CANNOT_RUN = 2
# Fewer messages than this are classified in a blink: no progress shown.
_PROGRESS_FROM = 50

FlowOption = Annotated[
    Path | None,
    typer.Option(
        "--flow",
        help="The flow file whose levels rules to use (default: GANGWAY_FLOW, as the service).",
        dir_okay=False,
    ),
]
RasaUrlOption = Annotated[
    str | None,
    typer.Option("--rasa-url", help="Rasa server to ask (default: RASA_URL from the settings)."),
]
NoNluOption = Annotated[
    bool,
    typer.Option("--no-nlu", help="Without Rasa's NLU: the rules and the sensitivity model only."),
]
NoModelOption = Annotated[
    bool,
    typer.Option("--no-model", help="Without the sensitivity model (to measure what it adds)."),
]


class _CannotRun(Exception):
    """Nothing can be classified; the message says why and what to do."""


@dataclass
class _Pipeline:
    classifier: Classifier
    flows: FlowStore
    rasa: RasaClient | None
    model: LinearModel | None

    def describe(self) -> str:
        nlu = "rules only (--no-nlu)" if self.rasa is None else self.rasa.base_url
        model = "none (--no-model)" if self.model is None else self.model.name
        return f"classifier: flow {self.flows.path}, NLU {nlu}, sensitivity model {model}"

    def close(self) -> None:
        if self.rasa is not None:
            self.rasa.close()


def _flow_store(flow: Path) -> FlowStore:
    try:
        return FlowStore(flow, DEFAULT_DOMAIN_PATH)
    except FlowFileError as exc:
        raise _CannotRun(f"the flow {flow} cannot be used:\n{exc}") from exc


def _connect_rasa(rasa_url: str | None) -> RasaClient:
    """A client for a Rasa server that answers and has a model loaded; _CannotRun if not."""
    settings = load_settings()
    url = rasa_url or settings.rasa_url
    token = settings.rasa_token.get_secret_value() if settings.rasa_token else None
    client = RasaClient(url, token=token, timeout=10.0)
    start = (
        "start the stack with `gangway up` (or `make up`), pass --rasa-url for another "
        "server, or --no-nlu to classify with the rules alone"
    )
    try:
        client.version()
    except IntegrationError as exc:
        client.close()
        raise _CannotRun(f"cannot reach Rasa at {url} ({exc.message}): {start}.") from exc
    try:
        client.status()
    except IntegrationError as exc:
        client.close()
        raise _CannotRun(f"Rasa at {url} cannot parse messages: {exc.message}.") from exc
    return client


def _load_model() -> LinearModel:
    """The sensitivity model the service would load; _CannotRun if there is none."""
    path = load_settings().gangway_sensitivity_model or model_path(REPO_ROOT)
    try:
        return load_model(path)
    except ModelFileError as exc:
        raise _CannotRun(f"{exc}, or pass --no-model to classify without it") from exc


@contextmanager
def _pipeline(
    flow: Path | None, rasa_url: str | None, no_nlu: bool, no_model: bool = False
) -> Iterator[_Pipeline]:
    """The classifier, or exit 2 with the reason on stderr."""
    try:
        store = _flow_store(flow or load_settings().gangway_flow)
        model = None if no_model else _load_model()
        rasa = None if no_nlu else _connect_rasa(rasa_url)
    except _CannotRun as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN) from exc
    if no_nlu:
        typer.echo(
            "classifying without Rasa's NLU (--no-nlu): detectors, flow rules"
            + (" and the sensitivity model" if model else "")
            + " only",
            err=True,
        )
    pipeline = _Pipeline(Classifier(store, rasa, model), store, rasa, model)
    try:
        yield pipeline
    except IntegrationError as exc:
        where = pipeline.rasa.base_url if pipeline.rasa else "Rasa"
        typer.echo(f"error: Rasa at {where} stopped answering: {exc.message}", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN) from exc
    finally:
        pipeline.close()


# --- gangway classify ------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    text: str
    language: str | None = None
    context: tuple[str, ...] = ()


def _request(raw: str, languages: tuple[str, ...]) -> _Request:
    """The message of one input line; ValueError saying what is wrong."""
    if not raw.lstrip().startswith("{"):
        return _Request(raw)
    try:
        item = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(item, dict):
        raise ValueError("a JSON line should be an object with a text field")
    text, language, context = item.get("text"), item.get("language"), item.get("context", [])
    if not isinstance(text, str):
        raise ValueError('a JSON line needs a "text" field holding a string')
    if language is not None and language not in languages:
        raise ValueError(f"unknown language {language!r}: the flow has {', '.join(languages)}")
    if isinstance(context, str):
        context = [context]
    if not isinstance(context, list) or not all(isinstance(c, str) for c in context):
        raise ValueError('"context" should be the previous message, or a list of them')
    return _Request(text, language, tuple(context))


def _emit(out: TextIO, result: dict[str, Any]) -> None:
    out.write(json.dumps(result, ensure_ascii=False) + "\n")
    out.flush()  # one answer per line as it comes, for pipes


def _previous(classifier: Classifier, request: _Request, language: str) -> list[Previous]:
    """The context messages, each judged as the service judged it when it arrived."""
    previous: list[Previous] = []
    for text in request.context:
        level = classifier.classify(text, language=language, previous=previous).level
        previous.append(Previous(text, level))
    return previous


def classify(
    flow: FlowOption = None,
    rasa_url: RasaUrlOption = None,
    no_nlu: NoNluOption = False,
    no_model: NoModelOption = False,
) -> None:
    """Classify messages read from stdin, one per line, writing one JSON object per line.

    A line is the message itself, or a JSON object {"text": ..., "language": ...,
    "context": [...]} (language optional: found from the text otherwise; context: the
    prospect's messages just before, oldest first, for a follow-up such as "yes, do
    it"). Each answer holds the line number, language, level, evidence (rule, span,
    confidence or model score; never the text), the model's scores and Rasa's intent.
    Blank lines are skipped; an unusable line gets {"line", "error"} and the exit code is
    1 at the end.
    """
    out = sys.stdout
    failed = False
    with _pipeline(flow, rasa_url, no_nlu, no_model) as pipeline:
        classifier = pipeline.classifier
        languages = tuple(pipeline.flows.current().languages)
        for number, raw in enumerate(sys.stdin, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            try:
                request = _request(line, languages)
            except ValueError as exc:
                failed = True
                _emit(out, {"line": number, "error": str(exc)})
                continue
            language = request.language or classifier.language_of(request.text)
            previous = _previous(classifier, request, language)
            assessment = classifier.classify(request.text, language=language, previous=previous)
            _emit(out, {"line": number, "language": language, **assessment.as_dict()})
    if failed:
        raise typer.Exit(EXIT_UNUSABLE_LINE)


# --- gangway eval ----------------------------------------------------------------------


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
    with _pipeline(flow, rasa_url, no_nlu, no_model) as pipeline:
        classifier = pipeline.classifier
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
        typer.echo(pipeline.describe())
        typer.echo(format_report(report, DEFAULT_TARGETS, messages=not hide_messages), nl=False)
    failures = report.meets_targets(DEFAULT_TARGETS)  # one plain sentence per missed target
    if failures:
        raise typer.Exit(EXIT_TARGETS_MISSED)
