"""Flow files (``flows/*.yml``): reading, checking and hot reloading.

Marketing edits these files without touching code, so they are untrusted input: the YAML
is only composed into nodes with PyYAML's safe loader (no object is ever built from a
tag), which keeps every value's line number, and every problem is reported as
``file:line: what is wrong and what to change`` in plain words. All problems are
collected, not just the first. Plain values are read as the text written, so ``yes``,
``no`` or ``2026-11`` stay text instead of YAML 1.1 booleans and dates. The pure rules
(placeholders, durations, limits) live in ``bot.domain.flows``; the sections that decide
a message's level (``levels``, ``media``) are read by ``bot.adapters.flow_levels``, the
approved WhatsApp templates (``templates``) by ``bot.adapters.flow_templates``, the
qualification questions (``qualification``) by ``bot.adapters.flow_qualification``,
the A/B variants by ``bot.adapters.flow_variant_files``, and the smaller sections
(languages, protocol texts, timers, responses, retention) by
``bot.adapters.flow_sections``.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import threading
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TextIO

import yaml
from yaml.nodes import Node

from bot.adapters import (
    flow_levels,
    flow_qualification,
    flow_sections,
    flow_templates,
    flow_variant_files,
)
from bot.adapters.flow_levels import known_detectors
from bot.adapters.yaml_files import (
    FlowError,
    FlowFileError,
    Reader,
    Reloading,
    compose,
)
from bot.config import REPO_ROOT
from bot.domain.flow_variants import effective
from bot.domain.flows import (
    Flow,
)
from bot.domain.levels import Level

__all__ = [
    "DEFAULT_DOMAIN_PATH",
    "DEFAULT_FLOW_PATH",
    "FLOWS_DIR",
    "FlowError",
    "FlowFileError",
    "FlowStore",
    "domain_responses",
    "known_detectors",
    "load_flow",
    "validate_file",
    "validate_files",
]

FLOWS_DIR = REPO_ROOT / "flows"
DEFAULT_FLOW_PATH = FLOWS_DIR / "default.yml"
DEFAULT_DOMAIN_PATH = REPO_ROOT / "bot" / "rasa" / "domain.yml"
_TOP = (
    "flow",
    "languages",
    "default_language",
    "transition_at",
    "nlu",
    "levels",
    "media",
    "protocol",
    "timers",
    "templates",
    "responses",
    "retention",
    "qualification",
    "governance",
    "base_weight",
    "variants",
)
log = logging.getLogger(__name__)


def domain_responses(domain_path: Path) -> set[str]:
    """The names of the responses (``utter_*``) a Rasa domain file declares."""
    data = yaml.safe_load(domain_path.read_text(encoding="utf-8")) or {}
    return set((data.get("responses") or {}).keys())


def _flow(
    r: Reader,
    root: Node,
    domain: set[str] | None,
    digest: str,
    products: Collection[str] | None = None,
) -> Flow | None:
    optional: tuple[str, ...] = ("nlu", "levels", "media", "retention", "templates")
    optional += ("qualification", "governance", "base_weight", "variants")
    required = [key for key in _TOP if key not in optional]
    top = r.mapping(root, "the file", _TOP, required)
    if top is None:
        return None
    name = r.string(top["flow"], "flow") if "flow" in top else None
    languages = flow_sections.read_languages(r, top)
    default = (
        r.string(top["default_language"], "default_language")
        if ("default_language" in top)
        else None
    )
    if default is not None and default not in languages:
        r.error(
            top["default_language"],
            f"`default_language` is `{default}`, which is not "
            f"in `languages` ({', '.join(languages)})",
        )
    at = r.level(top["transition_at"], "transition_at") if "transition_at" in top else None
    if at is Level.PUBLIC:
        r.error(
            top["transition_at"],
            "`transition_at: public` would move every conversation "
            "at its first message; use identity, financial, advice or order",
        )
    confidence: float | None = 0.6
    nlu = r.mapping(top["nlu"], "nlu", ("min_confidence",)) if "nlu" in top else None
    if nlu and "min_confidence" in nlu:
        value = nlu["min_confidence"]
        confidence = flow_levels.number(value)
        if confidence is None or not 0 < confidence <= 1:
            r.error(
                value,
                "`nlu.min_confidence` should be a number above 0 and at most 1, "
                "such as 0.6, written without quotes",
            )
    protocol = flow_sections.read_protocol(r, top.get("protocol"), languages)
    qualification = flow_qualification.qualification(
        r, top.get("qualification"), languages, products
    )
    served = qualification.response_names() if qualification else frozenset()
    flow_args = (
        flow_levels.levels(r, top.get("levels"), languages),
        flow_levels.media(r, top.get("media")),
        flow_sections.read_timers(r, top.get("timers")),
        flow_sections.read_responses(r, top.get("responses"), languages, domain, served),
        flow_templates.templates(
            r, top.get("templates"), languages, default, protocol.texts if protocol else None
        ),
    )
    retention = flow_sections.read_retention(r, top.get("retention"))
    governance, base_weight, variants = flow_variant_files.variant_settings(
        r, top, languages, flow_args[3], flow_args[2]
    )
    if any(e.severity == "error" for e in r.errors) or None in (name, default, at, confidence):
        return None
    rules, media, timers, responses, templates = flow_args
    assert name and default and at and confidence and protocol and timers
    return Flow(
        name,
        languages,
        default,
        at,
        confidence,
        rules,
        media,
        protocol,
        timers,
        responses,
        r.file,
        digest,
        retention,
        templates,
        qualification,
        governance,
        variants,
        base_weight,
    )


def _check(
    path: Path,
    domain_path: Path | None,
    products: Collection[str] | None = None,
    data: bytes | None = None,
) -> tuple[Flow | None, list[FlowError]]:
    r = Reader(str(path))
    domain: set[str] | None = None
    if domain_path is not None:
        try:
            domain = domain_responses(domain_path)
        except (OSError, yaml.YAMLError, AttributeError) as exc:
            r.errors.append(
                FlowError(str(domain_path), None, f"cannot read the Rasa domain: {exc}")
            )
    composed = compose(path, r, "the file is empty; start from flows/default.yml", data)
    if composed is None:
        return None, r.errors
    root, data = composed
    flow = _flow(r, root, domain, hashlib.sha256(data).hexdigest(), products)
    return flow, sorted(r.errors, key=lambda e: (e.file != r.file, e.line or 0))


def validate_file(path: Path, domain_path: Path | None = None) -> list[FlowError]:
    """Every problem in the flow file at ``path``, errors and warnings; [] when it is fine."""
    return _check(path, domain_path)[1]


_PARSED_KEPT = 16
_parsed: dict[tuple[str, str, str | None, str | None], tuple[Flow, list[FlowError]]] = {}
_parsed_lock = threading.Lock()


def _fingerprint(path: Path | None) -> str | None:
    """The sha256 of a file's bytes; None for no file, "unreadable" when it cannot be read
    (parsing it again then reports why)."""
    if path is None:
        return None
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


def load_flow(path: Path, domain_path: Path | None = None, data: bytes | None = None) -> Flow:
    """The flow in ``path`` (or in ``data``, a version's content, named ``path``);
    FlowFileError listing every error if it has any.

    With ``domain_path`` every response of that Rasa domain must have a wording.

    A flow is parsed once per process for the same name, content and domain: a parse
    checks every text against the domain and compiles the detectors, a third of a second,
    and the service asks for the same content at its start, at each proposal and at each
    approval. ``Flow`` is immutable, so the parsed one is shared; its warnings are logged
    at every call, as before.
    """
    data = data if data is not None else _read_or_none(path)
    key = None
    if data is not None:
        digest = hashlib.sha256(data).hexdigest()
        key = (str(path), digest, str(domain_path), _fingerprint(domain_path))
        with _parsed_lock:
            parsed = _parsed.get(key)
        if parsed is not None:
            for warning in parsed[1]:
                log.warning("%s", warning)
            return parsed[0]
    flow, problems = _check(path, domain_path, None, data)
    errors = [p for p in problems if p.severity == "error"]
    if flow is None or errors:
        raise FlowFileError(errors or [FlowError(str(path), None, "the flow cannot be used")])
    for warning in problems:
        log.warning("%s", warning)
    if key is not None:
        with _parsed_lock:
            while len(_parsed) >= _PARSED_KEPT:
                del _parsed[next(iter(_parsed))]
            _parsed[key] = (flow, problems)
    return flow


def _read_or_none(path: Path) -> bytes | None:
    """The file's bytes; None when it cannot be read (the parse then says why)."""
    try:
        return path.read_bytes()
    except OSError:
        return None


def validate_files(
    paths: Sequence[Path],
    out: TextIO = sys.stdout,
    domain_path: Path | None = DEFAULT_DOMAIN_PATH,
    products: Collection[str] | None = None,
) -> int:
    """``gangway flows validate [FILE...]``: print each problem, return the exit code.

    With no paths every ``flows/*.yml`` is checked. 0 when all are usable (warnings
    allowed), 1 otherwise. ``products``: the routing file's, which every qualified
    product must be (None: not checked).
    """
    files = list(paths) or sorted(FLOWS_DIR.glob("*.yml"))
    if not files:
        print(f"no flow files found in {FLOWS_DIR}", file=out)
        return 1
    failed = False
    for path in files:
        flow, problems = _check(path, domain_path, products)
        for problem in problems:
            print(problem, file=out)
        if flow is None or any(p.severity == "error" for p in problems):
            failed = True
            print(f"{path}: NOT usable: fix the errors above", file=out)
        else:
            print(
                f"{path}: ok (flow {flow.name!r}, languages {', '.join(flow.languages)}, "
                f"transition at {flow.transition_at})",
                file=out,
            )
    return 1 if failed else 0


class FlowStore(Reloading[Flow]):
    """The flow the service uses, reloaded when its file (or the Rasa domain) changes;
    a broken edit keeps the last good flow (see ``Reloading``)."""

    def __init__(
        self,
        path: Path,
        domain_path: Path | None = None,
        load: Callable[[Path, Path | None], Flow] = load_flow,
    ) -> None:
        self.path, self.domain_path = path, domain_path
        super().__init__("flow", (path, domain_path), lambda: load(path, domain_path))

    def for_conversation(self, conversation_id: str, variant: str | None) -> Flow:
        """The flow a conversation assigned ``variant`` runs (``flow_variants.effective``)."""
        return effective(self.current(), variant)
