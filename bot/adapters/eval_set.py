"""Reading the labelled sensitivity evaluation set (``eval/sensitivity.yml``).

The file is a YAML list of items such as::

    - text: "is DE00 1234 5678 9012 3456 78 on your site a real iban?"
      language: en
      level: public
      hard: true
      category: not_identifier
      why: "example IBAN with wrong check digits, nothing disclosed"

It is parsed with PyYAML's safe loader, node by node, so that every error can name the
line of the item at fault; the first bad item stops the load with an ``EvalSetError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.domain.evaluation import EVAL_LANGUAGES, HARD_CATEGORIES, LabelledMessage
from bot.domain.levels import LEVEL_NAMES, Level

__all__ = ["SHIPPED_EVAL_SET", "EvalSetError", "load_eval_set"]

# Relative to the project root, like the Rasa project paths in bot.rasa_project.
SHIPPED_EVAL_SET = Path("eval") / "sensitivity.yml"

_FIELDS = ("text", "language", "level", "hard", "why", "category")


class EvalSetError(ValueError):
    """The evaluation set cannot be used: which file, which line and what is wrong."""

    def __init__(self, path: Path, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")

    def __repr__(self) -> str:
        return f"EvalSetError(path={str(self.path)!r}, line={self.line!r}, reason={self.reason!r})"


def load_eval_set(path: Path) -> list[LabelledMessage]:
    """The labelled messages of ``path``, in file order; EvalSetError on the first bad item."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EvalSetError(path, None, f"cannot read the file ({exc.strerror})") from exc
    loader = yaml.SafeLoader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            line = exc.problem_mark.line + 1 if exc.problem_mark else None
            raise EvalSetError(path, line, f"not valid YAML: {exc.problem}") from exc
        except yaml.YAMLError as exc:
            raise EvalSetError(path, None, f"not valid YAML: {exc}") from exc
        if root is None:
            raise EvalSetError(path, 1, "the file is empty: it should be a list of items")
        if not isinstance(root, yaml.SequenceNode):
            raise EvalSetError(
                path, root.start_mark.line + 1, "the file should be a list of items (- text: ...)"
            )
        messages: list[LabelledMessage] = []
        seen: dict[str, int] = {}
        for node in root.value:
            message = _item(path, loader, node)
            key = " ".join(message.text.casefold().split())
            if key in seen:
                raise EvalSetError(
                    path,
                    message.line,
                    f"duplicate text: the same message is already the item at line {seen[key]}",
                )
            seen[key] = message.line
            messages.append(message)
        return messages
    finally:
        loader.dispose()


def _item(path: Path, loader: yaml.SafeLoader, node: yaml.Node) -> LabelledMessage:
    line = node.start_mark.line + 1

    def fail(reason: str) -> EvalSetError:
        return EvalSetError(path, line, reason)

    if not isinstance(node, yaml.MappingNode):
        raise fail("an item should be a mapping with text, language, level and hard")
    fields: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if key not in _FIELDS:
            raise fail(f"unknown field {key!r}: use {', '.join(_FIELDS)}")
        try:
            fields[key] = loader.construct_object(value_node, deep=True)
        except yaml.YAMLError as exc:
            raise fail(f"field {key!r} cannot be read: {exc}") from exc

    text = fields.get("text")
    if not isinstance(text, str) or not text.strip():
        raise fail("missing text: every item needs the message as the prospect typed it")

    language = fields.get("language")
    if language is None:
        raise fail(f"missing language: use one of {', '.join(EVAL_LANGUAGES)}")
    if language not in EVAL_LANGUAGES:
        raise fail(f"unknown language {language!r}: use one of {', '.join(EVAL_LANGUAGES)}")

    if "level" not in fields:
        raise fail(f"missing level: use one of {', '.join(LEVEL_NAMES)}")
    try:
        level = Level.parse(str(fields["level"]))
    except ValueError as exc:
        raise fail(str(exc)) from None

    hard = fields.get("hard", False)
    if not isinstance(hard, bool):
        raise fail(f"hard must be true or false, not {hard!r}")

    why = fields.get("why")
    if why is not None and not isinstance(why, str):
        raise fail("why must be a short sentence")
    if hard and not (why and why.strip()):
        raise fail("hard item without why: say in a few words what makes it hard")

    category = fields.get("category")
    if category is not None:
        if not hard:
            raise fail("category is only for hard items: set hard: true or drop it")
        if category not in HARD_CATEGORIES:
            raise fail(f"unknown category {category!r}: use one of {', '.join(HARD_CATEGORIES)}")

    return LabelledMessage(
        text=text,
        language=language,
        level=level,
        hard=hard,
        why=why.strip() if why else None,
        line=line,
        category=category,
    )
