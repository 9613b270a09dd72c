"""The ``qualification`` section of a flow file: the questions the bot asks to qualify a
prospect, the words that answer them, and the bot's texts around them. Read by
``bot.adapters.flow_files``, which reports every problem as ``file:line`` in plain words;
how answers are read lives in ``bot.domain.qualification``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

from yaml.nodes import Node, SequenceNode

from bot.adapters.yaml_files import Reader, hint
from bot.domain.flows import BODY_LIMIT, fold, placeholders
from bot.domain.qualification import (
    SLOTS,
    TEXT_KEYS,
    WORD_KINDS,
    ContactTime,
    Qualification,
    Question,
)

__all__ = ["ALLOWED_PLACEHOLDERS", "qualification"]

_KEYS = ("questions", "products", "contact_times", "words", "texts")
_QUESTION_KEYS = ("slot", "required", "ask", "ask_unknown")
# Which placeholders each text may use (they are filled from the conversation).
ALLOWED_PLACEHOLDERS: Mapping[str, frozenset[str]] = {
    "ask.country": frozenset({"number_country"}),
    "ask.language": frozenset({"language_name"}),
    "texts.done": frozenset({"contact_time"}),
}
# A long country name stands in for {number_country} etc. when checking lengths.
_SAMPLE = {"number_country": "x" * 60, "language_name": "x" * 20, "contact_time": "x" * 60}
_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _text(r: Reader, node: Node, where: str, allowed: frozenset[str]) -> str | None:
    text = r.string(node, where)
    if text is None:
        return None
    try:
        used = placeholders(text)
    except ValueError as exc:
        r.error(node, f"`{where}`: {exc}")
        return None
    for name in sorted(used - allowed):
        can = ", ".join(f"{{{n}}}" for n in sorted(allowed)) or "none"
        r.error(node, f"`{where}` uses {{{name}}}, which this text cannot fill; it may use {can}")
    if used - allowed:
        return None
    if re.search(r"\n[ \t]*\n", text):
        r.error(node, f"`{where}` has a blank line; Rasa would split it, so remove it")
        return None
    if (size := len(text.format_map(_SAMPLE))) > BODY_LIMIT:
        r.error(node, f"`{where}` is {size} characters long; WhatsApp allows {BODY_LIMIT}")
        return None
    return text


def _wordings(
    r: Reader, node: Node, where: str, languages: Sequence[str], allowed: frozenset[str]
) -> dict[str, str]:
    out: dict[str, str] = {}
    for lang, value in r.per_language(node, where, languages).items():
        text = _text(r, value, f"{where}.{lang}", allowed)
        if text is not None:
            out[lang] = text
    return out


def _questions(r: Reader, node: Node, languages: Sequence[str]) -> tuple[Question, ...]:
    if not isinstance(node, SequenceNode):
        r.error(node, "`qualification.questions` should be a list of questions (- slot: ...)")
        return ()
    found: list[Question] = []
    for index, item in enumerate(node.value, start=1):
        where = f"qualification.questions[{index}]"
        body = r.mapping(item, where, _QUESTION_KEYS, ("slot", "ask"))
        if not body or "slot" not in body or "ask" not in body:
            continue
        slot = r.string(body["slot"], f"{where}.slot")
        if slot is None:
            continue
        if slot not in SLOTS:
            r.error(
                body["slot"],
                f"`{where}.slot`: `{slot}` is not a question gangway can read the answer "
                f"of{hint(slot, SLOTS)} (known: {', '.join(SLOTS)})",
            )
            continue
        if any(q.slot == slot for q in found):
            r.error(body["slot"], f"`{where}.slot`: `{slot}` is asked twice; keep one")
            continue
        required = r.flag(body["required"], f"{where}.required") if "required" in body else False
        allowed = ALLOWED_PLACEHOLDERS.get(f"ask.{slot}", frozenset())
        ask = _wordings(r, body["ask"], f"{where}.ask", languages, allowed)
        if slot == "country":
            for lang, text in ask.items():
                if "{number_country}" not in text:
                    r.error(
                        body["ask"],
                        f"`{where}.ask.{lang}` must contain {{number_country}}: it offers "
                        "the number's country to confirm (`ask_unknown` asks without it)",
                    )
        unknown: dict[str, str] = {}
        if "ask_unknown" in body:
            if slot != "country":
                r.error(body["ask_unknown"], f"`{where}.ask_unknown` is only for the country")
            else:
                unknown = _wordings(
                    r, body["ask_unknown"], f"{where}.ask_unknown", languages, frozenset()
                )
        elif slot == "country":
            r.error(
                item,
                f"`{where}` (country) needs `ask_unknown`: the question when the number's "
                "country is not known",
            )
        found.append(Question(slot, required, ask, unknown))
    if not found:
        r.error(node, "`qualification.questions` has no question; add at least one")
    return tuple(found)


def _phrases(
    r: Reader,
    node: Node,
    where: str,
    languages: Sequence[str],
    meaning: str,
    seen: dict[tuple[str, str], str],
) -> dict[str, tuple[str, ...]]:
    """language -> phrases; a phrase may mean only one thing in one language."""
    out: dict[str, tuple[str, ...]] = {}
    for lang, value in r.per_language(node, where, languages).items():
        listed = r.strings(value, f"{where}.{lang}")
        if not listed and isinstance(value, SequenceNode):
            r.error(value, f"`{where}.{lang}` is empty; add at least one word")
        for word, item in listed:
            plain = " ".join(fold(word)[0].split())
            if not any(c.isalnum() for c in plain):
                r.error(item, f"`{where}.{lang}`: {word!r} has no letters a prospect could type")
            elif seen.setdefault((lang, plain), meaning) != meaning:
                r.error(
                    item,
                    f"`{where}.{lang}`: {word!r} also means `{seen[(lang, plain)]}`; "
                    "use it for one only",
                )
        out[lang] = tuple(word for word, _ in listed)
    return out


def _named(r: Reader, node: Node, where: str) -> dict[str, Node]:
    body = r.mapping(node, where) or {}
    for key, value in body.items():
        if not _NAME.fullmatch(key):
            r.error(value, f"`{where}.{key}`: use lower-case letters, digits and _ in names")
    return {k: v for k, v in body.items() if _NAME.fullmatch(k)}


def qualification(
    r: Reader, node: Node | None, languages: Sequence[str], products: Collection[str] | None
) -> Qualification | None:
    """The section, or None when the flow has none (or it has errors, recorded in ``r``).

    ``products``: the routing file's products, when known; each qualified product must be
    one, or no advisor could ever be licensed for it.
    """
    if node is None:
        return None
    body = r.mapping(node, "qualification", _KEYS, ("questions", "words", "texts"))
    if not body or any(k not in body for k in ("questions", "words", "texts")):
        return None
    errors = len(r.errors)
    questions = _questions(r, body["questions"], languages)
    slots = {q.slot for q in questions}
    seen: dict[tuple[str, str], str] = {}
    found_products: dict[str, dict[str, tuple[str, ...]]] = {}
    listed = _named(r, body["products"], "qualification.products") if "products" in body else {}
    for name, value in listed.items():
        if products is not None and name not in products:
            r.error(
                value,
                f"`qualification.products.{name}` is not one of the routing file's products "
                f"({', '.join(sorted(products))}); add it there or fix the name",
            )
        where = f"qualification.products.{name}"
        found_products[name] = _phrases(r, value, where, languages, name, seen)
    if "product" in slots and not found_products:
        r.error(node, "`qualification.products` is needed to read the answer to `product`")
    times: dict[str, ContactTime] = {}
    for name, value in (
        _named(r, body["contact_times"], "qualification.contact_times")
        if "contact_times" in body
        else {}
    ).items():
        where = f"qualification.contact_times.{name}"
        entry = r.mapping(value, where, ("say", "words"), ("say", "words"))
        if entry and "say" in entry and "words" in entry:
            say = _wordings(r, entry["say"], f"{where}.say", languages, frozenset())
            written = _phrases(r, entry["words"], f"{where}.words", languages, name, seen)
            times[name] = ContactTime(say, written)
    if "contact_time" in slots and not times:
        r.error(node, "`qualification.contact_times` is needed to read `contact_time`")
    words: dict[str, dict[str, tuple[str, ...]]] = {}
    needed = ("yes", "no", "skip")
    answers = r.mapping(body["words"], "qualification.words", WORD_KINDS, needed) or {}
    for kind, value in answers.items():
        words[kind] = _phrases(r, value, f"qualification.words.{kind}", languages, kind, {})
    _conflicts(r, answers, words)
    texts: dict[str, dict[str, str]] = {}
    for key, value in (
        r.mapping(body["texts"], "qualification.texts", TEXT_KEYS, TEXT_KEYS) or {}
    ).items():
        allowed = ALLOWED_PLACEHOLDERS.get(f"texts.{key}", frozenset())
        texts[key] = _wordings(r, value, f"qualification.texts.{key}", languages, allowed)
    if len(r.errors) > errors:
        return None
    return Qualification(questions, found_products, times, words, texts)


def _conflicts(
    r: Reader, nodes: Mapping[str, Node], words: Mapping[str, Mapping[str, tuple[str, ...]]]
) -> None:
    """A word that means yes and no (or skip) in one language would answer at random."""
    meaning: dict[tuple[str, str], str] = {}
    for kind, langs in words.items():
        for lang, phrases in langs.items():
            for word in phrases:
                plain = " ".join(fold(word)[0].split())
                if meaning.setdefault((lang, plain), kind) != kind:
                    r.error(
                        nodes[kind],
                        f"`qualification.words.{kind}.{lang}`: {word!r} is also in "
                        f"`{meaning[(lang, plain)]}`; use it for one only",
                    )
