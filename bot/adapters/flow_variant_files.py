"""The flow file's ``governance``, ``base_weight`` and ``variants`` settings.

Read like the rest of the flow (``bot.adapters.flow_files``): every problem is recorded
as ``file:line: what is wrong and what to change``. A variant overrides only what it
names; each text or response it words needs every language of the flow, and follows the
same rules as the base flow's (placeholders, WhatsApp's limits).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from yaml.nodes import Node, ScalarNode, SequenceNode

from bot.adapters import flow_levels
from bot.adapters.yaml_files import Reader
from bot.domain.flows import (
    BODY_LIMIT,
    TEXT_RULES,
    TIMER_NAMES,
    Timers,
    Variant,
    format_duration,
    placeholders,
)
from bot.domain.levels import Level

__all__ = ["GOVERNANCE", "VARIANT_KEYS", "variant_settings"]

GOVERNANCE = ("required", "none")
VARIANT_KEYS = ("name", "weight", "stopped", "texts", "responses", "transition_at", "timers")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def _weight(r: Reader, node: Node, where: str, zero_ok: bool) -> float | None:
    value = flow_levels.number(node)
    if value is None or value < 0 or (value == 0 and not zero_ok):
        r.error(
            node,
            f"`{where}` should be a number above 0{' (or 0)' if zero_ok else ''}, "
            "such as 50, written without quotes",
        )
        return None
    return value


def _texts(
    r: Reader, node: Node, where: str, languages: Sequence[str]
) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for key, langs in (r.mapping(node, where, TEXT_RULES) or {}).items():
        rule, out[key] = TEXT_RULES[key], {}
        for lang, value in r.per_language(langs, f"{where}.{key}", languages).items():
            text = r.string(value, f"{where}.{key}.{lang}")
            if text is None:
                continue
            try:
                used = placeholders(text)
            except ValueError as exc:
                r.error(value, f"`{where}.{key}.{lang}`: {exc}")
                continue
            for name in sorted(rule.required - used):
                r.error(value, f"`{where}.{key}.{lang}` must contain {{{name}}}; add it")
            for name in sorted(used - rule.allowed):
                r.error(value, f"`{where}.{key}.{lang}` uses {{{name}}}, which it cannot fill")
            if len(text) > rule.limit:
                r.error(value, f"`{where}.{key}.{lang}` is longer than {rule.limit} characters")
            out[key][lang] = text
    return out


def _responses(
    r: Reader, node: Node, where: str, languages: Sequence[str], known: Collection[str]
) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for name, langs in (r.mapping(node, where, known) or {}).items():
        out[name] = {}
        for lang, value in r.per_language(langs, f"{where}.{name}", languages).items():
            text = r.string(value, f"{where}.{name}.{lang}")
            if text is not None and re.search(r"\n[ \t]*\n", text):
                r.error(value, f"`{where}.{name}.{lang}` has a blank line; remove it")
            elif text is not None and len(text) > BODY_LIMIT:
                r.error(value, f"`{where}.{name}.{lang}` is longer than {BODY_LIMIT} characters")
            elif text is not None:
                out[name][lang] = text
    return out


def _variant(
    r: Reader, node: Node, index: int, languages: Sequence[str], responses: Collection[str]
) -> Variant | None:
    where = f"variants[{index}]"
    body = r.mapping(node, where, VARIANT_KEYS, ("name", "weight"))
    if body is None or "name" not in body or "weight" not in body:
        return None
    name = r.string(body["name"], f"{where}.name")
    if name is not None and not _NAME.fullmatch(name):
        r.error(body["name"], f"`{where}.name`: use lower-case letters, digits, - and _")
        name = None
    where = f"variants.{name or index}"
    weight = _weight(r, body["weight"], f"{where}.weight", zero_ok=False)
    stopped = r.flag(body["stopped"], f"{where}.stopped") if "stopped" in body else False
    texts = _texts(r, body["texts"], f"{where}.texts", languages) if "texts" in body else {}
    answers = body.get("responses")
    worded = _responses(r, answers, f"{where}.responses", languages, responses) if answers else {}
    at = None
    if "transition_at" in body:
        at = r.level(body["transition_at"], f"{where}.transition_at")
        if at is Level.PUBLIC:
            r.error(body["transition_at"], f"`{where}.transition_at` cannot be public")
            at = None
    given = r.mapping(body["timers"], f"{where}.timers", TIMER_NAMES) if "timers" in body else None
    timers = r.durations(given or {}, f"{where}.timers")
    if name is None or weight is None or None in timers.values():
        return None
    return Variant(name, weight, stopped, texts, worded, at, timers)  # type: ignore[arg-type]


def variant_settings(
    r: Reader,
    top: dict[str, Node],
    languages: Sequence[str],
    responses: Collection[str],
    timers: Timers | None = None,
) -> tuple[str, float | None, tuple[Variant, ...]]:
    """The flow's governance, its base weight and its variants (``responses``: the names
    the base flow words, the only ones a variant may word differently; ``timers``: the
    base flow's, which a variant's timers must still fit)."""
    governance = "required"
    if "governance" in top:
        text = r.string(top["governance"], "governance")
        if text is not None and text not in GOVERNANCE:
            r.error(
                top["governance"],
                f"`governance` is `{text}`; write `required` (compliance approves each "
                "change) or `none` (a valid change goes live at once)",
            )
        governance = text if text in GOVERNANCE else governance
    base = _weight(r, top["base_weight"], "base_weight", True) if "base_weight" in top else None
    variants: list[Variant] = []
    node = top.get("variants")
    if node is not None and not isinstance(node, SequenceNode):
        r.error(node, "`variants` should be a list of variants, each starting with `- name:`")
    elif node is not None:
        for index, item in enumerate(node.value):
            variant = _variant(r, item, index, languages, responses)
            if variant is None:
                continue
            if any(v.name == variant.name for v in variants):
                r.error(item, f"`variants`: `{variant.name}` is named twice; name each once")
                continue
            reminder, expiry = (
                variant.timers.get(name, getattr(timers, name, None))
                for name in ("invite_reminder", "invite_expiry")
            )
            if reminder is not None and expiry is not None and reminder >= expiry:
                r.error(
                    item,
                    f"`variants.{variant.name}`: its invite_reminder "
                    f"({format_duration(reminder)}) must be shorter than its invite_expiry "
                    f"({format_duration(expiry)}), or the reminder would come after the link "
                    "has expired",
                )
            variants.append(variant)
    if isinstance(top.get("base_weight"), ScalarNode) and not variants:
        r.error(top["base_weight"], "`base_weight` is only used with `variants`; remove it")
    return governance, base, tuple(variants)
