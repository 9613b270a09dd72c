"""A person in the sandbox chat page, in headless Chromium, talking to the real stack."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

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
    """A person types "hi" in the chat page and sees the bot's greeting arrive, delivered."""
    expect = sync_api.expect
    page.get_by_test_id("chat-input").fill("hi")
    page.get_by_test_id("chat-input").press("Enter")
    outbound = page.get_by_test_id("message-outbound")
    expect(outbound).to_have_count(1, timeout=30_000)
    expect(outbound.get_by_test_id("message-body")).to_contain_text("interested")
    expect(outbound.get_by_test_id("message-status")).to_have_text("✓✓ delivered", timeout=10_000)
