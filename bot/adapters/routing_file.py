"""The routing file (``flows/routing.yml``): reading, checking and hot reloading.

Operations edit it without touching code, so, like the flow files, it is untrusted input:
composed into nodes with PyYAML's safe loader (line numbers kept, no objects built from
tags), every problem reported as ``file:line: what is wrong and what to change``, all
problems collected. It reuses the flow files' node reader and error types, so
``gangway flows validate`` reports both alike. The rules themselves live in
``bot.domain.routing``.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import re
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TextIO, cast

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.adapters.flow_files import FLOWS_DIR
from bot.adapters.yaml_files import FlowError, FlowFileError, Reader, Reloading, compose
from bot.domain.flows import REQUIRED_LANGUAGES, format_duration, parse_duration
from bot.domain.phone_country import is_country_code
from bot.domain.routing import ANY, LanguageMatch, QueueRule, RoutingRules

__all__ = [
    "DEFAULT_ROUTING_PATH",
    "RoutingStore",
    "is_routing_file",
    "load_routing",
    "routing_products",
    "validate_routing_file",
    "validate_routing_files",
]

DEFAULT_ROUTING_PATH = FLOWS_DIR / "routing.yml"
NAME_LIMIT = 100  # the database keeps queue and team names in 100 characters
_TOP = (
    "products",
    "max_load",
    "sla",
    "language_match",
    "fallback_queue",
    "escalation_team",
    "queues",
)
_REQUIRED = ("max_load", "sla", "fallback_queue")
_QUEUE_KEYS = ("name", "countries", "products", "languages", "team", "sla")
_MATCHES = ("prefer", "require")
_PRODUCT = re.compile(r"[a-z][a-z0-9_]*")
# Codes people reach for that ISO 3166 does not use for the country they mean.
_NOT_ISO = {
    "UK": "the United Kingdom is `GB`",
    "EL": "Greece is `GR` (EL is the EU's own abbreviation)",
    "EN": "England is part of the United Kingdom, `GB`",
}
# A top-level key only a routing file has: how a routing file is told from a flow.
_ROUTING_KEY = re.compile(r"^(?:fallback_queue|queues)\s*:", re.MULTILINE)
log = logging.getLogger(__name__)


def is_routing_file(path: Path) -> bool:
    """Whether ``path`` holds routing rules rather than a flow.

    It does if it is called ``routing.yml`` (or ``.yaml``) or has a top-level
    ``fallback_queue:`` or ``queues:`` line, which no flow has; so a copy of the
    routing file under another name is still checked as one.
    """
    if path.name in ("routing.yml", "routing.yaml"):
        return True
    try:
        return _ROUTING_KEY.search(path.read_text(encoding="utf-8", errors="replace")) is not None
    except OSError:
        return False


def _hint(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


def _name(r: Reader, node: Node, where: str) -> str | None:
    text = r.string(node, where)
    if text is not None and len(text) > NAME_LIMIT:
        r.error(node, f"`{where}` is {len(text)} characters long; keep it to {NAME_LIMIT}")
        return None
    return text.strip() if text is not None else None


def _whole_number(node: Node) -> int | None:
    if isinstance(node, ScalarNode) and node.style is None and node.value.isdigit():
        return int(node.value)
    return None


def _duration(r: Reader, node: Node, where: str) -> timedelta | None:
    text = r.string(node, where)
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        r.error(node, f"`{where}`: {exc}")
        return None


def _countries(r: Reader, node: Node | None, where: str) -> frozenset[str]:
    """ISO codes (any case) as capitals; ``*`` (any country) gives the empty set."""
    codes: set[str] = set()
    for text, item in r.strings(node, where) if node is not None else ():
        code = text.strip().upper()
        if code == ANY or is_country_code(code):
            codes.add(code)
        else:
            why = _NOT_ISO.get(code, "write its two-letter ISO 3166 code, such as DE, FR or GB")
            r.error(item, f"`{where}`: `{text}` is not a country code; {why}")
    return frozenset() if ANY in codes else frozenset(codes)


def _languages(r: Reader, node: Node | None, where: str) -> frozenset[str]:
    """Language codes gangway speaks; ``*`` (any language) gives the empty set."""
    codes: set[str] = set()
    for text, item in r.strings(node, where) if node is not None else ():
        code = text.strip().lower()
        if code == ANY or code in REQUIRED_LANGUAGES:
            codes.add(code)
        else:
            r.error(
                item,
                f"`{where}`: `{text}` is not a language gangway speaks; "
                f"use {', '.join(REQUIRED_LANGUAGES[:-1])} or {REQUIRED_LANGUAGES[-1]}",
            )
    return frozenset() if ANY in codes else frozenset(codes)


def _products(
    r: Reader, node: Node | None, where: str, known: frozenset[str] | None
) -> frozenset[str]:
    """Product names. ``known`` is the file's `products` list, None while reading that list
    itself; in a queue ``*`` (any product) gives the empty set."""
    names: set[str] = set()
    for text, item in r.strings(node, where) if node is not None else ():
        name = text.strip()
        if name == ANY and known is not None:
            names.add(name)
        elif not _PRODUCT.fullmatch(name):
            r.error(
                item,
                f"`{where}`: `{name}` is not a product name; use lower-case letters, digits "
                "and _ only, such as current_account",
            )
        elif known and name not in known:
            r.error(
                item,
                f"`{where}`: `{name}` is not one of the `products`{_hint(name, sorted(known))}"
                f" (known: {', '.join(sorted(known))}); fix it or add it to `products`",
            )
        else:
            names.add(name)
    return frozenset() if ANY in names else frozenset(names)


def _queue(
    r: Reader, node: Node, number: int, known: frozenset[str]
) -> tuple[QueueRule, Node] | None:
    if not isinstance(node, MappingNode):
        r.error(node, f"queue {number} in `queues` should start with `- name: ...`")
        return None
    name_node = next(
        (v for k, v in node.value if isinstance(k, ScalarNode) and k.value == "name"), None
    )
    if name_node is None:
        r.error(node, f"queue {number} in `queues` has no `name`; add `name: ...`")
        return None
    if isinstance(name_node, ScalarNode) and not name_node.value.strip():
        r.error(name_node, f"queue {number} in `queues` has an empty name; give it one")
        return None
    label = f"queues.{name_node.value.strip()}" if isinstance(name_node, ScalarNode) else "queues"
    errors = sum(e.severity == "error" for e in r.errors)
    body = r.mapping(node, label, _QUEUE_KEYS) or {}
    name = _name(r, name_node, f"{label}.name")
    rule = QueueRule(
        name or "",
        _countries(r, body.get("countries"), f"{label}.countries"),
        _products(r, body.get("products"), f"{label}.products", known),
        _languages(r, body.get("languages"), f"{label}.languages"),
        _name(r, body["team"], f"{label}.team") if "team" in body else None,
        _duration(r, body["sla"], f"{label}.sla") if "sla" in body else None,
    )
    if sum(e.severity == "error" for e in r.errors) > errors:
        return None
    return rule, name_node


def _shadows(earlier: QueueRule, later: QueueRule) -> bool:
    """Whether every request ``later`` matches is already taken by ``earlier``."""
    return all(
        not wide or (narrow and narrow <= wide)
        for wide, narrow in (
            (earlier.countries, later.countries),
            (earlier.products, later.products),
            (earlier.languages, later.languages),
        )
    )


def _queues(r: Reader, node: Node, known: frozenset[str]) -> tuple[QueueRule, ...]:
    if not isinstance(node, SequenceNode):
        r.error(node, "`queues` should be a list of queues, each starting with `- name: ...`")
        return ()
    rules: list[QueueRule] = []
    seen: dict[str, int] = {}
    for number, item in enumerate(node.value, 1):
        parsed = _queue(r, item, number, known)
        if parsed is None:
            continue
        rule, at = parsed
        if rule.name in seen:
            r.error(
                at,
                f"queue `{rule.name}` appears twice (first on line {seen[rule.name]}); "
                "give each queue its own name",
            )
            continue
        seen[rule.name] = at.start_mark.line + 1
        for earlier in rules:
            if _shadows(earlier, rule):
                r.error(
                    at,
                    f"queue `{rule.name}` never gets a handoff: queue `{earlier.name}` above "
                    "it takes all of them (queues are tried top to bottom); move it up or "
                    "remove it",
                    "warning",
                )
                break
        rules.append(rule)
    return tuple(rules)


def _rules(r: Reader, root: Node, source: str, digest: str) -> RoutingRules | None:
    top = r.mapping(root, "the file", _TOP, _REQUIRED)
    if top is None:
        return None
    known: frozenset[str] = frozenset()
    if "products" in top:
        known = _products(r, top["products"], "products", None)
    max_load = None
    if "max_load" in top:
        max_load = _whole_number(top["max_load"])
        if max_load is None or max_load < 1:
            r.error(
                top["max_load"],
                "`max_load` should be a whole number of at least 1, such as 5, written "
                "without quotes",
            )
    sla = _duration(r, top["sla"], "sla") if "sla" in top else None
    match = "prefer"
    if "language_match" in top:
        match = r.string(top["language_match"], "language_match") or match
        if match not in _MATCHES:
            r.error(
                top["language_match"],
                f"`language_match` is `{match}`; use `prefer` (a speaker of the prospect's "
                "language first, anyone licensed otherwise) or `require` (speakers only)",
            )
    fallback = None
    if "fallback_queue" in top:
        fallback = _name(r, top["fallback_queue"], "fallback_queue")
    escalation = (
        _name(r, top["escalation_team"], "escalation_team") if "escalation_team" in top else None
    )
    queues = _queues(r, top["queues"], known) if "queues" in top else ()
    if any(e.severity == "error" for e in r.errors):
        return None
    assert max_load is not None and sla is not None and fallback is not None
    return RoutingRules(
        queues=queues,
        fallback_queue=fallback,
        max_load=max_load,
        sla=sla,
        products=known,
        language_match=cast(LanguageMatch, match),
        escalation_team=escalation,
        source=source,
        digest=digest,
    )


def _check(path: Path) -> tuple[RoutingRules | None, list[FlowError]]:
    r = Reader(str(path))
    composed = compose(path, r, "the file is empty; start from flows/routing.yml")
    if composed is None:
        return None, r.errors
    root, data = composed
    rules = _rules(r, root, r.file, hashlib.sha256(data).hexdigest())
    return rules, sorted(r.errors, key=lambda e: e.line or 0)


def validate_routing_file(path: Path) -> list[FlowError]:
    """Every problem in the routing file at ``path``, errors and warnings; [] when fine."""
    return _check(path)[1]


def load_routing(path: Path = DEFAULT_ROUTING_PATH) -> RoutingRules:
    """The routing rules in ``path``; FlowFileError listing every error if it has any."""
    rules, problems = _check(path)
    errors = [p for p in problems if p.severity == "error"]
    if rules is None or errors:
        raise FlowFileError(errors or [FlowError(str(path), None, "the rules cannot be used")])
    for warning in problems:
        log.warning("%s", warning)
    return rules


def routing_products(path: Path) -> frozenset[str] | None:
    """The products of the routing file at ``path``; None when it cannot be used."""
    rules, problems = _check(path)
    if rules is None or any(p.severity == "error" for p in problems):
        return None
    return rules.products


def validate_routing_files(paths: Sequence[Path], out: TextIO = sys.stdout) -> int:
    """Print each problem of each routing file and a summary line; 0 if all are usable."""
    failed = False
    for path in paths:
        rules, problems = _check(path)
        for problem in problems:
            print(problem, file=out)
        if rules is None or any(p.severity == "error" for p in problems):
            failed = True
            print(f"{path}: NOT usable: fix the errors above", file=out)
        else:
            print(
                f"{path}: ok (routing: {len(rules.queues)} queues and fallback "
                f"`{rules.fallback_queue}`, sla {format_duration(rules.sla)}, "
                f"max load {rules.max_load})",
                file=out,
            )
    return 1 if failed else 0


class RoutingStore(Reloading[RoutingRules]):
    """The routing rules the service uses, reloaded when their file changes; a broken
    edit keeps the last good rules (see ``Reloading``)."""

    def __init__(
        self, path: Path = DEFAULT_ROUTING_PATH, load: Callable[[Path], RoutingRules] = load_routing
    ) -> None:
        self.path = path
        super().__init__("routing", (path,), lambda: load(path))
