"""The parts of a flow file that decide what raises a message to each level: the
``levels`` section (intents, entities, detectors, keywords, patterns and the model's
``min_score``) and the ``media`` section. Read by ``bot.adapters.flow_files``, which
reports every problem as ``file:line`` in plain words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from yaml.nodes import Node, ScalarNode

from bot.adapters.yaml_files import Reader, hint
from bot.domain.detectors import DETECTORS
from bot.domain.flows import MEDIA_KINDS, LevelRules
from bot.domain.levels import LEVEL_NAMES, Level

__all__ = ["known_detectors", "levels", "media", "number"]

_RULE_KEYS = ("intents", "entities", "detectors", "keywords", "patterns", "min_score")


def known_detectors() -> frozenset[str]:
    """The detector names a flow may use (bot.domain.detectors)."""
    return frozenset(DETECTORS)


def levels(r: Reader, node: Node | None, languages: Sequence[str]) -> dict[Level, LevelRules]:
    rules: dict[Level, LevelRules] = {}
    seen: dict[tuple[str, str], str] = {}  # (kind, name) -> level that has it
    detectors = known_detectors()
    for key, value in ((r.mapping(node, "levels") if node is not None else None) or {}).items():
        try:
            level = Level.parse(key)
        except ValueError as exc:
            r.error(value, f"`levels.{key}`: {exc}{hint(key, LEVEL_NAMES)}")
            continue
        if level is Level.PUBLIC:
            r.error(value, "`levels.public`: rules for public would raise nothing; remove them")
            continue
        body = r.mapping(value, f"levels.{key}", _RULE_KEYS) or {}
        names: dict[str, tuple[str, ...]] = {}
        for kind in ("intents", "entities", "detectors"):
            listed = r.strings(body[kind], f"levels.{key}.{kind}") if kind in body else []
            for name, item in listed:
                if kind == "detectors" and name not in detectors:
                    r.error(
                        item,
                        f"`levels.{key}.detectors`: `{name}` is not a detector"
                        f"{hint(name, detectors)} (known: {', '.join(sorted(detectors))})",
                    )
                elif (kind, name) in seen:
                    r.error(
                        item,
                        f"`levels.{key}.{kind}`: `{name}` is already listed under "
                        f"`{seen[kind, name]}`; keep it under one level only",
                    )
                seen.setdefault((kind, name), key)
            names[kind] = tuple(name for name, _ in listed)
        keywords: dict[str, tuple[str, ...]] = {}
        patterns: dict[str, tuple[re.Pattern[str], ...]] = {}
        where = f"levels.{key}.keywords"
        for lang, lst in r.per_language(body.get("keywords"), where, languages, False).items():
            words = r.strings(lst, f"{where}.{lang}")
            for word, item in words:
                if not re.search(r"\w", word):
                    r.error(item, f"`{where}.{lang}`: {word!r} has no letters or digits")
            keywords[lang] = tuple(word.strip() for word, _ in words)
        where = f"levels.{key}.patterns"
        for lang, lst in r.per_language(body.get("patterns"), where, languages, False).items():
            compiled = []
            for source, item in r.strings(lst, f"{where}.{lang}"):
                try:
                    pattern = re.compile(source, re.IGNORECASE)
                except re.error as exc:
                    r.error(
                        item,
                        f"`{where}.{lang}`: {source!r} is not a valid regular "
                        f"expression ({exc.msg} at character {exc.pos}); fix or remove it",
                    )
                    continue
                if pattern.search("") is not None:
                    r.error(
                        item,
                        f"`{where}.{lang}`: {source!r} matches an empty message, so "
                        "it would fire on every message; make it require some words",
                    )
                compiled.append(pattern)
            patterns[lang] = tuple(compiled)
        rules[level] = LevelRules(
            level,
            names["intents"],
            names["entities"],
            names["detectors"],
            keywords,
            patterns,
            _min_score(r, body.get("min_score"), key),
        )
    return rules


def _min_score(r: Reader, node: Node | None, key: str) -> float | None:
    """The sensitivity model's score from which a message counts as at least ``key``."""
    if node is None:
        return None
    value = number(node)
    if value is None or not 0 < value < 1:
        r.error(
            node,
            f"`levels.{key}.min_score` should be a number between 0 and 1 (not 0 or 1), "
            "such as 0.5, written without quotes; lower catches more, with more false alarms",
        )
        return None
    return value


def media(r: Reader, node: Node | None) -> dict[str, Level]:
    levels = {"default": Level.IDENTITY}
    body = r.mapping(node, "media", ("default", *MEDIA_KINDS)) if node is not None else None
    for kind, value in (body or {}).items():
        level = r.level(value, f"media.{kind}")
        if level is not None:
            levels[kind] = level
    return levels


def number(node: Node) -> float | None:
    """A plain (unquoted) number written in the file, or None."""
    if not isinstance(node, ScalarNode) or node.style is not None:
        return None
    try:
        return float(node.value) if re.fullmatch(r"\d+(\.\d+)?|\.\d+", node.value) else None
    except ValueError:
        return None
