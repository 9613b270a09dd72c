"""An admin in the console, in headless Chromium, finds a reply the provider refused on
the "Failed work" page and retries it.

With GANGWAY_SCREENSHOTS set to a directory, the test leaves the page's screenshot there
(failed-work.png).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import select

from bot.adapters.db import SessionFactory
from bot.adapters.tables import CrmDelivery, OutboxMessage
from bot.entrypoints.routes import console_failed_work
from bot.service_layer import crm_outbox
from bot.service_layer.errors import PermanentError
from bot.service_layer.ports import SystemClock
from tests.e2e.processes import free_port
from tests.fakes.clock import FakeClock
from tests.integration.test_console import PASSWORD, FakeContainer, add_user, make_app
from tests.integration.test_console import make_container as console_container
from tests.integration.test_failed_work import make
from tests.integration.test_processing import receive

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="no chromium binary (`make test` installs Debian's chromium)",
)


@pytest.fixture
def served(sessions: SessionFactory) -> Iterator[tuple[str, FakeContainer]]:
    """The console with its Failed work page on a real port, in a thread; the system clock."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    container = console_container(sessions, SystemClock(), url)  # type: ignore[arg-type]
    app = make_app(container)
    app.include_router(console_failed_work.router)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
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
        opened = browser.new_page(viewport={"width": 1400, "height": 900})
        yield opened
        browser.close()


def failed_work(sessions: SessionFactory) -> int:
    """A few failed rows, as the worker leaves them: a reply refused today (retryable),
    one refused for WhatsApp's window two days ago (not), a prospect's message the bot
    refused, a CRM event refused. The retryable reply's id."""
    old = FakeClock(datetime.now(UTC))
    old.advance(-48 * 3600)
    proc, _dialogue, sender = make(sessions, old)
    conv = receive(sessions, old, "SM1", "hello", "whatsapp:+447700900101")
    sender.errors = [PermanentError("twilio", "outside the window", status=400, code=63016)]
    proc.run(conv)

    today = FakeClock(datetime.now(UTC))
    proc, dialogue, sender = make(sessions, today)
    conv = receive(sessions, today, "SM2", "opening hours?", "whatsapp:+447700900102")
    sender.errors = [PermanentError("twilio", "Invalid 'To' phone number", status=400, code=21211)]
    proc.run(conv)
    conv = receive(sessions, today, "SM3", "fees?", "whatsapp:+447700900103")
    dialogue.errors = [PermanentError("rasa", "the bot refused the message", status=400)]
    proc.run(conv)
    with sessions.begin() as s:
        crm_outbox.enqueue(
            s, event="handoff.created", handoff_id=None, data={"handoff": 1}, now=today.now()
        )
        s.flush()
        event = s.execute(select(CrmDelivery)).scalar_one()
        event.status, event.attempts = "failed", 1
        event.last_status, event.last_error = 422, "the CRM refused the event: unknown queue"
        return s.execute(
            select(OutboxMessage.id).where(OutboxMessage.error_code == "21211")
        ).scalar_one()


def test_an_admin_retries_a_failed_reply(
    page: Any, served: tuple[str, FakeContainer], tmp_path: Path
) -> None:
    expect = sync_api.expect
    url, container = served
    add_user(container.sessions, container.clock, "ada@example.com", "admin")
    out_id = failed_work(container.sessions)

    page.goto(url + "/console/")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_test_id("sign-in-submit").click()
    page.get_by_test_id("failed-work-link").click()
    expect(page.get_by_role("heading", name="Failed work")).to_be_visible()
    row = page.get_by_test_id(f"failed-outbox-{out_id}")
    expect(row).to_contain_text("21211")
    expect(page.get_by_test_id("failed-outbox").get_by_text("24-hour window")).to_be_visible()
    expect(page.get_by_test_id("failed-inbox")).to_contain_text("the bot refused")
    expect(page.get_by_test_id("failed-crm")).to_contain_text("handoff.created")

    shots = Path(os.environ.get("GANGWAY_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "failed-work.png"), full_page=True)

    row.get_by_role("button", name=f"Retry outbox message {out_id}").click()
    expect(page.get_by_test_id("notice")).to_have_text(
        f"Outbox message {out_id} is due again: the service takes it from here."
    )
    expect(page.get_by_test_id(f"failed-outbox-{out_id}")).to_have_count(0)
    with container.sessions.begin() as s:
        assert s.get_one(OutboxMessage, out_id).status == "pending"
