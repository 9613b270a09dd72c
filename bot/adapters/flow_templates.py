"""The ``templates`` section of a flow file: the approved WhatsApp templates gangway
sends when the 24-hour window is closed, per purpose and language. Read by
``bot.adapters.flow_files``, which reports every problem as ``file:line`` in plain
words; the rules for templates live in ``bot.domain.message_templates``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from yaml.nodes import Node

from bot.adapters.yaml_files import Reader
from bot.domain.message_templates import (
    TEMPLATE_LIMIT,
    TEMPLATE_PURPOSES,
    is_content_sid,
)

__all__ = ["templates"]

# Stand-ins for the values gangway fills in when it sends, to check the template's length.
_SAMPLE_VALUES = {"link": "x" * 120, "expires": "x" * 40, "advisor": "x" * 60}


def templates(
    r: Reader,
    node: Node | None,
    languages: Sequence[str],
    default_language: str | None,
    texts: Mapping[str, Mapping[str, str]] | None,
) -> dict[str, dict[str, str]]:
    """purpose -> language -> Content SID. Each purpose needs the default language (a
    prospect whose language has no template gets that one); a SID must look like one."""
    found: dict[str, dict[str, str]] = {}
    body = r.mapping(node, "templates", TEMPLATE_PURPOSES) if node is not None else None
    seen: dict[str, str] = {}  # Content SID -> where it was first named
    for purpose, entries in (body or {}).items():
        where = f"templates.{purpose}"
        found[purpose] = {}
        named = r.per_language(entries, where, languages, complete=False)
        for lang, value in named.items():
            sid = r.string(value, f"{where}.{lang}")
            if sid is None:
                continue
            sid = sid.strip()
            if not is_content_sid(sid):
                r.error(
                    value,
                    f"`{where}.{lang}`: `{sid}` is not a Content SID; a Content SID is HX "
                    "followed by 32 digits and letters a-f, as Twilio's Content Template "
                    "Builder shows it (copy it from there)",
                )
                continue
            if sid in seen:
                r.error(
                    value,
                    f"`{where}.{lang}`: `{sid}` is also `{seen[sid]}`; each purpose and "
                    "language has a template of its own wording",
                    "warning",
                )
            seen.setdefault(sid, f"{where}.{lang}")
            found[purpose][lang] = sid
            _check_length(r, value, purpose, lang, texts)
        if default_language is not None and default_language not in named:
            r.error(
                entries,
                f"`{where}` has no `{default_language}` template; add one: prospects whose "
                f"language has no template of their own get the `{default_language}` one",
            )
    return found


def _check_length(
    r: Reader,
    at: Node,
    purpose: str,
    lang: str,
    texts: Mapping[str, Mapping[str, str]] | None,
) -> None:
    text = (texts or {}).get(purpose, {}).get(lang)
    if text is None:
        return
    try:
        size = len(
            text.format_map(
                {"terms_url": "x" * 80, "version": "x" * 10, "language": lang, **_SAMPLE_VALUES}
            )
        )
    except (KeyError, ValueError):
        return  # the text's own problem, reported under protocol.texts
    if size > TEMPLATE_LIMIT:
        r.error(
            at,
            f"`protocol.texts.{purpose}.{lang}` is sent as this template and is about {size} "
            f"characters long with its values filled in; WhatsApp allows {TEMPLATE_LIMIT} "
            "in a template, so shorten it",
        )
