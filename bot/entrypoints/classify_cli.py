"""`gangway classify`: the sensitivity of messages read from stdin, one JSON line each.

It builds the same `Classifier` as the live service (the flow in force, Rasa's NLU and
the trained sensitivity model) and treats every line as the first message of a
conversation, unless the line gives the messages before it (`context`), to judge a
follow-up such as "yes, do it" as the service does. Its language is the one
`Classifier.language_of` finds in it, unless the line names one.

Exit codes: 0 every line classified; 1 some line was unusable; 2 nothing could be
classified (said in plain words on stderr; see bot.entrypoints.classifier_pipeline).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, TextIO

import typer

from bot.entrypoints.classifier_pipeline import (
    FlowOption,
    NoModelOption,
    NoNluOption,
    RasaUrlOption,
    pipeline,
)
from bot.service_layer.classification import Classifier, Previous

__all__ = ["classify"]

EXIT_UNUSABLE_LINE = 1


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
    with pipeline(flow, rasa_url, no_nlu, no_model) as found:
        classifier = found.classifier
        languages = tuple(found.flows.current().languages)
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
