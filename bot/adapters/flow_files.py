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
qualification questions (``qualification``) by ``bot.adapters.flow_qualification``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
import threading
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TextIO

import yaml
from yaml.nodes import Node

from bot.adapters import flow_levels, flow_qualification, flow_templates, flow_variant_files
from bot.adapters.flow_levels import known_detectors
from bot.adapters.yaml_files import (
    FlowError,
    FlowFileError,
    Reader,
    Reloading,
    compose,
    hint,
)
from bot.config import REPO_ROOT
from bot.domain.flow_variants import effective
from bot.domain.flows import (
    BODY_LIMIT,
    CONSENT_PROMPT_LIMIT,
    REQUIRED_LANGUAGES,
    TEXT_RULES,
    Flow,
    Protocol,
    Timers,
    format_duration,
    normalise_answer,
    parse_duration,
    placeholders,
)
from bot.domain.levels import Level
from bot.domain.retention import Retention, parse_period

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
# Stand-ins for the caller's {link}, {expires} and {advisor} when checking message lengths.
_SAMPLE_VALUES = {"link": "x" * 120, "expires": "x" * 40, "advisor": "x" * 60}
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
_RETENTION = ("transcripts", "media", "declined")
_TIMERS = ("consent_reminder", "invite_reminder", "invite_expiry")
log = logging.getLogger(__name__)


def domain_responses(domain_path: Path) -> set[str]:
    """The names of the responses (``utter_*``) a Rasa domain file declares."""
    data = yaml.safe_load(domain_path.read_text(encoding="utf-8")) or {}
    return set((data.get("responses") or {}).keys())


def _languages(r: Reader, top: dict[str, Node]) -> tuple[str, ...]:
    node = top.get("languages")
    found = [] if node is None else r.strings(node, "languages")
    codes: list[str] = []
    for code, item in found:
        if not re.fullmatch(r"[a-z]{2,3}", code):
            r.error(item, f"`languages`: `{code}` is not a language code such as en or de")
        elif code in codes:
            r.error(item, f"`languages`: `{code}` is listed twice")
        else:
            codes.append(code)
    missing = [code for code in REQUIRED_LANGUAGES if code not in codes]
    if node is not None and missing:
        r.error(
            node,
            f"`languages` must include {', '.join(missing)} "
            f"(all of {', '.join(REQUIRED_LANGUAGES)} are required)",
        )
    return tuple(codes) if not missing else (*codes, *missing)


def _consent_words(
    r: Reader, node: Node, languages: Sequence[str], buttons: dict[str, dict[str, str]]
) -> dict[str, dict[str, tuple[str, ...]]]:
    words: dict[str, dict[str, tuple[str, ...]]] = {"yes": {}, "no": {}}
    meaning: dict[str, str] = {}
    for answer, langs in (
        r.mapping(node, "protocol.consent_words", ("yes", "no"), ("yes", "no")) or {}
    ).items():
        where = f"protocol.consent_words.{answer}"
        for lang, lst in r.per_language(langs, where, languages).items():
            listed = r.strings(lst, f"{where}.{lang}")
            extra = buttons.get(f"consent_{answer}_button", {}).get(lang)
            for word, item in [*listed, *([(extra, lst)] if extra else [])]:
                plain = normalise_answer(word)
                if not plain:
                    r.error(item, f"`{where}.{lang}`: {word!r} has nothing a prospect could type")
                elif meaning.setdefault(plain, answer) != answer:
                    r.error(
                        item,
                        f"`{where}.{lang}`: {word!r} also counts as "
                        f"`{meaning[plain]}` (in any language); use it for one only",
                    )
            words[answer][lang] = tuple(word for word, _ in listed)
    return words


def _texts(
    r: Reader, node: Node, languages: Sequence[str], url: str | None, version: str
) -> dict[str, dict[str, str]]:
    texts: dict[str, dict[str, str]] = {}
    for key, langs in (r.mapping(node, "protocol.texts", TEXT_RULES, TEXT_RULES) or {}).items():
        rule, where, texts[key] = TEXT_RULES[key], f"protocol.texts.{key}", {}
        for lang, value in r.per_language(langs, where, languages).items():
            text = r.string(value, f"{where}.{lang}")
            try:
                used = placeholders(text or "")
            except ValueError as exc:
                r.error(value, f"`{where}.{lang}`: {exc}")
                continue
            if text is None:
                continue
            for name in sorted(rule.required - used):
                r.error(value, f"`{where}.{lang}` must contain {{{name}}}; add it to the text")
            for name in sorted(used - rule.allowed):
                r.error(
                    value,
                    f"`{where}.{lang}` uses {{{name}}}, which this text cannot fill"
                    f"; use only {', '.join(f'{{{n}}}' for n in sorted(rule.allowed))}",
                )
            if used <= rule.allowed:
                texts[key][lang] = text
                filled = {
                    "terms_url": (url or "").format(version=version, language=lang),
                    "version": version,
                    "language": lang,
                    **_SAMPLE_VALUES,
                }
                if (size := len(text.format_map(filled))) > rule.limit:
                    r.error(
                        value,
                        f"`{where}.{lang}` is {size} characters long; WhatsApp "
                        f"allows {rule.limit} here, so shorten it",
                    )
    for lang in languages:
        parts = [texts.get(k, {}).get(lang) for k in ("terms_summary", "consent_question")]
        if all(parts) and url:
            size = len(str(parts[0]).replace("{terms_url}", url) + "\n\n" + str(parts[1]))
            if size > CONSENT_PROMPT_LIMIT:
                r.error(
                    node,
                    f"the `{lang}` terms_summary and consent_question are sent as "
                    f"one message of about {size} characters; WhatsApp allows "
                    f"{CONSENT_PROMPT_LIMIT}, so shorten them",
                )
    return texts


def _protocol(r: Reader, node: Node | None, languages: Sequence[str]) -> Protocol | None:
    keys = ("terms_version", "terms_url", "consent_words", "texts")
    body = r.mapping(node, "protocol", keys, keys) if node is not None else None
    if not body or any(key not in body for key in keys):
        return None
    version = r.string(body["terms_version"], "protocol.terms_version") or ""
    url = r.string(body["terms_url"], "protocol.terms_url")
    if url is not None:
        try:
            used = placeholders(url)
        except ValueError as exc:
            used = {"version"}
            r.error(body["terms_url"], f"`protocol.terms_url`: {exc}")
        if "version" not in used or used - {"version", "language"}:
            r.error(
                body["terms_url"],
                "`protocol.terms_url` must contain {version} and may "
                "contain {language}, and no other placeholder",
            )
            url = None
        elif not url.startswith("https://"):
            r.error(body["terms_url"], "`protocol.terms_url` must start with https://")
    texts = _texts(r, body["texts"], languages, url, version)
    words = _consent_words(r, body["consent_words"], languages, texts)
    return Protocol(version, url or "", words["yes"], words["no"], texts)


def _timers(r: Reader, node: Node | None) -> Timers | None:
    body = r.mapping(node, "timers", _TIMERS, _TIMERS) if node is not None else None
    values = {}
    for name, value in (body or {}).items():
        text = r.string(value, f"timers.{name}")
        try:
            values[name] = parse_duration(text) if text is not None else None
        except ValueError as exc:
            r.error(value, f"`timers.{name}`: {exc}")
    if len(values) != len(_TIMERS) or None in values.values():
        return None
    timers = Timers(**values)  # type: ignore[arg-type]
    if body and timers.invite_reminder >= timers.invite_expiry:
        r.error(
            body["invite_reminder"],
            f"`timers.invite_reminder` "
            f"({format_duration(timers.invite_reminder)}) must be shorter than "
            f"`timers.invite_expiry` ({format_duration(timers.invite_expiry)}), or the "
            "reminder would come after the link has expired",
        )
    return timers


def _responses(
    r: Reader,
    node: Node | None,
    languages: Sequence[str],
    domain: set[str] | None,
    served: frozenset[str] = frozenset(),
) -> dict[str, dict[str, str]]:
    """``served``: responses another section words (the qualification questions)."""
    entries = r.mapping(node, "responses") if node is not None else None
    out: dict[str, dict[str, str]] = {}
    for name, langs in (entries or {}).items():
        if name in served:
            r.error(
                langs,
                f"`responses.{name}` is worded in the `qualification` section; "
                "remove it here so there is one wording",
            )
            continue
        if domain is not None and name not in domain:
            r.error(
                langs,
                f"`responses.{name}` is not a response of the Rasa domain, so the "
                f"bot never uses it{hint(name, domain)}",
                "warning",
            )
        out[name] = {}
        for lang, value in r.per_language(langs, f"responses.{name}", languages).items():
            text = r.string(value, f"responses.{name}.{lang}")
            if text is not None and re.search(r"\n[ \t]*\n", text):
                r.error(
                    value,
                    f"`responses.{name}.{lang}` has a blank line; Rasa would split "
                    "it into two messages, so remove the blank line",
                )
            elif text is not None and len(text) > BODY_LIMIT:
                r.error(
                    value,
                    f"`responses.{name}.{lang}` is {len(text)} characters long; "
                    f"WhatsApp allows {BODY_LIMIT}, so shorten it",
                )
            elif text is not None:
                out[name][lang] = text
    for name in sorted((domain or set()) - set(out) - served) if entries is not None else ():
        r.error(
            node,
            f"`responses` has no wording for `{name}`, which the Rasa domain "
            "(bot/rasa/domain.yml) uses; add it with a line per language",
        )
    return out


def _retention(r: Reader, node: Node | None) -> Retention:
    body = r.mapping(node, "retention", _RETENTION) if node is not None else None
    values = {}
    for name, value in (body or {}).items():
        text = r.string(value, f"retention.{name}")
        try:
            values[name] = parse_period(text or "")
        except ValueError as exc:
            r.error(value, f"`retention.{name}`: {exc}")
    return Retention(**values)


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
    languages = _languages(r, top)
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
    protocol = _protocol(r, top.get("protocol"), languages)
    qualification = flow_qualification.qualification(
        r, top.get("qualification"), languages, products
    )
    served = qualification.response_names() if qualification else frozenset()
    flow_args = (
        flow_levels.levels(r, top.get("levels"), languages),
        flow_levels.media(r, top.get("media")),
        _timers(r, top.get("timers")),
        _responses(r, top.get("responses"), languages, domain, served),
        flow_templates.templates(
            r, top.get("templates"), languages, default, protocol.texts if protocol else None
        ),
    )
    retention = _retention(r, top.get("retention"))
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
