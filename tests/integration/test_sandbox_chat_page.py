"""The sandbox chat page in a real headless Chromium, with a stand-in gangway that
answers every webhook through the real twilio client pointed at the sandbox.

Skipped when Playwright or a Chromium binary is not available.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bot.sandbox import SandboxConfig, create_app
from bot.sandbox.server import ServerThread

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary")

ACCOUNT = "AC" + "4" * 32
TOKEN = "page-token"
BUSINESS = "whatsapp:+12025550100"


def fake_gangway(urls: dict[str, str]) -> FastAPI:
    """Checks the webhook signature, then replies "Echo: <body>" via twilio's Client."""
    app = FastAPI()

    @app.post("/webhooks/twilio/whatsapp")
    async def webhook(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        url = urls["gangway"] + "/webhooks/twilio/whatsapp"
        signature = request.headers.get("X-Twilio-Signature", "")
        if not RequestValidator(TOKEN).validate(url, form, signature):
            return Response(status_code=403)

        def reply() -> None:
            client = Client(ACCOUNT, TOKEN)
            client.api.base_url = urls["sandbox"]
            client.messages.create(to=form["From"], from_=BUSINESS, body="Echo: " + form["Body"])

        threading.Thread(target=reply, daemon=True).start()
        return Response("<Response></Response>", media_type="text/xml")

    return app


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    urls: dict[str, str] = {}
    with ServerThread(fake_gangway(urls)) as gangway:
        urls["gangway"] = gangway.url
        config = SandboxConfig(
            ACCOUNT, TOKEN, gangway.url + "/webhooks/twilio/whatsapp", status_delay_seconds=0.02
        )
        with ServerThread(create_app(config)) as sandbox:
            urls["sandbox"] = sandbox.url
            yield sandbox.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, sandbox_url: str) -> Iterator[Any]:
    httpx.delete(sandbox_url + "/sandbox/api/messages").raise_for_status()
    httpx.delete(sandbox_url + "/sandbox/api/faults").raise_for_status()
    context = browser.new_context(viewport={"width": 420, "height": 800})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.goto(sandbox_url + "/")
    yield opened
    context.close()
    assert errors == []


def test_enter_sends_and_the_reply_appears_delivered(page: Any) -> None:
    """Typing and pressing Enter sends as the prospect; the business's reply shows as delivered."""
    expect = sync_api.expect
    text = "Hi <b>there</b> & welcome"
    page.get_by_test_id("chat-input").fill(text)
    page.get_by_test_id("chat-input").press("Enter")
    inbound = page.get_by_test_id("message-inbound")
    expect(inbound).to_have_count(1)
    expect(inbound.get_by_test_id("message-body")).to_have_text(text)  # shown literally
    expect(inbound.get_by_test_id("message-status")).to_have_text("✓ gangway 200")
    outbound = page.get_by_test_id("message-outbound")
    expect(outbound.get_by_test_id("message-body")).to_have_text("Echo: " + text)
    expect(outbound.get_by_test_id("message-status")).to_have_text("✓✓ delivered")
    expect(page.get_by_test_id("chat-input")).to_have_value("")


def test_send_button_uses_the_chosen_prospect_number(page: Any, sandbox_url: str) -> None:
    """The prospect number field decides who the message is from and which replies are shown."""
    expect = sync_api.expect
    page.get_by_test_id("prospect-number").evaluate("e => { e.closest('details').open = true }")
    page.get_by_test_id("prospect-number").fill("whatsapp:+12025550177")
    page.get_by_test_id("prospect-number").press("Tab")
    page.get_by_test_id("chat-input").fill("from another phone")
    page.get_by_test_id("chat-send").click()
    expect(page.get_by_test_id("message-outbound")).to_have_count(1)
    shown = httpx.get(sandbox_url + "/sandbox/api/messages").json()["messages"]
    assert {m["from"] for m in shown if m["direction"] == "inbound"} == {"whatsapp:+12025550177"}
    assert {m["to"] for m in shown if m["direction"] == "outbound"} == {"whatsapp:+12025550177"}


def test_failed_delivery_shows_the_error(page: Any, sandbox_url: str) -> None:
    """A reply whose delivery fails shows "failed" and the Twilio error code."""
    expect = sync_api.expect
    httpx.post(sandbox_url + "/sandbox/api/faults", json={"delivery": "failed", "code": 63016})
    page.get_by_test_id("chat-input").fill("hello?")
    page.get_by_test_id("chat-input").press("Enter")
    outbound = page.get_by_test_id("message-outbound")
    expect(outbound.get_by_test_id("message-status")).to_have_text("failed")
    expect(outbound.get_by_test_id("message-problem")).to_contain_text("Error 63016")
