"""`gangway model`: train the sensitivity model, cross-validate it, choose its thresholds.

    gangway model train [--if-needed]   train from data/sensitivity/ into var/models/
    gangway model info                  which model the current data trains, and its figures
    gangway model cv                    leave-one-writer-out cross-validation
    gangway model thresholds            min_score per level, chosen on development data

Exit codes: 0 done; 1 (thresholds) the recall target cannot be met on the development
data; 2 nothing could be done (training data, flow or model unusable, said on stderr).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.adapters.eval_set import EvalSetError, load_eval_set
from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, FlowFileError, FlowStore
from bot.adapters.model_files import (
    MODEL_PREFIX,
    MODELS_DIR,
    ModelFileError,
    fingerprint,
    load_model,
    model_in_use,
    model_path,
    read_metadata,
    save_model,
)
from bot.adapters.model_training import TrainingSettings, cross_validate, examples, fit
from bot.adapters.threshold_search import RECALL_LEVELS, DevItem, choose_min_scores
from bot.adapters.training_set import (
    TRAINING_DIR,
    TrainingMessage,
    TrainingSetError,
    load_training_set,
)
from bot.config import REPO_ROOT, load_settings
from bot.domain.evaluation import LabelledMessage, evaluate, format_report
from bot.domain.levels import Level
from bot.domain.sensitivity_model import LinearModel
from bot.service_layer.classification import Classifier, Previous

__all__ = ["model_app"]

EXIT_TARGET_MISSED = 1
EXIT_CANNOT_RUN = 2

model_app = typer.Typer(
    help="The learned sensitivity model: train, cross-validate, choose thresholds.",
    no_args_is_help=True,
)

FlowOption = Annotated[
    Path | None,
    typer.Option("--flow", help="The flow whose rules and min_score to use.", dir_okay=False),
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_CANNOT_RUN)


def _training_set() -> list[TrainingMessage]:
    try:
        return load_training_set(REPO_ROOT / TRAINING_DIR)
    except TrainingSetError as exc:
        raise _fail(f"the training data cannot be used: {exc}") from exc


def _flows(flow: Path | None) -> FlowStore:
    path = flow or load_settings().gangway_flow
    try:
        return FlowStore(path, DEFAULT_DOMAIN_PATH)
    except (FlowFileError, OSError) as exc:
        raise _fail(f"the flow {path} cannot be used:\n{exc}") from exc


def _counts(messages: Sequence[TrainingMessage]) -> dict[str, Any]:
    return {
        "messages": len(messages),
        "follow_ups": sum(1 for m in messages if m.context),
        "writers": dict(sorted(Counter(m.writer for m in messages).items())),
        "languages": dict(sorted(Counter(m.language for m in messages).items())),
        "levels": {lv.label: sum(1 for m in messages if m.level == lv) for lv in Level},
    }


@model_app.command("train")
def train(
    if_needed: Annotated[
        bool, typer.Option("--if-needed", help="Skip training when the model is up to date.")
    ] = False,
) -> None:
    """Train the sensitivity model from data/sensitivity/ into var/models/."""
    path = model_path(REPO_ROOT)
    shown = path.relative_to(REPO_ROOT)
    if if_needed and path.is_file():
        typer.echo(
            f"==> sensitivity model up to date: {shown} "
            "(data/sensitivity/ and the training code unchanged, training skipped)"
        )
        return
    messages = _training_set()
    settings = TrainingSettings()
    typer.echo(
        f"==> training the sensitivity model {path.stem.removesuffix('.json')} "
        f"from {len(messages)} messages ({TRAINING_DIR}/)"
    )
    start = time.perf_counter()
    model = fit(messages, settings, name=path.name.removesuffix(".json.gz"))
    seconds = time.perf_counter() - start
    metadata = {
        "fingerprint": fingerprint(REPO_ROOT),
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "training_seconds": round(seconds, 1),
        "settings": settings.as_dict(),
        "n_grams": model.size,
        "examples": len(examples(messages)),  # what it learned from (see examples)
        **_counts(messages),
    }
    save_model(model, path, metadata)
    for old in (REPO_ROOT / MODELS_DIR).glob(f"{MODEL_PREFIX}*.json.gz"):
        if old != path:
            typer.echo(f"    removing the older model {old.relative_to(REPO_ROOT)}")
            old.unlink()
    typer.echo(f"==> trained {shown} in {seconds:.1f}s ({model.size} n-grams)")


@model_app.command("info")
def info() -> None:
    """Which model the current data trains, whether it is there, and how it was trained."""
    path = model_path(REPO_ROOT)
    if not path.is_file():
        raise _fail(f"no model at {path}: train it with `make model` or `gangway model train`")
    try:
        metadata = read_metadata(path)
    except ModelFileError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(json.dumps({"path": str(path), **metadata}, indent=2, ensure_ascii=False))


def _most_probable(model: LinearModel, text: str) -> Level:
    probabilities = model.probabilities(text)
    return max(probabilities, key=lambda level: probabilities[level])


@dataclass
class _Tally:
    """Follow-ups judged with and without their context, against their labels."""

    exact: Counter[str] = field(default_factory=Counter)
    below: Counter[str] = field(default_factory=Counter)
    above: Counter[str] = field(default_factory=Counter)
    count: int = 0

    def add(self, label: Level, **predictions: Level) -> None:
        self.count += 1
        for name, predicted in predictions.items():
            self.exact[name] += predicted == label
            self.below[name] += predicted < label
            self.above[name] += predicted > label

    def lines(self) -> list[str]:
        out = [f"{'':<22}{'exact':>8}{'below':>8}{'above':>8}"]
        for name in self.exact:
            out.append(
                f"{name:<22}{self.exact[name] / self.count:>8.3f}"
                f"{self.below[name]:>8}{self.above[name]:>8}"
            )
        return out


@model_app.command("cv")
def cv(
    flow: FlowOption = None,
    misses: Annotated[
        bool, typer.Option("--misses", help="List every miss and false alarm.")
    ] = False,
) -> None:
    """Leave-one-writer-out cross-validation: each writer's messages scored by a model
    trained on everyone else's; alone, with the flow's rules, and follow-ups with and
    without their context."""
    messages = _training_set()
    flows = _flows(flow)
    start = time.perf_counter()
    models = cross_validate(messages, TrainingSettings())
    rules_only = Classifier(flows, None)
    alone, rules, combined = [], [], []
    writers: list[str] = []  # of the messages in combined, in order
    follow_ups = _Tally()
    for number, message in enumerate(messages, 1):
        classifier = Classifier(flows, None, models[message.writer])
        language = message.language
        if message.context is not None:
            before = classifier.classify(message.context, language=language).level
            follow_ups.add(
                message.level,
                with_context=classifier.classify(
                    message.text, language=language, previous=[Previous(message.context, before)]
                ).level,
                without_context=classifier.classify(message.text, language=language).level,
            )
            continue
        labelled = LabelledMessage(message.text, language, message.level, False, None, number)
        alone.append((labelled, _most_probable(models[message.writer], message.text)))
        rules.append((labelled, rules_only.classify(message.text, language=language).level))
        combined.append((labelled, classifier.classify(message.text, language=language).level))
        writers.append(message.writer)
    seconds = time.perf_counter() - start
    typer.echo(f"cross-validation by writer: {len(messages)} messages, {seconds:.0f}s")
    typer.echo("\n== the model alone (its most probable level) ==")
    typer.echo(_report(alone, misses), nl=False)
    typer.echo("\n== the flow's rules alone ==")
    typer.echo(_report(rules, misses), nl=False)
    typer.echo(f"\n== rules + model (min_score from {flows.path}) ==")
    typer.echo(_report(combined, misses), nl=False)
    typer.echo(f"\n== {follow_ups.count} follow-ups, rules + model ==")
    typer.echo("\n".join(follow_ups.lines()))
    typer.echo("\nper writer (rules + model): exact level, messages judged below their level")
    for writer in sorted(models):
        pairs = [p for p, w in zip(combined, writers, strict=True) if w == writer]
        exact = sum(lm.level == pred for lm, pred in pairs) / len(pairs)
        under = sum(pred < lm.level for lm, pred in pairs)
        typer.echo(f"  {writer:<16} {exact:.3f}  {under:>4} of {len(pairs)}")


def _report(pairs: list[tuple[LabelledMessage, Level]], with_items: bool) -> str:
    return format_report(evaluate(pairs), messages=with_items)


@model_app.command("thresholds")
def thresholds(
    dev_set: Annotated[
        list[Path] | None,
        typer.Option("--set", help="A development set (eval format); repeat for more."),
    ] = None,
    flow: FlowOption = None,
    target: Annotated[float, typer.Option(help="The recall to reach.")] = 0.98,
    use_cv: Annotated[
        bool, typer.Option("--cv/--no-cv", help="Also use the training data, cross-validated.")
    ] = True,
) -> None:
    """Choose each level's min_score: at least the target share of every sensitive
    level's messages judged at that level or above on the development data, then the
    most messages at exactly their level."""
    flows = _flows(flow)
    rules = Classifier(flows, None)
    items: list[DevItem] = []
    if use_cv:
        messages = _training_set()
        models = cross_validate(messages, TrainingSettings())
        for message in messages:
            if message.context is None:
                level = rules.classify(message.text, language=message.language).level
                scores = models[message.writer].score(message.text).scores
                items.append(DevItem(message.level, level, scores))
    sets = dev_set or [Path("eval") / "dev-2026-12.yml"]
    try:
        model = load_model(model_in_use(load_settings().gangway_sensitivity_model))
    except ModelFileError as exc:
        raise _fail(str(exc)) from exc
    for path in sets:
        try:
            labelled = load_eval_set(path if path.is_absolute() else REPO_ROOT / path)
        except EvalSetError as exc:
            raise _fail(f"the development set cannot be used: {exc}") from exc
        for m in labelled:
            level = rules.classify(m.text, language=m.language).level
            items.append(DevItem(m.level, level, model.score(m.text).scores))
    choice = choose_min_scores(items, target=target, levels=RECALL_LEVELS)
    typer.echo(f"development data: {len(items)} messages")
    typer.echo("levels:")
    for level, value in choice.min_scores.items():
        typer.echo(f"  {level.label}:\n    min_score: {value}")
    typer.echo(f"\n{'level':<10}{'recall':>8}{'below':>7}{'messages':>10}")
    support = Counter(item.label for item in items)
    for level in Level:
        typer.echo(
            f"{level.label:<10}{choice.recall[level]:>8.3f}{choice.under[level]:>7}"
            f"{support[level]:>10}"
        )
    typer.echo(f"precision over sensitive predictions {choice.sensitive_precision:.3f}")
    typer.echo(f"exact level {choice.accuracy:.3f}")
    if not choice.meets_target:
        typer.echo(f"the recall target {target} is not met on this data", err=True)
        raise typer.Exit(EXIT_TARGET_MISSED)
