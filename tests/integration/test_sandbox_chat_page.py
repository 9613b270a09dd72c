"""The sandbox chat page in a real headless Chromium, with a stand-in gangway that
answers every webhook through the real twilio client pointed at the sandbox.

Skipped when Playwright or a Chromium binary is not available.
"""

from __future__ import annotations

import base64
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
from integrations.twilio_content import TwilioContent
from integrations.twilio_whatsapp import TwilioWhatsApp

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary")

ACCOUNT = "AC" + "4" * 32
TOKEN = "page-token"
BUSINESS = "whatsapp:+12025550100"
# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


def fake_gangway(urls: dict[str, str], received: list[dict[str, str]]) -> FastAPI:
    """Checks the webhook signature, records the form, then replies "Echo: <body>" via
    twilio's Client."""
    app = FastAPI()

    @app.post("/webhooks/twilio/whatsapp")
    async def webhook(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        url = urls["gangway"] + "/webhooks/twilio/whatsapp"
        signature = request.headers.get("X-Twilio-Signature", "")
        if not RequestValidator(TOKEN).validate(url, form, signature):
            return Response(status_code=403)
        received.append(form)

        def reply() -> None:
            client = Client(ACCOUNT, TOKEN)
            client.api.base_url = urls["sandbox"]
            client.messages.create(to=form["From"], from_=BUSINESS, body="Echo: " + form["Body"])

        threading.Thread(target=reply, daemon=True).start()
        return Response("<Response></Response>", media_type="text/xml")

    return app


@pytest.fixture(scope="module")
def received() -> list[dict[str, str]]:
    """Every webhook form the fake gangway accepted, oldest first."""
    return []


@pytest.fixture(scope="module")
def sandbox_url(received: list[dict[str, str]]) -> Iterator[str]:
    urls: dict[str, str] = {}
    with ServerThread(fake_gangway(urls, received)) as gangway:
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
def page(browser: Any, sandbox_url: str, received: list[dict[str, str]]) -> Iterator[Any]:
    httpx.delete(sandbox_url + "/sandbox/api/messages").raise_for_status()
    received.clear()
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


def test_quick_reply_buttons_show_and_a_tap_posts_the_button_payload(
    page: Any, sandbox_url: str, received: list[dict[str, str]]
) -> None:
    """A template message shows its buttons under the bubble; tapping one sends its id and
    locks the buttons."""
    expect = sync_api.expect
    content = TwilioContent(account_sid=ACCOUNT, auth_token=TOKEN, base_url=sandbox_url)
    whatsapp = TwilioWhatsApp(
        account_sid=ACCOUNT, auth_token=TOKEN, from_number=BUSINESS, base_url=sandbox_url
    )
    terms = "Our terms: https://example.com/terms/v3\nDo you agree?"
    try:
        sid = content.ensure_quick_reply(
            "page_consent_en", "en", [("Yes, I agree", "agree"), ("No, thanks", "decline")]
        )
        whatsapp.send(
            to="whatsapp:+12025550101", body=terms, content_sid=sid, content_variables={"1": terms}
        )
    finally:
        content.close()
        whatsapp.close()
    outbound = page.get_by_test_id("message-outbound").first
    expect(outbound.get_by_test_id("message-body")).to_have_text(terms)
    buttons = outbound.get_by_test_id("quick-reply")
    expect(buttons).to_have_text(["Yes, I agree", "No, thanks"])
    expect(buttons.first).to_be_enabled()
    buttons.first.click()
    expect(buttons.first).to_be_disabled()
    expect(buttons.last).to_be_disabled()
    inbound = page.get_by_test_id("message-inbound")
    expect(inbound.get_by_test_id("message-body")).to_have_text("Yes, I agree")
    expect(inbound.get_by_test_id("message-status")).to_have_text("✓ gangway 200")
    [tap] = received
    assert (tap["ButtonPayload"], tap["ButtonText"], tap["Body"]) == (
        "agree",
        "Yes, I agree",
        "Yes, I agree",
    )
    page.reload()  # the lock is the sandbox's, not only the page's
    expect(page.get_by_test_id("quick-reply").first).to_be_disabled()
    typed = page.get_by_test_id("chat-input")
    typed.fill("still typing works")
    typed.press("Enter")
    expect(page.get_by_test_id("message-inbound")).to_have_count(2)


def test_an_attached_image_is_shown_and_posted_as_media(
    page: Any, received: list[dict[str, str]]
) -> None:
    """Attaching an image shows it in the transcript and posts NumMedia/MediaUrl0 to gangway."""
    expect = sync_api.expect
    page.get_by_test_id("chat-input").fill("photo of my document")
    page.get_by_test_id("attach-input").set_input_files(
        {"name": "scan.png", "mimeType": "image/png", "buffer": PNG}
    )
    inbound = page.get_by_test_id("message-inbound")
    expect(inbound.get_by_test_id("message-image")).to_have_count(1)
    expect(inbound.get_by_test_id("message-body")).to_have_text("photo of my document")
    expect(inbound.get_by_test_id("message-status")).to_have_text("✓ gangway 200")
    image_loaded = inbound.get_by_test_id("message-image").evaluate("i => i.naturalWidth")
    assert image_loaded == 1
    [form] = received
    assert (form["NumMedia"], form["MediaContentType0"]) == ("1", "image/png")
    assert "/Media/ME" in form["MediaUrl0"]


def test_location_and_contact_are_shared_with_invented_data(
    page: Any, received: list[dict[str, str]]
) -> None:
    """The share buttons send an invented location and an invented contact card."""
    expect = sync_api.expect
    page.get_by_test_id("share-location").click()
    expect(page.get_by_test_id("message-location")).to_contain_text("Example Place")
    page.get_by_test_id("share-contact").click()
    expect(page.get_by_test_id("message-contact")).to_have_count(1)
    statuses = page.get_by_test_id("message-inbound").get_by_test_id("message-status")
    expect(statuses).to_have_text(["✓ gangway 200", "✓ gangway 200"])
    location, contact = received
    assert (location["Latitude"], location["Longitude"], location["Label"]) == (
        "48.8584",
        "2.2945",
        "Example Place",
    )
    assert contact["MediaContentType0"] == "text/vcard"
