"""A validated flow: what marketing tunes in ``flows/*.yml``, as immutable values.

The flow decides which rules raise a message to which level, where the transition to the
secure channel starts, the protocol's wording and timers, and the wording of every Rasa
``utter_*`` response. Reading and checking the YAML file is the adapter's job
(``bot.adapters.flow_files``); this module holds the result and the pure rules the
checks share (placeholders, durations, text folding).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.domain.evidence import Evidence
from bot.domain.levels import Level
from bot.domain.message_templates import TemplateMessage, template_variables
from bot.domain.retention import KEEP_ALL, Retention

if TYPE_CHECKING:
    from bot.domain.qualification import Qualification

__all__ = [
    "BODY_LIMIT",
    "BUTTON_LIMIT",
    "CONSENT_PROMPT_LIMIT",
    "MEDIA_KINDS",
    "REQUIRED_LANGUAGES",
    "TEXT_RULES",
    "TIMER_NAMES",
    "Flow",
    "LevelRules",
    "Protocol",
    "TextRule",
    "Timers",
    "Variant",
    "fold",
    "format_duration",
    "normalise_answer",
    "parse_duration",
    "placeholders",
]

REQUIRED_LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es")
MEDIA_KINDS: tuple[str, ...] = ("image", "document", "audio", "video", "location", "contact")

# WhatsApp limits: a quick-reply message body (terms summary + consent question, sent
# together), a button title, and any other message body.
CONSENT_PROMPT_LIMIT = 1024
BUTTON_LIMIT = 20
BODY_LIMIT = 1600

# Filled by the flow itself, so any protocol text may use them.
_FLOW_VALUES = frozenset({"terms_url", "version", "language"})


@dataclass(frozen=True)
class TextRule:
    """Which placeholders a protocol text must and may contain, and its length limit."""

    required: frozenset[str] = frozenset()
    optional: frozenset[str] = _FLOW_VALUES
    limit: int = BODY_LIMIT

    @property
    def allowed(self) -> frozenset[str]:
        return self.required | self.optional


# {link} and {expires} are given by the caller, which has them only for the invite texts.
_INVITE = TextRule(frozenset({"link"}), _FLOW_VALUES | {"expires"})
TEXT_RULES: Mapping[str, TextRule] = {
    "terms_summary": TextRule(required=frozenset({"terms_url"}), limit=CONSENT_PROMPT_LIMIT),
    "consent_question": TextRule(limit=CONSENT_PROMPT_LIMIT),
    "consent_yes_button": TextRule(limit=BUTTON_LIMIT),
    "consent_no_button": TextRule(limit=BUTTON_LIMIT),
    "consent_unclear": TextRule(),
    "consent_reminder": TextRule(),
    "invite": _INVITE,
    "invite_reminder": _INVITE,
    "invite_expired": TextRule(),
    "redirect_notice": TextRule(),
    # The built-in secure chat: the redirect notice once handed off, and the notice of
    # an advisor's message; {link} is a fresh link back into the chat.
    "redirect_notice_secure": TextRule(frozenset({"link"})),
    "secure_message_notice": TextRule(frozenset({"link"})),
    "declined": TextRule(),
    "opted_out": TextRule(),
    "opted_in": TextRule(),
    "handoff_requested": TextRule(),
    "media_received": TextRule(),
    "holding": TextRule(),
    # Sent only as a template, when an advisor may no longer write freely; {advisor} is
    # the advisor's name.
    "advisor_follow_up": TextRule(optional=_FLOW_VALUES | {"advisor"}),
}


def placeholders(text: str) -> set[str]:
    """The ``{name}`` placeholders of a text; ValueError in plain words if one is malformed."""
    names: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:
        raise ValueError(
            "a curly bracket is not closed or not opened; write {{ or }} for a bracket "
            "that should appear in the message"
        ) from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(
                f"{{{name}}} is not a placeholder; placeholders are plain names such as {{link}}"
            )
        names.add(name)
    return names


_DURATION = re.compile(r"(\d+)\s*([dhms])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``10m``, ``1h``, ``2h30m``, ``1d`` as a timedelta; ValueError in plain words."""
    compact = text.strip().lower()
    hint = "write a number followed by d, h, m or s, for example 90s, 10m, 1h, 2h30m or 1d"
    if compact.isdigit():
        raise ValueError(f"{text!r} has no unit: {hint}")
    parts = _DURATION.findall(compact)
    units = [unit for _, unit in parts]
    if not parts or _DURATION.sub("", compact).strip() or units != sorted(units, key="dhms".find):
        raise ValueError(f"{text!r} is not a duration: {hint}")
    if len(set(units)) != len(units):
        raise ValueError(f"{text!r} gives the same unit twice: {hint}")
    duration = timedelta(**{_UNITS[unit]: int(n) for n, unit in parts})
    if not duration:
        raise ValueError(f"{text!r} is zero: a timer must be longer, for example 90s or 10m")
    return duration


def format_duration(duration: timedelta) -> str:
    """The inverse of parse_duration, for messages: ``timedelta(minutes=150)`` -> ``2h30m``."""
    seconds = int(duration.total_seconds())
    out = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        out += f"{count}{unit}" if count else ""
    return out or "0s"


_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})


def fold(text: str) -> tuple[str, list[int]]:
    """``text`` case-folded and without accents, and where each folded character came from.

    Prospects type "deberia" and "debería", "ACHETE" and "achète" alike; the index map lets
    a match on the folded text name its span in the original one.
    """
    folded: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text.translate(_APOSTROPHES)):
        for part in unicodedata.normalize("NFD", char.casefold()):
            if not unicodedata.combining(part):
                folded.append(part)
                origin.append(index)
    return "".join(folded), origin


# Skin tones and the emoji variation selector: "👍🏽" and "👍️" are answered as "👍".
_EMOJI_MODIFIERS = re.compile("[\ufe0f\U0001f3fb-\U0001f3ff]")


def normalise_answer(text: str) -> str:
    """A short answer reduced to its words: ``"Vale."``, ``" d’accord 👍"`` -> ``"vale"``,
    ``"d'accord"``. An answer that is only emoji is kept as those emoji."""
    folded, _ = fold(text)
    kept = "".join(c if c.isalnum() or c == "'" else " " for c in folded)
    words = " ".join(word.strip("'") for word in kept.split())
    return words.strip() or "".join(_EMOJI_MODIFIERS.sub("", text).split())


def _keyword_regex(phrase: str) -> re.Pattern[str]:
    words = fold(phrase)[0].split()
    return re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, words)) + r"(?!\w)")


@dataclass(frozen=True)
class LevelRules:
    """What raises a message to ``level``: Rasa intents and entities, named detectors,
    per-language keywords (whole words, ignoring case and accents) and regular expressions
    (matched as written, ignoring case), and the sensitivity model's score at or above
    ``min_score`` (None: the model does not count for this level)."""

    level: Level
    intents: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    detectors: tuple[str, ...] = ()
    keywords: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    patterns: Mapping[str, tuple[re.Pattern[str], ...]] = field(default_factory=dict)
    min_score: float | None = None
    _keyword_regexes: Mapping[str, tuple[tuple[str, re.Pattern[str]], ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        compiled = {
            language: tuple((phrase, _keyword_regex(phrase)) for phrase in phrases)
            for language, phrases in self.keywords.items()
        }
        object.__setattr__(self, "_keyword_regexes", compiled)

    def match(self, text: str, language: str | None) -> list[Evidence]:
        """Keyword and pattern evidence in ``text``, one per occurrence.

        With a language the flow has lists for, only that language's lists are used;
        with None (or another language) every language's lists are.
        """
        known = set(self.keywords) | set(self.patterns)
        languages = [language] if language in known else sorted(known)
        found: list[Evidence] = []
        folded, origin = fold(text)
        for lang in languages:
            for phrase, regex in self._keyword_regexes.get(lang, ()):
                for m in regex.finditer(folded):
                    span = origin[m.start()], origin[m.end() - 1] + 1
                    found.append(Evidence("keyword", phrase, self.level, *span))
            for number, pattern in enumerate(self.patterns.get(lang, ()), start=1):
                for m in pattern.finditer(text):
                    if m.end() > m.start():  # an empty match says nothing about the message
                        name = f"pattern:{lang}:{number}"
                        found.append(Evidence("pattern", name, self.level, m.start(), m.end()))
        return found


@dataclass(frozen=True)
class Protocol:
    """The transition protocol's terms, consent words and texts (not ``typing.Protocol``)."""

    terms_version: str
    terms_url: str  # with {version} and maybe {language}
    consent_yes: Mapping[str, tuple[str, ...]]  # language -> answers meaning yes
    consent_no: Mapping[str, tuple[str, ...]]
    texts: Mapping[str, Mapping[str, str]]  # text key -> language -> wording


@dataclass(frozen=True)
class Timers:
    consent_reminder: timedelta
    invite_reminder: timedelta
    invite_expiry: timedelta


# The settings under `timers:` (and a variant's), one per field of ``Timers``.
TIMER_NAMES = ("consent_reminder", "invite_reminder", "invite_expiry")


@dataclass(frozen=True)
class Variant:
    """An A/B variant of a flow (``variants:``): its share of new conversations and what
    it words or times differently; anything it does not name is the base flow's. A
    stopped variant gets no new conversation, and its conversations go on with the base
    flow (``bot.domain.flow_variants``)."""

    name: str
    weight: float
    stopped: bool = False
    texts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    responses: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    transition_at: Level | None = None
    timers: Mapping[str, timedelta] = field(default_factory=dict)  # Timers field -> value


@dataclass(frozen=True)
class Flow:
    name: str
    languages: tuple[str, ...]
    default_language: str
    transition_at: Level
    min_confidence: float
    rules: Mapping[Level, LevelRules]
    media_levels: Mapping[str, Level]  # media kind or "default" -> level
    protocol: Protocol
    timers: Timers
    responses: Mapping[str, Mapping[str, str]]  # utter_* -> language -> wording
    source: str
    digest: str
    # How long its records are kept (bot.domain.retention); nothing said: for good.
    retention: Retention = KEEP_ALL
    # Approved WhatsApp templates: purpose -> language -> Content SID (see message_templates).
    templates: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # The questions that qualify a prospect (bot.domain.qualification); None: none asked.
    qualification: Qualification | None = None
    # Whether a changed file waits for compliance's approval ("required") or goes live
    # at once ("none"); the live version's setting decides, never the proposed one's.
    governance: str = "required"
    # A/B variants, and the base flow's own weight among them (None: the mean of theirs).
    variants: tuple[Variant, ...] = ()
    base_weight: float | None = None
    # The flow version (flow_versions.id) this flow was loaded from (None: read from a
    # file), and the variant applied to it (None: the base flow).
    version_id: int | None = None
    variant: str | None = None
    _answers: Mapping[str, bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        answers: dict[str, bool] = {}
        for meaning, words, button in (
            (True, self.protocol.consent_yes, "consent_yes_button"),
            (False, self.protocol.consent_no, "consent_no_button"),
        ):
            buttons = self.protocol.texts.get(button, {}).values()
            for word in [*buttons, *(w for ws in words.values() for w in ws)]:
                answers.setdefault(normalise_answer(word), meaning)
        object.__setattr__(self, "_answers", answers)

    def _language(self, language: str | None) -> str:
        return language if language in self.languages else self.default_language

    def text(self, key: str, language: str | None, **values: str) -> str:
        """Protocol text ``key`` in ``language`` (else the default one), placeholders filled.

        ``terms_url``, ``version`` and ``language`` are filled from the flow; the invite
        texts need ``link`` and ``expires`` from the caller.
        """
        lang = self._language(language)
        template = self.protocol.texts[key][lang]
        filled = {"terms_url": self.terms_url(lang), "version": self.protocol.terms_version}
        try:
            return template.format_map({**filled, "language": lang, **values})
        except KeyError as exc:
            raise KeyError(f"text {key!r} needs a value for {exc.args[0]!r}") from None

    def template(self, purpose: str, language: str | None, **values: str) -> TemplateMessage | None:
        """The approved template for ``purpose`` in ``language`` (else in the default
        language), its variables taken from ``values`` and the flow; None when the flow
        names no template for it."""
        sids = self.templates.get(purpose, {})
        lang = self._language(language)
        lang = lang if lang in sids else self.default_language
        if lang not in sids:
            return None
        body = self.text(purpose, lang, **values)
        filled = {"terms_url": self.terms_url(lang), "version": self.protocol.terms_version}
        filled.update(language=lang, **values)
        names = template_variables(self.protocol.texts[purpose][lang])
        variables = {str(n): filled[name] for n, name in enumerate(names, start=1)}
        return TemplateMessage(purpose, sids[lang], lang, variables, body)

    def consent_prompt(self, language: str | None) -> str:
        """The terms summary and consent question as the one message that carries the buttons."""
        return (
            self.text("terms_summary", language) + "\n\n" + self.text("consent_question", language)
        )

    def response(self, name: str, language: str | None) -> str | None:
        """The wording of Rasa response ``name`` in ``language`` (else the default one)."""
        wordings = self.responses.get(name)
        return None if wordings is None else wordings[self._language(language)]

    def terms_url(self, language: str | None) -> str:
        lang = self._language(language)
        return self.protocol.terms_url.format(version=self.protocol.terms_version, language=lang)

    def detector_assignment(self) -> dict[str, Level]:
        return {name: level for level, rules in self.rules.items() for name in rules.detectors}

    def intent_levels(self) -> dict[str, Level]:
        return {name: level for level, rules in self.rules.items() for name in rules.intents}

    def min_scores(self) -> dict[Level, float]:
        """The sensitivity model's minimum score per level, for the levels that use it."""
        return {
            level: rules.min_score
            for level, rules in self.rules.items()
            if rules.min_score is not None
        }

    def entity_levels(self) -> dict[str, Level]:
        return {name: level for level, rules in self.rules.items() for name in rules.entities}

    def media_level(self, kind: str) -> Level:
        return self.media_levels.get(kind, self.media_levels.get("default", Level.IDENTITY))

    def consent_answer(self, text: str, language: str | None = None) -> bool | None:
        """True for yes, False for no, None when unclear.

        The whole message must be one of the answers (or a button title) of ANY of the
        flow's languages, ignoring case, accents, punctuation and emoji around the words:
        a prospect may answer in another language than the one detected so far. The
        validation refuses a word that means yes in one list and no in another, so the
        conversation's language is not needed to decide.
        """
        return self._answers.get(normalise_answer(text))
