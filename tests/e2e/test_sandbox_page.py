"""A person in the sandbox chat page, in headless Chromium, talking to the real stack."""

from __future__ import annotations

import os
import re
import shutil
from typing import Any

import pytest

from bot.entrypoints.routes.secure_channel import PAGE_TEXTS
from tests.e2e.conftest import Stack

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        CHROMIUM is None and not os.environ.get("CI"),
        reason="no chromium binary (`make test` installs Debian's chromium)",
    ),
]


@pytest.fixture
def page(stack: Stack) -> Any:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        opened = browser.new_page(viewport={"width": 420, "height": 800})
        opened.goto(stack.sandbox_url + "/")
        yield opened
        browser.close()


def test_typing_hi_in_the_sandbox_page_shows_the_greeting(page: Any) -> None:
    """A person types "hi" in the chat page and sees the bot's greeting and its first
    question arrive, delivered."""
    expect = sync_api.expect
    page.get_by_test_id("chat-input").fill("hi")
    page.get_by_test_id("chat-input").press("Enter")
    outbound = page.get_by_test_id("message-outbound")
    expect(outbound).to_have_count(2, timeout=30_000)
    expect(outbound.first.get_by_test_id("message-body")).to_contain_text("assistant")
    expect(outbound.last.get_by_test_id("message-body")).to_contain_text("interested")
    expect(outbound.get_by_test_id("message-status")).to_have_text(
        ["✓✓ delivered", "✓✓ delivered"], timeout=10_000
    )


# What a prospect types in each language: a greeting, then something sensitive.
JOURNEYS = {
    "en": ("hi", "My passport number is C01X00T47"),
    "de": ("Hallo", "Mein Gehalt ist 4.200 Euro netto im Monat"),
    "fr": ("Bonjour", "Je suis né le 14/03/1985"),
    "es": ("Hola", "Quiero comprar 100 acciones de Telefónica"),
}


@pytest.mark.parametrize("language", sorted(JOURNEYS))
def test_from_hi_to_an_activated_secure_channel_in_the_page(
    page: Any, stack: Stack, language: str
) -> None:
    """A person says hello, shares something sensitive, taps "yes" on the consent
    buttons, follows the invite link and activates the secure channel: in each language."""
    from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH, load_flow

    flow = load_flow(DEFAULT_FLOW_PATH, DEFAULT_DOMAIN_PATH)
    expect = sync_api.expect
    greeting, sensitive = JOURNEYS[language]
    outbound = page.get_by_test_id("message-outbound")
    # The greeting and the first qualification question, then the terms.
    for count, text in ((2, greeting), (3, sensitive)):
        page.get_by_test_id("chat-input").fill(text)
        page.get_by_test_id("chat-input").press("Enter")
        expect(outbound).to_have_count(count, timeout=30_000)
    offer = outbound.nth(2)
    expect(offer.get_by_test_id("message-body")).to_contain_text(flow.terms_url(language))
    buttons = offer.get_by_test_id("quick-reply")
    expect(buttons.first).to_have_text(flow.text("consent_yes_button", language))
    buttons.first.click()
    expect(outbound).to_have_count(4, timeout=30_000)
    link = outbound.nth(3).get_by_role("link")
    expect(link).to_have_attribute("href", re.compile(re.escape(stack.service_url) + "/secure/"))
    href = link.get_attribute("href")
    assert href is not None
    page.goto(href)  # as a tap on the link would open it
    invite_page = page
    invite_page.get_by_role("button").click()
    expect(invite_page.get_by_role("heading")).to_have_text(PAGE_TEXTS[language]["activated_title"])
