"""Reading the labelled sensitivity evaluation set (``eval/sensitivity.yml``).

The file is a YAML list of items such as::

    - text: "is DE00 1234 5678 9012 3456 78 on your site a real iban?"
      language: en
      level: public
      hard: true
      category: not_identifier
      why: "example IBAN with wrong check digits, nothing disclosed"

It is read by ``bot.adapters.yaml_items`` (PyYAML's safe loader, node by node), so that
every error can name the line of the item at fault; the first bad item stops the load
with an ``EvalSetError``.
"""

from __future__ import annotations

from pathlib import Path

from bot.adapters.yaml_items import Item, ItemFileError, read_items
from bot.domain.evaluation import EVAL_LANGUAGES, HARD_CATEGORIES, LabelledMessage
from bot.domain.levels import LEVEL_NAMES, Level

__all__ = ["SHIPPED_EVAL_SET", "EvalSetError", "load_eval_set"]

# Relative to the project root, like the Rasa project paths in bot.rasa_project.
SHIPPED_EVAL_SET = Path("eval") / "sensitivity.yml"

_FIELDS = ("text", "language", "level", "hard", "why", "category")


class EvalSetError(ItemFileError):
    """The evaluation set cannot be used: which file, which line and what is wrong."""


def load_eval_set(path: Path) -> list[LabelledMessage]:
    """The labelled messages of ``path``, in file order; EvalSetError on the first bad item."""
    messages: list[LabelledMessage] = []
    seen: dict[str, int] = {}
    for item in read_items(path, _FIELDS, EvalSetError):
        message = _message(path, item)
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


def _message(path: Path, item: Item) -> LabelledMessage:
    line, fields = item.line, item.fields

    def fail(reason: str) -> EvalSetError:
        return EvalSetError(path, line, reason)

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
