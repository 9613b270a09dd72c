"""The validated flow as marketing's rules: consent answers, keyword and pattern evidence,
texts with placeholders and language fallback, durations."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.domain.flows import (
    Flow,
    LevelRules,
    Protocol,
    Timers,
    format_duration,
    normalise_answer,
    parse_duration,
    placeholders,
)
from bot.domain.levels import Level

LANGS = ("en", "de", "fr", "es")


def make_flow(rules: dict[Level, LevelRules] | None = None) -> Flow:
    texts = {
        "terms_summary": {
            "en": "Terms {version}: {terms_url}",
            "de": "Bedingungen {version}: {terms_url}",
        },
        "consent_question": {"en": "Agree?", "de": "Einverstanden?"},
        "consent_yes_button": {"en": "Yes, I agree", "de": "Ja, gerne", "fr": "Oui", "es": "Sí"},
        "consent_no_button": {"en": "No, thanks", "de": "Nein", "fr": "Non", "es": "No"},
        "invite": {"en": "Your link: {link} (until {expires})", "de": "Ihr Link: {link}"},
    }
    protocol = Protocol(
        terms_version="2026-11",
        terms_url="https://www.examplebank.example/terms/{version}/{language}",
        consent_yes={
            "en": ("yes", "ok", "i agree"),
            "de": ("ja", "einverstanden"),
            "fr": ("oui", "d'accord", "j'accepte"),
            "es": ("sí", "vale", "de acuerdo"),
        },
        consent_no={
            "en": ("no", "not now"),
            "de": ("nein", "nicht jetzt"),
            "fr": ("non", "pas maintenant"),
            "es": ("no", "ahora no"),
        },
        texts=texts,
    )
    return Flow(
        name="test",
        languages=LANGS,
        default_language="en",
        transition_at=Level.IDENTITY,
        min_confidence=0.6,
        rules=rules or {},
        media_levels={"default": Level.IDENTITY, "location": Level.PUBLIC},
        protocol=protocol,
        timers=Timers(timedelta(minutes=10), timedelta(hours=1), timedelta(days=1)),
        responses={"utter_greet": {"en": "Hi!", "de": "Hallo!", "fr": "Bonjour !", "es": "¡Hola!"}},
        source="flows/test.yml",
        digest="0" * 64,
    )


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("yes", True),
        ("OK!", True),
        ("  I agree. ", True),
        ("Yes, I agree", True),  # the button title comes back as the message text
        ("no", False),
        ("Not now...", False),
        ("ja", True),
        ("Einverstanden!", True),
        ("NEIN.", False),
        ("Nicht jetzt", False),
        ("oui", True),
        ("d’accord 👍", True),
        ("D'ACCORD", True),
        ("non !", False),
        ("Pas maintenant", False),
        ("Vale.", True),
        ("si", True),
        ("¡Sí!", True),
        ("de acuerdo", True),
        ("Ahora no", False),
        ("maybe", None),
        ("yes but first tell me the fees", None),
        ("🤔", None),
        ("", None),
    ],
)
def test_consent_answer_in_every_language(answer: str, expected: bool | None) -> None:
    """Plain-text answers are understood in all four languages, whatever the case,
    accents, punctuation or emoji around them; anything else is unclear."""
    assert make_flow().consent_answer(answer, "en") is expected


def test_consent_answer_accepts_another_language_than_the_conversation() -> None:
    """A prospect detected as English who answers "einverstanden" has agreed."""
    flow = make_flow()
    assert flow.consent_answer("einverstanden", "en") is True
    assert flow.consent_answer("non", None) is False


def test_normalise_answer_keeps_emoji_only_answers() -> None:
    """An emoji-only answer is kept (without skin tone), so a flow can list "👍"."""
    assert normalise_answer(" Vale. ") == "vale"
    assert normalise_answer("👍🏽") == "👍"


IDENTITY = LevelRules(
    Level.IDENTITY,
    intents=("share_identity",),
    detectors=("passport_number",),
    keywords={"en": ("my date of birth",), "es": ("mi fecha de nacimiento",)},
    patterns={"en": (re.compile(r"\bmy (?:home )?address is\b", re.IGNORECASE),)},
)


def test_keyword_evidence_names_the_keyword_and_its_span() -> None:
    """A keyword matches whole words, ignoring case and accents, and the evidence points
    at the span in the original text."""
    text = "Ok: MI FECHA DE NACIMÍENTO es el 1/2/1990"
    [evidence] = IDENTITY.match(text, "es")
    assert (evidence.source, evidence.name, evidence.level) == (
        "keyword",
        "mi fecha de nacimiento",
        Level.IDENTITY,
    )
    assert text[evidence.start : evidence.end] == "MI FECHA DE NACIMÍENTO"


def test_keyword_needs_whole_words() -> None:
    """ "my date of birthday party" is not "my date of birth"."""
    assert IDENTITY.match("my date of birthday party", "en") == []


def test_pattern_evidence_is_numbered_per_language() -> None:
    """A pattern's evidence says which pattern fired and where."""
    text = "Hello, my Home Address is 1 Example Street"
    [evidence] = IDENTITY.match(text, "en")
    assert evidence.source == "pattern"
    assert evidence.name == "pattern:en:1"
    assert text[evidence.start : evidence.end] == "my Home Address is"


def test_match_uses_the_conversation_language_or_all() -> None:
    """With a known language only its lists count; without one, every language's do."""
    assert IDENTITY.match("mi fecha de nacimiento", "en") == []
    assert [e.name for e in IDENTITY.match("mi fecha de nacimiento", None)] == [
        "mi fecha de nacimiento"
    ]


def test_empty_pattern_matches_are_ignored() -> None:
    """A pattern that can match nothing does not turn every message into evidence."""
    rules = LevelRules(Level.ORDER, patterns={"en": (re.compile(r"(?=sell)"),)})
    assert rules.match("sell everything", "en") == []


def test_text_fills_flow_values_and_falls_back_to_the_default_language() -> None:
    """A text names the versioned terms link; a language without a flow falls back to English."""
    flow = make_flow()
    assert flow.text("terms_summary", "de") == (
        "Bedingungen 2026-11: https://www.examplebank.example/terms/2026-11/de"
    )
    assert flow.text("terms_summary", "it") == (
        "Terms 2026-11: https://www.examplebank.example/terms/2026-11/en"
    )
    assert flow.text("invite", "en", link="https://x.example/i/1", expires="tomorrow") == (
        "Your link: https://x.example/i/1 (until tomorrow)"
    )


def test_text_without_a_needed_value_says_which() -> None:
    """Forgetting the invite link is a clear error, not a message with "{link}" in it."""
    with pytest.raises(KeyError, match="link"):
        make_flow().text("invite", "en")


def test_consent_prompt_joins_summary_and_question() -> None:
    """The terms summary and the question go out as one message."""
    assert make_flow().consent_prompt("en") == (
        "Terms 2026-11: https://www.examplebank.example/terms/2026-11/en\n\nAgree?"
    )


def test_response_wording_per_language() -> None:
    """A Rasa response comes in the conversation's language; an unknown one is None."""
    flow = make_flow()
    assert flow.response("utter_greet", "fr") == "Bonjour !"
    assert flow.response("utter_greet", None) == "Hi!"
    assert flow.response("utter_nothing", "en") is None


def test_levels_of_detectors_intents_and_media() -> None:
    """The flow says which level each detector, intent and attachment kind gives."""
    flow = make_flow({Level.IDENTITY: IDENTITY})
    assert flow.detector_assignment() == {"passport_number": Level.IDENTITY}
    assert flow.intent_levels() == {"share_identity": Level.IDENTITY}
    assert flow.entity_levels() == {}
    assert flow.media_level("image") == Level.IDENTITY
    assert flow.media_level("location") == Level.PUBLIC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("10m", timedelta(minutes=10)),
        ("1h", timedelta(hours=1)),
        ("2h30m", timedelta(hours=2, minutes=30)),
        ("2h 30m", timedelta(hours=2, minutes=30)),
        ("1d", timedelta(days=1)),
        ("24H", timedelta(hours=24)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    """Timers are written as 90s, 10m, 1h, 2h30m or 1d."""
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("10", "has no unit"),
        ("10 minutes", "is not a duration"),
        ("30m2h", "is not a duration"),
        ("1h1h", "same unit twice"),
        ("0m", "is zero"),
        ("", "is not a duration"),
    ],
)
def test_parse_duration_explains_mistakes(text: str, reason: str) -> None:
    """A malformed duration is refused with a reason and an example."""
    with pytest.raises(ValueError, match=reason) as info:
        parse_duration(text)
    assert "for example 90s" in str(info.value)


def test_placeholders_are_plain_names() -> None:
    """{link} is a placeholder; {0}, {} and an unclosed bracket are refused."""
    assert placeholders("Go to {link} before {expires}, {{literally}}") == {"link", "expires"}
    for bad in ("{0}", "{}", "{link", "{link.host}", "{link!r}"):
        with pytest.raises(ValueError):
            placeholders(bad)
