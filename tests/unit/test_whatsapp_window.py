"""WhatsApp's 24-hour customer-service window, decided from the prospect's last message and
the time now, and the templates a flow names for when it is closed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH, load_flow
from bot.domain.message_templates import TEMPLATE_PURPOSES, template_body, template_variables
from bot.domain.whatsapp_window import (
    MARGIN,
    failure_reason,
    free_form_allowed,
    window_closes_at,
    window_refusal,
)
from tests.fakes.clock import FakeClock

WROTE = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("later", "allowed"),
    [
        (timedelta(0), True),
        (timedelta(hours=12), True),
        (timedelta(hours=24) - timedelta(seconds=1), True),
        (timedelta(hours=24), False),  # the boundary itself is outside
        (timedelta(hours=24, seconds=1), False),
        (timedelta(days=3), False),
    ],
)
def test_free_form_only_within_24_hours_of_the_last_message(
    later: timedelta, allowed: bool
) -> None:
    """Without a margin, free-form is allowed strictly less than 24 hours after the message."""
    clock = FakeClock(WROTE)
    clock.advance(later.total_seconds())
    assert free_form_allowed(WROTE, clock.now(), margin=timedelta(0)) is allowed


def test_the_window_closes_a_margin_early_for_messages_that_wait() -> None:
    """By default the window is treated as closing MARGIN before WhatsApp closes it."""
    closes = WROTE + timedelta(hours=24) - MARGIN
    assert window_closes_at(WROTE) == closes
    assert free_form_allowed(WROTE, closes - timedelta(seconds=1))
    assert not free_form_allowed(WROTE, closes)
    assert not free_form_allowed(WROTE, WROTE + timedelta(hours=24) - timedelta(seconds=1))


def test_a_prospect_who_never_wrote_gets_no_free_form_message() -> None:
    """Without a last inbound message there is no window at all."""
    assert window_closes_at(None) is None
    assert not free_form_allowed(None, WROTE)
    refusal = window_refusal(None, WROTE)
    assert refusal is not None and "has not written" in refusal and "template" in refusal


def test_the_refusal_says_when_the_window_closed_and_what_may_be_sent() -> None:
    """Outside the window the refusal names the closing time; inside there is none."""
    assert window_refusal(WROTE, WROTE + timedelta(hours=1)) is None
    refusal = window_refusal(WROTE, WROTE + timedelta(hours=30), margin=timedelta(0))
    assert refusal is not None
    assert "closed at 2026-11-23 09:00 UTC" in refusal
    assert "last wrote at 2026-11-22 09:00 UTC" in refusal
    assert "only an approved template" in refusal


def test_63016_is_explained_and_other_failures_are_not() -> None:
    """Twilio's outside-the-window code gets a plain reason; other codes are left alone."""
    reason = failure_reason("63016")
    assert reason is not None and "24 hours" in reason and "not retried" in reason
    assert failure_reason("63018") is None and failure_reason(None) is None


def test_template_variables_follow_the_order_the_placeholders_appear() -> None:
    """{{1}} is the first placeholder written, {{2}} the next; a repeat keeps its number."""
    text = "Your link {link} works until {expires}; once more: {link}"
    assert template_variables(text) == ("link", "expires")
    assert template_body(text) == "Your link {{1}} works until {{2}}; once more: {{1}}"
    assert template_body("No placeholders, {{braces}} kept") == "No placeholders, {braces} kept"


def test_the_shipped_flow_names_a_template_for_every_purpose_and_language() -> None:
    """Every purpose has a template in each of the four languages."""
    flow = load_flow(DEFAULT_FLOW_PATH, DEFAULT_DOMAIN_PATH)
    assert set(flow.templates) == set(TEMPLATE_PURPOSES)
    assert all(set(sids) == set(flow.languages) for sids in flow.templates.values())


def test_a_template_is_filled_from_the_flow_and_the_caller() -> None:
    """The template's variables hold the values in placeholder order, and its body is the
    flow's text with them filled in, in the prospect's language."""
    flow = load_flow(DEFAULT_FLOW_PATH, DEFAULT_DOMAIN_PATH)
    sent = flow.template("invite_reminder", "de", link="https://x.example/s/1", expires="morgen")
    assert sent is not None
    assert sent.content_sid == flow.templates["invite_reminder"]["de"]
    assert sent.language == "de"
    assert sent.variables == {"1": "https://x.example/s/1", "2": "morgen"}
    assert sent.body == flow.text(
        "invite_reminder", "de", link="https://x.example/s/1", expires="morgen"
    )
    reminder = flow.template("consent_reminder", "fr")
    assert reminder is not None and reminder.variables == {"1": flow.terms_url("fr")}


def test_a_language_without_a_template_falls_back_to_the_default_language() -> None:
    """A prospect in a language without a template gets the default language's template,
    and its text in that language, so the text recorded is the text shown."""
    flow = load_flow(DEFAULT_FLOW_PATH, DEFAULT_DOMAIN_PATH)
    only_english = replace(flow, templates={"consent_reminder": {"en": "HX" + "a" * 32}})
    sent = only_english.template("consent_reminder", "es")
    assert sent is not None and sent.language == "en"
    assert sent.body == flow.text("consent_reminder", "en")
    assert only_english.template("invite_expired", "es") is None
