"""Reading the sensitivity model's training data (``data/sensitivity/<writer>/<lang>.yml``).

Each writer has a folder of their own; each file is a YAML list of items::

    - text: "i've got like 20k sitting in savings doing nothing lol"
      language: en
      level: financial
    - text: "yes do it"
      context: "should i sell my 40 tesla shares before the results?"
      language: en
      level: order

``context`` is the prospect's previous message, for a follow-up judged with it in view;
``note`` is a free remark. Files are read by ``bot.adapters.yaml_items`` (PyYAML's safe
loader, node by node), so every error names the file and line of the item at fault.
The same text twice in one writer's language is an error (a slip); the same text from
two writers, or in two languages ("ok"), is kept, since each was written on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.adapters.yaml_items import Item, ItemFileError, read_items
from bot.domain.evaluation import EVAL_LANGUAGES
from bot.domain.levels import LEVEL_NAMES, Level

__all__ = [
    "TRAINING_DIR",
    "TrainingMessage",
    "TrainingSetError",
    "load_training_set",
    "training_files",
]

# Relative to the project root, like the Rasa project paths in bot.rasa_project.
TRAINING_DIR = Path("data") / "sensitivity"

_FIELDS = ("text", "language", "level", "context", "note")


@dataclass(frozen=True)
class TrainingMessage:
    """One labelled message for the sensitivity model, with the writer who wrote it."""

    text: str
    language: str
    level: Level
    writer: str
    context: str | None = None
    line: int = 0


class TrainingSetError(ItemFileError):
    """The training data cannot be used: which file, which line and what is wrong."""


def training_files(directory: Path) -> list[Path]:
    """The YAML files of every writer's folder under ``directory``, sorted."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*/*") if p.is_file() and p.suffix in (".yml", ".yaml"))


def load_training_set(directory: Path) -> list[TrainingMessage]:
    """Every writer's messages under ``directory``; TrainingSetError on the first bad item."""
    files = training_files(directory)
    if not files:
        raise TrainingSetError(
            directory, None, "no training data: expected <writer>/<language>.yml files"
        )
    messages: list[TrainingMessage] = []
    seen: dict[tuple[str, str, str, str], tuple[Path, int]] = {}
    for path in files:
        writer = path.parent.name
        for message in _items(path, writer):
            key = (writer, message.language, _normal(message.context or ""), _normal(message.text))
            if key in seen:
                first, line = seen[key]
                raise TrainingSetError(
                    path,
                    message.line,
                    f"duplicate: the same message is already at {first.name}:{line}",
                )
            seen[key] = (path, message.line)
            messages.append(message)
    return messages


def _normal(text: str) -> str:
    return " ".join(text.casefold().split())


def _items(path: Path, writer: str) -> Iterator[TrainingMessage]:
    for item in read_items(path, _FIELDS, TrainingSetError):
        yield _message(path, writer, item)


def _message(path: Path, writer: str, item: Item) -> TrainingMessage:
    line, fields = item.line, item.fields

    def fail(reason: str) -> TrainingSetError:
        return TrainingSetError(path, line, reason)

    text = fields.get("text")
    if not isinstance(text, str) or not text.strip():
        raise fail("missing text: put the message in double quotes")
    context = fields.get("context")
    if context is not None and (not isinstance(context, str) or not context.strip()):
        raise fail("context must be the previous message, in double quotes")
    language = fields.get("language")
    if language not in EVAL_LANGUAGES:
        raise fail(f"language must be one of {', '.join(EVAL_LANGUAGES)}, not {language!r}")
    if "level" not in fields:
        raise fail(f"missing level: use one of {', '.join(LEVEL_NAMES)}")
    try:
        level = Level.parse(str(fields["level"]))
    except ValueError as exc:
        raise fail(str(exc)) from None
    return TrainingMessage(text, language, level, writer, context, line)
