"""What a proposed flow version changes, in words compliance can read.

Texts (the protocol's texts and the bot's responses) are compared per key, each
changed language shown as the live and the proposed wording side by side; every other
setting (the threshold, timers, levels, variants, terms...) is listed as a plain
``name: live -> proposed`` line. Only what changed is listed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from bot.domain.flows import Flow, LevelRules, Variant, format_duration

__all__ = ["FlowDiff", "SettingChange", "TextChange", "WordingChange", "diff_flows"]


@dataclass(frozen=True)
class WordingChange:
    """One language of one text: None where that side has no wording."""

    language: str
    live: str | None
    proposed: str | None


@dataclass(frozen=True)
class TextChange:
    section: str  # "text" (a protocol text) or "response" (the bot's wording)
    key: str
    wordings: tuple[WordingChange, ...]


@dataclass(frozen=True)
class SettingChange:
    name: str
    live: str
    proposed: str


@dataclass(frozen=True)
class FlowDiff:
    texts: tuple[TextChange, ...]
    settings: tuple[SettingChange, ...]

    @property
    def empty(self) -> bool:
        return not self.texts and not self.settings

    def summary(self) -> str:
        """One line: ``2 texts (terms_summary, utter_greet); transition_at``."""
        parts = []
        if self.texts:
            keys = ", ".join(t.key for t in self.texts)
            parts.append(f"{len(self.texts)} text{'s' * (len(self.texts) != 1)} ({keys})")
        parts += [s.name for s in self.settings]
        return "; ".join(parts) or "no change"


def _text_changes(
    section: str,
    live: Mapping[str, Mapping[str, str]],
    proposed: Mapping[str, Mapping[str, str]],
    languages: tuple[str, ...],
) -> Iterator[TextChange]:
    for key in sorted(set(live) | set(proposed)):
        before, after = live.get(key, {}), proposed.get(key, {})
        langs = [lang for lang in languages if lang in before or lang in after]
        langs += sorted((set(before) | set(after)) - set(langs))
        changed = tuple(
            WordingChange(lang, before.get(lang), after.get(lang))
            for lang in langs
            if before.get(lang) != after.get(lang)
        )
        if changed:
            yield TextChange(section, key, changed)


def _rules(rules: LevelRules) -> str:
    parts = [
        f"{name} {', '.join(values)}"
        for name, values in (
            ("intents", rules.intents),
            ("entities", rules.entities),
            ("detectors", rules.detectors),
        )
        if values
    ]
    for lang, words in sorted(rules.keywords.items()):
        parts.append(f"keywords {lang}: {', '.join(words)}")
    for lang, patterns in sorted(rules.patterns.items()):
        parts.append(f"patterns {lang}: {', '.join(p.pattern for p in patterns)}")
    if rules.min_score is not None:
        parts.append(f"min_score {rules.min_score:g}")
    return "; ".join(parts) or "nothing"


def _variant(variant: Variant) -> str:
    parts = [f"weight {variant.weight:g}"] + (["stopped"] if variant.stopped else [])
    if variant.texts or variant.responses:
        parts.append("words " + ", ".join(sorted([*variant.texts, *variant.responses])))
    if variant.transition_at is not None:
        parts.append(f"transition_at {variant.transition_at.label}")
    parts += [f"{name} {format_duration(value)}" for name, value in sorted(variant.timers.items())]
    return ", ".join(parts)


def _settings(flow: Flow) -> dict[str, str]:
    """Every setting that is not a text, as the words the diff shows."""
    out = {
        "governance": flow.governance,
        "languages": ", ".join(flow.languages),
        "default_language": flow.default_language,
        "transition_at": flow.transition_at.label,
        "nlu.min_confidence": f"{flow.min_confidence:g}",
        "protocol.terms_version": flow.protocol.terms_version,
        "protocol.terms_url": flow.protocol.terms_url,
    }
    for name in ("transcripts", "media", "declined"):
        period = getattr(flow.retention, name)
        out[f"retention.{name}"] = "kept" if period is None else format_duration(period)
    for name in ("consent_reminder", "invite_reminder", "invite_expiry"):
        out[f"timers.{name}"] = format_duration(getattr(flow.timers, name))
    for meaning, words in (("yes", flow.protocol.consent_yes), ("no", flow.protocol.consent_no)):
        for lang, listed in sorted(words.items()):
            out[f"protocol.consent_words.{meaning}.{lang}"] = ", ".join(listed)
    for level, rules in sorted(flow.rules.items(), key=lambda item: item[0].label):
        out[f"levels.{level.label}"] = _rules(rules)
    for kind, level in sorted(flow.media_levels.items()):
        out[f"media.{kind}"] = level.label
    for purpose, sids in sorted(flow.templates.items()):
        out[f"templates.{purpose}"] = ", ".join(f"{k} {v}" for k, v in sorted(sids.items()))
    if flow.variants:
        out["base_weight"] = (
            "the variants' mean" if flow.base_weight is None else f"{flow.base_weight:g}"
        )
    for variant in flow.variants:
        out[f"variants.{variant.name}"] = _variant(variant)
    return out


def diff_flows(live: Flow | None, proposed: Flow) -> FlowDiff:
    """What ``proposed`` changes against ``live`` (None: there is no live version, so
    everything the proposal says is new)."""
    languages = proposed.languages
    before_texts = live.protocol.texts if live else {}
    before_responses = live.responses if live else {}
    texts = (
        *_text_changes("text", before_texts, proposed.protocol.texts, languages),
        *_text_changes("response", before_responses, proposed.responses, languages),
    )
    before, after = (_settings(live) if live else {}), _settings(proposed)
    settings = tuple(
        SettingChange(name, before.get(name, "(not set)"), after.get(name, "(not set)"))
        for name in [*after, *(n for n in before if n not in after)]
        if before.get(name) != after.get(name)
    )
    return FlowDiff(texts, settings)
