"""Flow files as marketing edits them: the shipped flow is valid, every mistake is reported
with its file, line and what to change, and the service picks up edits live."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import pytest

from bot.adapters.flow_files import (
    DEFAULT_DOMAIN_PATH,
    DEFAULT_FLOW_PATH,
    FlowError,
    FlowFileError,
    FlowStore,
    domain_responses,
    load_flow,
    validate_file,
    validate_files,
)
from bot.domain.flows import TEXT_RULES
from bot.domain.levels import Level

LANGS = ("en", "de", "fr", "es")


def minimal_flow() -> str:
    """A small valid flow; tests break one line of it."""
    texts = []
    for key, rule in TEXT_RULES.items():
        texts.append(f"    {key}:")
        for lang in LANGS:
            wording = " ".join([key, lang, *(f"{{{name}}}" for name in sorted(rule.required))])
            if key.endswith("_button"):
                wording = f"{key.split('_')[1]} {lang}"  # "yes en": within the 20 characters
            texts.append(f'      {lang}: "{wording}"')
    return "\n".join(
        [
            "flow: small",
            "languages: [en, de, fr, es]",
            "default_language: en",
            "transition_at: identity",
            "nlu:",
            "  min_confidence: 0.7",
            "levels:",
            "  identity:",
            "    intents: [share_identity]",
            "    detectors: [passport_number, date_of_birth]",
            "    keywords:",
            '      en: ["my date of birth"]',
            "    patterns:",
            "      en: ['\\bmy address is\\b']",
            "  order:",
            "    detectors: [trade_instruction]",
            "media:",
            "  location: public",
            "protocol:",
            '  terms_version: "2026-11"',
            '  terms_url: "https://www.examplebank.example/terms/{version}/{language}"',
            "  consent_words:",
            "    yes: {en: [yes, ok], de: [ja], fr: [oui], es: [sí, vale]}",
            "    no: {en: [no], de: [nein], fr: [non], es: [no]}",
            "  texts:",
            *texts,
            "timers:",
            "  consent_reminder: 10m",
            "  invite_reminder: 1h",
            "  invite_expiry: 24h",
            "responses:",
            "  utter_greet:",
            '    en: "Hi!"',
            '    de: "Hallo!"',
            '    fr: "Bonjour !"',
            '    es: "¡Hola!"',
            "",
        ]
    )


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first line containing ``needle``."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.fixture
def domain(tmp_path: Path) -> Path:
    path = tmp_path / "domain.yml"
    path.write_text('responses:\n  utter_greet:\n    - text: "Hi"\n', encoding="utf-8")
    return path


def write(tmp_path: Path, text: str, name: str = "flow.yml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def only_error(path: Path, domain: Path | None = None) -> FlowError:
    errors = [e for e in validate_file(path, domain) if e.severity == "error"]
    assert len(errors) == 1, "\n".join(map(str, errors))
    return errors[0]


def test_shipped_default_flow_is_valid_against_the_rasa_domain() -> None:
    """flows/default.yml loads without errors or warnings and words every Rasa response."""
    assert validate_file(DEFAULT_FLOW_PATH, DEFAULT_DOMAIN_PATH) == []
    flow = load_flow(DEFAULT_FLOW_PATH, DEFAULT_DOMAIN_PATH)
    assert flow.transition_at == Level.IDENTITY
    assert flow.languages == LANGS
    # The qualification questions are worded in their own section.
    assert flow.qualification is not None
    worded = set(flow.responses) | flow.qualification.response_names()
    assert domain_responses(DEFAULT_DOMAIN_PATH) <= worded
    for wordings in flow.responses.values():
        assert set(wordings) == set(LANGS)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Yes", True),
        ("ok!", True),
        ("Einverstanden.", True),
        ("Ja, einverstanden", True),
        ("d'accord 👍", True),
        ("Vale.", True),
        ("sí", True),
        ("No, thanks", False),
        ("nein", False),
        ("Non merci", False),
        ("ahora no", False),
        ("what are the fees?", None),
    ],
)
def test_shipped_flow_understands_consent_answers(answer: str, expected: bool | None) -> None:
    """The default flow's consent words and buttons are understood in all four languages."""
    assert load_flow(DEFAULT_FLOW_PATH).consent_answer(answer, None) is expected


@pytest.mark.parametrize(
    ("message", "level"),
    [
        ("Please buy 10 shares of Example Corp", Level.ORDER),
        ("I'd like to sell my fund units", Level.ORDER),
        ("Verkaufe alle meine Aktien", Level.ORDER),
        ("Quiero transferir 500 euros", Level.ORDER),
        ("Soll ich in Anleihen investieren?", Level.ADVICE),
        ("Ma date de naissance est le 3 mai", Level.IDENTITY),
        ("Mi fecha de nacimiento es el 1 de enero", Level.IDENTITY),
    ],
)
def test_shipped_flow_keywords_and_patterns(message: str, level: Level) -> None:
    """The default flow's word lists recognise disclosures, advice requests and orders."""
    flow = load_flow(DEFAULT_FLOW_PATH)
    found = [e for rules in flow.rules.values() for e in rules.match(message, None)]
    assert max(e.level for e in found) == level


@pytest.mark.parametrize(
    "message",
    ["How do I buy shares?", "Can I sell a fund online?", "¿Cómo compro acciones?", "Hello!"],
)
def test_shipped_flow_leaves_public_questions_alone(message: str) -> None:
    """Questions about how buying works are public, not orders."""
    flow = load_flow(DEFAULT_FLOW_PATH)
    assert [e for rules in flow.rules.values() for e in rules.match(message, None)] == []


def test_minimal_flow_loads(tmp_path: Path, domain: Path) -> None:
    """The test's small flow is valid, so each test below fails for its own reason only."""
    flow = load_flow(write(tmp_path, minimal_flow()), domain)
    assert flow.min_confidence == 0.7
    assert flow.media_level("location") == Level.PUBLIC
    assert flow.media_level("image") == Level.IDENTITY
    assert flow.consent_answer("yes", "en") is True  # unquoted yes stays a word, not a boolean
    assert flow.protocol.terms_version == "2026-11"
    assert len(flow.digest) == 64


def test_error_reads_file_line_message(tmp_path: Path) -> None:
    """Each error prints as file:line: message, the way editors and CI understand it."""
    assert str(FlowError("flows/a.yml", 3, "wrong")) == "flows/a.yml:3: wrong"
    assert str(FlowError("flows/a.yml", None, "wrong")) == "flows/a.yml: wrong"
    assert str(FlowError("f.yml", 1, "odd", "warning")) == "f.yml:1: warning: odd"


def test_unknown_level(tmp_path: Path) -> None:
    """A misspelt level is named, with the line and the closest level."""
    text = minimal_flow().replace("  order:\n", "  oder:\n")
    error = only_error(write(tmp_path, text))
    assert error.line == line_of(text, "  oder:")
    assert "unknown level 'oder'" in error.message
    assert "did you mean `order`" in error.message


def test_transition_at_public_is_refused(tmp_path: Path) -> None:
    """A threshold of public would move every conversation; the file says so."""
    text = minimal_flow().replace("transition_at: identity", "transition_at: public")
    error = only_error(write(tmp_path, text))
    assert error.line == line_of(text, "transition_at")
    assert "every conversation" in error.message


def test_required_language_missing(tmp_path: Path) -> None:
    """All of en, de, fr and es are required."""
    text = minimal_flow().replace("languages: [en, de, fr, es]", "languages: [en, de, fr]")
    errors = validate_file(write(tmp_path, text))
    assert errors[0].line == line_of(text, "languages:")
    assert "must include es" in errors[0].message


def test_text_missing_in_a_language(tmp_path: Path) -> None:
    """A protocol text without its German wording is reported at that text."""
    text = minimal_flow().replace('      de: "invite_reminder de {link}"\n', "")
    error = only_error(write(tmp_path, text))
    assert error.line == line_of(text, "invite_reminder:")
    assert "`protocol.texts.invite_reminder` has no `de` wording" in error.message


def test_response_missing_in_a_language(tmp_path: Path) -> None:
    """A response wording without its Spanish text is reported."""
    text = minimal_flow().replace('    es: "¡Hola!"\n', "")
    error = only_error(write(tmp_path, text))
    assert "`responses.utter_greet` has no `es` wording" in error.message


def test_domain_response_without_wording(tmp_path: Path, domain: Path) -> None:
    """A response the Rasa domain uses but the flow does not word is an error."""
    domain.write_text("responses:\n  utter_greet: []\n  utter_fees: []\n", encoding="utf-8")
    text = minimal_flow()
    error = only_error(write(tmp_path, text), domain)
    assert error.line == line_of(text, "responses:")
    assert "no wording for `utter_fees`" in error.message


def test_wording_for_a_response_the_domain_lacks_is_a_warning(tmp_path: Path, domain: Path) -> None:
    """An extra wording (often a typo) is a warning; the flow still loads."""
    text = minimal_flow() + '  utter_gret:\n    en: "a"\n    de: "b"\n    fr: "c"\n    es: "d"\n'
    path = write(tmp_path, text)
    [warning] = validate_file(path, domain)
    assert warning.severity == "warning"
    assert warning.line == line_of(text, "utter_gret:")
    assert "did you mean `utter_greet`" in warning.message
    assert load_flow(path, domain).name == "small"


def test_unreadable_domain_is_reported(tmp_path: Path) -> None:
    """A missing domain file is named instead of silently skipping the check."""
    [error] = validate_file(write(tmp_path, minimal_flow()), tmp_path / "missing.yml")
    assert error.file.endswith("missing.yml")
    assert "cannot read the Rasa domain" in error.message


@pytest.mark.parametrize(
    ("written", "reason"),
    [("10 minutes", "is not a duration"), ("10", "has no unit"), ("0s", "is zero")],
)
def test_malformed_duration(tmp_path: Path, written: str, reason: str) -> None:
    """A timer that is not a duration names the timer, the line and the format."""
    text = minimal_flow().replace("consent_reminder: 10m", f"consent_reminder: {written}")
    error = only_error(write(tmp_path, text))
    assert error.line == line_of(text, f"consent_reminder: {written}")
    assert "`timers.consent_reminder`" in error.message
    assert reason in error.message


def test_invite_reminder_after_expiry(tmp_path: Path) -> None:
    """A reminder that would come after the link expired is refused."""
    text = minimal_flow().replace("invite_reminder: 1h", "invite_reminder: 2d")
    error = only_error(write(tmp_path, text))
    assert error.line == line_of(text, "invite_reminder: 2d")
    assert "must be shorter than `timers.invite_expiry` (1d)" in error.message


def test_unknown_detector(tmp_path: Path) -> None:
    """A misspelt detector is named with the closest known one."""
    text = minimal_flow().replace("passport_number,", "pasport_number,")
    error = only_error(write(tmp_path, text))
    assert error.line == line_of(text, "pasport_number")
    assert "`pasport_number` is not a detector; did you mean `passport_number`?" in error.message


def test_detector_under_two_levels(tmp_path: Path) -> None:
    """A detector belongs to one level only."""
    text = minimal_flow().replace("[trade_instruction]", "[trade_instruction, date_of_birth]")
    error = only_error(write(tmp_path, text))
    assert "already listed under `identity`" in error.message


def test_bad_regular_expression(tmp_path: Path) -> None:
    """A pattern that does not compile is reported with the reason."""
    text = minimal_flow().replace("['\\bmy address is\\b']", "['my (address is']")
    error = only_error(write(tmp_path, text))
    assert error.line == line_of(text, "my (address")
    assert "is not a valid regular expression (missing )" in error.message


def test_pattern_matching_the_empty_message(tmp_path: Path) -> None:
    """A pattern that would fire on every message is refused."""
    text = minimal_flow().replace("['\\bmy address is\\b']", "['(?:my address is)?']")
    error = only_error(write(tmp_path, text))
    assert "matches an empty message" in error.message


def test_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    """A typo in a setting name is named with the setting it probably is."""
    text = minimal_flow().replace("transition_at:", "transtion_at:")
    errors = validate_file(write(tmp_path, text))
    typo = next(e for e in errors if "transtion_at" in e.message)
    assert typo.line == line_of(text, "transtion_at")
    assert "did you mean `transition_at`?" in typo.message
    assert any("missing `transition_at`" in e.message for e in errors)


@pytest.mark.parametrize(
    ("old", "new", "needle", "reason"),
    [
        ("languages: [en, de, fr, es]", "languages: en", "languages:", "should be a list"),
        ("min_confidence: 0.7", 'min_confidence: "0.7"', "min_confidence", "without quotes"),
        ("min_confidence: 0.7", "min_confidence: 7", "min_confidence", "at most 1"),
        ("flow: small", "flow: [small]", "flow:", "should be a single text"),
        ("  location: public", "  location: secret", "location:", "unknown level"),
        (
            "    intents: [share_identity]",
            "    min_score: 1\n    intents: [share_identity]",
            "min_score",
            "between 0 and 1",
        ),
        (
            "    intents: [share_identity]",
            "    min_score: 0\n    intents: [share_identity]",
            "min_score",
            "between 0 and 1",
        ),
        (
            "    intents: [share_identity]",
            "    min_score: high\n    intents: [share_identity]",
            "min_score",
            "without quotes",
        ),
    ],
)
def test_wrong_types(tmp_path: Path, old: str, new: str, needle: str, reason: str) -> None:
    """A value of the wrong kind is reported at its line, in plain words."""
    text = minimal_flow().replace(old, new)
    errors = [e for e in validate_file(write(tmp_path, text)) if reason in e.message]
    assert [e.line for e in errors][:1] == [line_of(text, needle)]


def test_a_levels_min_score_is_the_models_minimum_for_it(tmp_path: Path, domain: Path) -> None:
    """min_score under a level sets the model's minimum; levels without one leave it out."""
    text = minimal_flow().replace(
        "    intents: [share_identity]", "    min_score: 0.45\n    intents: [share_identity]"
    )
    flow = load_flow(write(tmp_path, text), domain)
    assert flow.min_scores() == {Level.IDENTITY: 0.45}
    assert load_flow(write(tmp_path, minimal_flow()), domain).min_scores() == {}


def test_required_and_unknown_placeholders(tmp_path: Path) -> None:
    """An invite without {link} and a text using a placeholder it cannot fill are refused."""
    text = minimal_flow().replace('en: "invite en {link}"', 'en: "invite en"')
    text = text.replace('en: "declined en"', 'en: "declined {link}"')
    errors = validate_file(write(tmp_path, text))
    assert [(e.line, e.message.split(";")[0]) for e in errors] == [
        (line_of(text, '"invite en"'), "`protocol.texts.invite.en` must contain {link}"),
        (line_of(text, "declined {link}"), "`protocol.texts.declined.en` uses {link}, "
         "which this text cannot fill"),
    ]  # fmt: skip


def test_button_title_too_long(tmp_path: Path) -> None:
    """A button title longer than WhatsApp's 20 characters is refused."""
    text = minimal_flow().replace('en: "yes en"', 'en: "Yes, I agree to all of that"')
    error = only_error(write(tmp_path, text))
    assert "is 27 characters long; WhatsApp allows 20" in error.message


def test_consent_word_meaning_both(tmp_path: Path) -> None:
    """A word that would mean yes and no (in any language) is refused."""
    text = minimal_flow().replace("de: [nein]", "de: [nein, ok]")
    error = only_error(write(tmp_path, text))
    assert "'ok' also counts as `yes`" in error.message


def test_blank_line_in_response(tmp_path: Path) -> None:
    """A blank line would split a response in two messages on Rasa's REST channel."""
    text = minimal_flow().replace('en: "Hi!"', 'en: "Hi!\\n\\nWelcome"')
    error = only_error(write(tmp_path, text))
    assert "blank line" in error.message


def test_duplicate_key(tmp_path: Path) -> None:
    """A setting written twice is reported instead of the second silently winning."""
    text = minimal_flow().replace("default_language: en", "default_language: en\nflow: other")
    error = only_error(write(tmp_path, text))
    assert error.line == line_of(text, "flow: other")
    assert "appears twice" in error.message


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    """Broken YAML is reported at its line, not as a traceback."""
    text = minimal_flow().replace("default_language: en", 'default_language: "en')
    [error] = validate_file(write(tmp_path, text))
    assert "not valid YAML" in error.message
    assert error.line is not None


def test_python_tags_are_never_run(tmp_path: Path) -> None:
    """A YAML tag that would build a Python object is refused, never executed."""
    text = minimal_flow().replace(
        "flow: small", 'flow: !!python/object/apply:os.system ["touch pwned"]'
    )
    errors = validate_file(write(tmp_path, text))
    assert errors and all(e.line == 1 for e in errors)
    assert not (tmp_path / "pwned").exists()


def test_empty_file(tmp_path: Path) -> None:
    """An empty file says so."""
    [error] = validate_file(write(tmp_path, ""))
    assert "empty" in error.message


def test_load_flow_raises_with_every_error(tmp_path: Path) -> None:
    """load_flow reports all errors of the file at once."""
    text = minimal_flow().replace("passport_number,", "pasport_number,")
    text = text.replace("invite_expiry: 24h", "invite_expiry: soon")
    with pytest.raises(FlowFileError) as info:
        load_flow(write(tmp_path, text))
    assert len(info.value.errors) == 2
    assert "pasport_number" in str(info.value) and "soon" in str(info.value)


def test_validate_files_exit_code_and_report(tmp_path: Path, domain: Path) -> None:
    """The CLI's check prints every problem and fails when any file has an error."""
    good = write(tmp_path, minimal_flow(), "good.yml")
    bad = write(tmp_path, minimal_flow().replace("10m", "ten"), "bad.yml")
    out = io.StringIO()
    assert validate_files([good], out, domain) == 0
    assert f"{good}: ok (flow 'small'" in out.getvalue()
    out = io.StringIO()
    assert validate_files([good, bad], out, domain) == 1
    assert f"{bad}:{line_of(minimal_flow(), 'consent_reminder: 10m')}: `timers" in out.getvalue()
    assert "NOT usable" in out.getvalue()


def bump(path: Path, text: str, step: int) -> None:
    """Rewrite a file and move its modification time on explicitly (no sleeping)."""
    path.write_text(text, encoding="utf-8")
    stamp = path.stat().st_mtime_ns + step * 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


def test_store_picks_up_an_edit(tmp_path: Path) -> None:
    """A saved edit is live at the next message, without a restart."""
    path = write(tmp_path, minimal_flow())
    store = FlowStore(path)
    assert store.current().response("utter_greet", "en") == "Hi!"
    bump(path, minimal_flow().replace('en: "Hi!"', 'en: "Hello there!"'), 1)
    assert store.current().response("utter_greet", "en") == "Hello there!"


def test_store_keeps_the_last_good_flow_on_a_broken_edit(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken edit is logged with its errors and the previous flow stays in use until fixed."""
    path = write(tmp_path, minimal_flow())
    store = FlowStore(path)
    good = store.current()
    bump(path, minimal_flow().replace("invite_expiry: 24h", "invite_expiry: tomorrow"), 1)
    with caplog.at_level(logging.ERROR, logger="bot.adapters.flow_files"):
        assert store.current() is good
        assert store.current() is good
    assert len(caplog.records) == 1  # logged once, not at every message
    assert "tomorrow" in caplog.text
    assert "invite_expiry" in str(store.errors[0])
    bump(path, minimal_flow().replace("1h", "2h"), 2)
    assert store.current().timers.invite_reminder.total_seconds() == 7200
    assert store.errors == []


def test_store_refuses_to_start_on_a_broken_file(tmp_path: Path) -> None:
    """The service cannot start without a usable flow; it says why."""
    path = write(tmp_path, minimal_flow().replace("10m", "ten"))
    with pytest.raises(FlowFileError, match="consent_reminder"):
        FlowStore(path)
