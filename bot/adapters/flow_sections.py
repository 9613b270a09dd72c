"""The flow file's smaller sections, each read into its domain value: the languages,
the protocol's texts and consent words, the timers, the bot's responses and the
retention periods. ``bot.adapters.flow_files`` reads the file and composes the flow
from them; every problem goes to the ``Reader`` with its line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from yaml.nodes import Node

from bot.adapters.yaml_files import Reader, hint
from bot.domain.flows import (
    BODY_LIMIT,
    CONSENT_PROMPT_LIMIT,
    REQUIRED_LANGUAGES,
    TEXT_RULES,
    TIMER_NAMES,
    Protocol,
    Timers,
    format_duration,
    normalise_answer,
    placeholders,
)
from bot.domain.retention import Retention, parse_period

__all__ = [
    "read_consent_words",
    "read_languages",
    "read_protocol",
    "read_responses",
    "read_retention",
    "read_texts",
    "read_timers",
]

# Stand-ins for the caller's {link}, {expires} and {advisor} when checking message lengths.
_SAMPLE_VALUES = {"link": "x" * 120, "expires": "x" * 40, "advisor": "x" * 60}
_RETENTION = ("transcripts", "media", "declined")


def read_languages(r: Reader, top: dict[str, Node]) -> tuple[str, ...]:
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


def read_consent_words(
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


def read_texts(
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


def read_protocol(r: Reader, node: Node | None, languages: Sequence[str]) -> Protocol | None:
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
    texts = read_texts(r, body["texts"], languages, url, version)
    words = read_consent_words(r, body["consent_words"], languages, texts)
    return Protocol(version, url or "", words["yes"], words["no"], texts)


def read_timers(r: Reader, node: Node | None) -> Timers | None:
    body = r.mapping(node, "timers", TIMER_NAMES, TIMER_NAMES) if node is not None else None
    values = r.durations(body or {}, "timers")
    if len(values) != len(TIMER_NAMES) or None in values.values():
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


def read_responses(
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


def read_retention(r: Reader, node: Node | None) -> Retention:
    body = r.mapping(node, "retention", _RETENTION) if node is not None else None
    values = {}
    for name, value in (body or {}).items():
        text = r.string(value, f"retention.{name}")
        try:
            values[name] = parse_period(text or "")
        except ValueError as exc:
            r.error(value, f"`retention.{name}`: {exc}")
    return Retention(**values)
