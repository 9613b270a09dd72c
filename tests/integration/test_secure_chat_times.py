"""The secure chat shows each message's time on the prospect's own clock: the page as
gangway renders it, with its script, in a headless Chromium set to Berlin time.

Skipped when Playwright or a Chromium binary is not available.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.adapters.db import SessionFactory
from tests.fakes.clock import FakeClock
from tests.integration.secure_chat_stack import World, open_chat, post_text

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary")

SCRIPT = Path("bot/entrypoints/static/secure_chat.js")
SCRIPT_TAG = '<script src="/secure/static/secure_chat.js"></script>'


def test_the_times_the_page_came_with_are_in_the_phones_time_zone(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    world = World(sessions, clock)
    browser, _ = open_chat(world, world.to_secure_channel())
    assert post_text(browser, "Guten Tag").status_code == 201  # at 09:00 UTC
    html = browser.get("/secure/chat").text
    assert SCRIPT_TAG in html and '<time datetime="2026-11-22T09:00:00+00:00">09:00' in html
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = chromium.new_context(timezone_id="Europe/Berlin").new_page()
            page.set_content(html.replace(SCRIPT_TAG, ""))
            page.add_script_tag(content=SCRIPT.read_text())
            shown = page.get_by_test_id("secure-message").locator("time").inner_text()
        finally:
            chromium.close()
    assert shown == "10:00"
