"""The flow file's `templates` section: approved WhatsApp templates per purpose and
language, each mistake reported with its line and what to change."""

from __future__ import annotations

from pathlib import Path

from bot.adapters.flow_files import load_flow, validate_file
from tests.unit.test_flow_files import line_of, minimal_flow, only_error, write

EN = "HX" + "0123456789abcdef" * 2
DE = "HX" + "fedcba9876543210" * 2


def with_templates(*lines: str) -> str:
    """The minimal flow with a `templates` section of these lines."""
    section = "\n".join(["templates:", *lines, ""])
    return minimal_flow().replace("responses:\n", section + "responses:\n", 1)


def test_templates_are_optional_and_load_per_purpose_and_language(tmp_path: Path) -> None:
    """Without the section there are no templates; with it, each SID is kept."""
    assert load_flow(write(tmp_path, minimal_flow())).templates == {}
    text = with_templates("  invite_reminder:", f"    en: {EN}", f"    de: {DE}")
    flow = load_flow(write(tmp_path, text))
    assert flow.templates == {"invite_reminder": {"en": EN, "de": DE}}
    sent = flow.template("invite_reminder", "de", link="https://l.example/1", expires="x")
    assert sent is not None and sent.content_sid == DE
    assert sent.variables == {"1": "https://l.example/1"}  # the test text has only {link}


def test_a_malformed_content_sid_is_refused_at_its_line(tmp_path: Path) -> None:
    """A SID that is not HX and 32 hex digits is named, with where to copy the right one."""
    text = with_templates("  consent_reminder:", f"    en: {EN}", "    de: HX12345")
    error = only_error(write(tmp_path, text))
    assert error.line == line_of(text, "de: HX12345")
    assert "`templates.consent_reminder.de`: `HX12345` is not a Content SID" in error.message
    assert "32" in error.message and "Content Template Builder" in error.message


def test_a_message_sid_is_not_a_content_sid(tmp_path: Path) -> None:
    """An SM... message SID pasted by mistake is refused too."""
    wrong = "SM" + "0123456789abcdef" * 2
    error = only_error(write(tmp_path, with_templates("  invite_expired:", f"    en: {wrong}")))
    assert "is not a Content SID" in error.message


def test_an_unknown_purpose_suggests_the_closest(tmp_path: Path) -> None:
    """A misspelt purpose is named with the purposes gangway knows."""
    text = with_templates("  invite_remider:", f"    en: {EN}")
    error = only_error(write(tmp_path, text))
    assert error.line == line_of(text, "invite_remider:")
    assert "did you mean `invite_reminder`" in error.message


def test_a_purpose_needs_the_default_language(tmp_path: Path) -> None:
    """Prospects without a template of their own get the default language's, so it is
    required."""
    text = with_templates("  advisor_follow_up:", f"    de: {DE}")
    error = only_error(write(tmp_path, text))
    assert error.line == text.splitlines().index("  advisor_follow_up:") + 1
    assert "has no `en` template" in error.message


def test_a_language_the_flow_does_not_have_is_refused(tmp_path: Path) -> None:
    """A template for a language outside `languages` is reported."""
    text = with_templates("  invite_expired:", f"    en: {EN}", f"    it: {DE}")
    error = only_error(write(tmp_path, text))
    assert error.line == line_of(text, "it: HX")
    assert "`it` is not one of the flow's languages" in error.message


def test_the_same_sid_for_two_purposes_is_a_warning(tmp_path: Path) -> None:
    """One template cannot have two wordings: likely a copy-paste slip, so a warning."""
    text = with_templates(
        "  invite_expired:", f"    en: {EN}", "  consent_reminder:", f"    en: {EN}"
    )
    [warning] = validate_file(write(tmp_path, text))
    assert warning.severity == "warning"
    assert "is also `templates.invite_expired.en`" in warning.message


def test_a_text_too_long_for_a_template_is_refused(tmp_path: Path) -> None:
    """WhatsApp allows 1024 characters in a template, fewer than in a free-form message."""
    long_text = "x" * 1100
    text = with_templates("  consent_reminder:", f"    en: {EN}").replace(
        '      en: "consent_reminder en"', f'      en: "{long_text}"'
    )
    error = only_error(write(tmp_path, text))
    assert error.line == line_of(text, f"en: {EN}")
    assert "WhatsApp allows 1024 in a template" in error.message
