"""An advisor in the console, in headless Chromium, against the console served by uvicorn
on a loopback port: sign in, watch a handoff arrive, claim it, read it and reply."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from bot.adapters.db import SessionFactory
from bot.service_layer.ports import SystemClock
from tests.e2e.processes import free_port
from tests.integration.test_console import (
    PASSWORD,
    FakeContainer,
    add_handoff,
    add_user,
    make_app,
    make_container,
    outbox,
)

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="no chromium binary (`make test` installs Debian's chromium)",
)


@pytest.fixture
def served(sessions: SessionFactory) -> Iterator[tuple[str, FakeContainer]]:
    """The console and its API on a real port, in a thread; the system clock."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    container = make_container(sessions, SystemClock(), url)  # type: ignore[arg-type]
    server = uvicorn.Server(
        uvicorn.Config(
            make_app(container), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield url, container
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def page(served: tuple[str, FakeContainer]) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        opened = browser.new_page(viewport={"width": 1280, "height": 900})
        yield opened
        browser.close()


def test_an_advisor_signs_in_claims_a_new_handoff_reads_it_and_replies(
    page: Any, served: tuple[str, FakeContainer]
) -> None:
    """The queue updates by itself when a handoff is opened; the reply shows in the transcript."""
    expect = sync_api.expect
    url, container = served
    add_user(container.sessions, container.clock, "anna@example.com", "advisor", "berlin")

    page.goto(url + "/console/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email").fill("anna@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_test_id("sign-in-submit").click()
    expect(page.get_by_role("heading", name="Queue")).to_be_visible()
    expect(page.get_by_test_id("queue-empty")).to_be_visible()
    first_update = page.get_by_test_id("queue-updated").get_attribute("datetime")

    # A prospect asks for a person while the page is open.
    handoff_id = add_handoff(
        container, 1, messages=(("hi", "public"), ("can I talk to a person", "public"))
    )
    row = page.locator(f'[data-testid="handoff-row"][data-handoff-id="{handoff_id}"]')
    expect(row).to_be_visible(timeout=15_000)
    expect(row.get_by_test_id("handoff-status")).to_have_text("queued")
    assert page.get_by_test_id("queue-updated").get_attribute("datetime") != first_update

    row.get_by_test_id("claim").click()
    expect(row.get_by_test_id("handoff-status")).to_have_text("claimed")
    expect(row.get_by_test_id("handoff-assignee")).to_have_text("Anna")

    row.get_by_test_id("handoff-link").click()
    expect(page.get_by_role("heading", name=f"Handoff #{handoff_id}")).to_be_visible()
    lines = page.get_by_test_id("transcript-line")
    expect(lines).to_have_count(2)
    expect(lines.first.get_by_test_id("message-text")).to_have_text("hi")
    expect(lines.first.get_by_test_id("message-level")).to_have_text("public")

    page.get_by_label("Message to the prospect").fill("Hello, I am Anna. How can I help?")
    page.get_by_test_id("reply-send").click()
    expect(lines).to_have_count(3)
    expect(lines.last.get_by_test_id("message-text")).to_have_text(
        "Hello, I am Anna. How can I help?"
    )
    expect(lines.last).to_contain_text("Advisor")
    assert outbox(container) == [
        ("advisor", "Hello, I am Anna. How can I help?", "whatsapp:+12025550101")
    ]
