"""The prospect's whole journey, in headless Chromium, against the real stack.

A prospect on a phone-sized screen answers the bot's questions on the sandbox's WhatsApp
page, shares something sensitive, agrees to the terms and opens the secure chat; an
advisor licensed only for mortgages gets the handoff (routed by the qualified product),
claims it in the console, and the two write to each other in the secure chat, each with
an attachment. When the prospect has left the secure chat, the advisor's next message
brings a WhatsApp notice without its content.

With GANGWAY_SCREENSHOTS set to a directory, the test leaves its screenshots there.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.adapters import accounts
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

PHONE = {"width": 390, "height": 844}
PASSWORD = "journey-password-1"
# Invented documents: a one-page PDF, and a PNG header.
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n invented test image"


def _advisor(stack: Stack) -> None:
    with stack.sessions().begin() as s:
        from datetime import UTC, datetime

        accounts.create_user(
            s,
            email="mona@example.com",
            display_name="Mona Mortgage",
            role="advisor",
            password=PASSWORD,
            now=datetime.now(UTC),
            team="mortgages",
            countries=["*"],
            products=["mortgage"],
            languages=["en"],
        )


def _shot(page: Any, name: str, tmp_path: Path) -> None:
    target = Path(os.environ.get("GANGWAY_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / f"{name}.png"), full_page=True)


def _say(page: Any, text: str, count: int) -> Any:
    """Type ``text`` on the WhatsApp page; wait until ``count`` bot messages are there."""
    page.get_by_test_id("chat-input").fill(text)
    page.get_by_test_id("chat-input").press("Enter")
    outbound = page.get_by_test_id("message-outbound")
    sync_api.expect(outbound).to_have_count(count, timeout=30_000)
    return outbound.nth(count - 1)


def test_a_prospect_is_qualified_moves_to_the_secure_chat_and_talks_to_an_advisor(
    stack: Stack, tmp_path: Path
) -> None:
    expect = sync_api.expect
    _advisor(stack)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        phone = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        whatsapp = phone.new_page()
        whatsapp.goto(stack.sandbox_url + "/")

        # Qualification: greeting and the first question, then one answer each.
        _say(whatsapp, "hi", 2)
        expect(_say(whatsapp, "a mortgage", 3)).to_contain_text("client")
        _say(whatsapp, "no, not yet", 4)
        _say(whatsapp, "yes", 5)
        _say(whatsapp, "English", 6)
        _say(whatsapp, "evenings", 7)
        _shot(whatsapp, "1-qualification", tmp_path)

        # A disclosure: the terms and the consent buttons; yes brings the link.
        offer = _say(whatsapp, "My passport number is C01X00T47", 8)
        offer.get_by_test_id("quick-reply").first.click()
        invite = whatsapp.get_by_test_id("message-outbound").nth(8)
        expect(invite).to_be_visible(timeout=30_000)
        link = invite.get_by_role("link")
        expect(link).to_have_attribute(
            "href", re.compile(re.escape(stack.service_url) + "/secure/")
        )
        href = link.get_attribute("href")
        assert href is not None

        secure = phone.new_page()
        secure.goto(href)
        secure.get_by_role("button").click()
        expect(secure.get_by_test_id("secure-messages")).to_be_visible()

        # The advisor licensed for mortgages has the handoff, claims it and writes.
        desk = browser.new_context(viewport={"width": 1366, "height": 900})
        console = desk.new_page()
        console.goto(stack.service_url + "/console/")
        console.get_by_label("Email").fill("mona@example.com")
        console.get_by_label("Password").fill(PASSWORD)
        console.get_by_test_id("sign-in-submit").click()
        row = console.get_by_test_id("handoff-row").first
        expect(row).to_be_visible(timeout=15_000)
        expect(row.get_by_test_id("handoff-assignee")).to_have_text("Mona Mortgage")
        row.get_by_test_id("claim").click()
        expect(row.get_by_test_id("handoff-status")).to_have_text("claimed")
        row.get_by_test_id("handoff-link").click()
        expect(console.get_by_test_id("transcript-line").first).to_be_visible()
        # What the prospect told the bot, in plain words.
        answers = console.get_by_test_id("qualification-answer")
        expect(answers).to_have_text(
            ["mortgage", "no", "United States (US)", "English", "evening", "yes"]
        )
        pane = console.get_by_test_id("secure-pane")
        expect(pane).to_be_visible()
        console.get_by_test_id("secure-reply-text").fill("Hello, I'm Mona. Here is our checklist.")
        console.get_by_test_id("secure-reply-file").set_input_files(
            {"name": "checklist.pdf", "mimeType": "application/pdf", "buffer": PDF}
        )
        console.get_by_test_id("secure-reply-send").click()

        # The prospect sees it without reloading, and answers with a document.
        messages = secure.get_by_test_id("secure-message")
        expect(messages.last).to_contain_text("Here is our checklist", timeout=15_000)
        expect(messages.last).to_contain_text("checklist.pdf")
        secure.get_by_test_id("secure-text").fill("Thanks! My IBAN is DE89 3704 0044 0532 0130 00")
        secure.get_by_test_id("secure-file").set_input_files(
            {"name": "payslip.png", "mimeType": "image/png", "buffer": PNG}
        )
        secure.get_by_test_id("secure-send").click()
        expect(messages.last).to_contain_text("DE89 3704")
        _shot(secure, "2-secure-chat", tmp_path)

        answer = pane.get_by_test_id("secure-line").last
        expect(answer).to_contain_text("DE89 3704", timeout=15_000)
        expect(answer).to_contain_text("payslip.png")
        _shot(console, "3-advisor-handoff", tmp_path)

        # The prospect leaves the secure chat; the advisor's next message brings a notice
        # on WhatsApp, without its content.
        secure.goto("about:blank")  # as switching to WhatsApp hides it
        secure.close()
        console.get_by_test_id("secure-reply-text").fill("I've checked it: all fine.")
        console.get_by_test_id("secure-reply-send").click()
        notice = whatsapp.get_by_test_id("message-outbound").nth(9)
        expect(notice).to_contain_text("new message in your secure channel", timeout=30_000)
        expect(notice).not_to_contain_text("all fine")
        expect(notice.get_by_role("link")).to_have_attribute(
            "href", re.compile(re.escape(stack.service_url) + "/secure/")
        )
        _shot(whatsapp, "4-notice", tmp_path)
        browser.close()
