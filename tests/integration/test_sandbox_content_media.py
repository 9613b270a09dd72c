"""Quick replies and inbound media end to end over HTTP: gangway's real adapters (twilio 9
client, rewriting http client, media fetcher) against the sandbox served by uvicorn.

The sandbox's media "CDN" is addressed as ``localhost`` while its API is
``127.0.0.1``: a different host, so a client that leaked the account's credentials
across the redirect would be caught (the CDN refuses requests with Authorization).
"""

from __future__ import annotations

import base64
import dataclasses
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from twilio.request_validator import RequestValidator

from bot.domain.inbound_media import media_items
from bot.sandbox import SandboxConfig, create_app
from bot.sandbox.server import ServerThread
from integrations.twilio_content import TwilioContent
from integrations.twilio_media import TwilioMediaFetcher
from integrations.twilio_whatsapp import TwilioWhatsApp

ACCOUNT = "AC" + "9" * 32
TOKEN = "content-media-token"
BUSINESS = "whatsapp:+12025550100"
PROSPECT = "whatsapp:+12025550104"
BUTTONS = [("Yes, I agree", "consent_agree"), ("No, thanks", "consent_decline")]
TERMS = "Before we go on: our terms are at https://example.com/terms/v3.\nDo you agree?"
# A 1x1 transparent PNG (invented content; any bytes would do).
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


class Receiver:
    """A stand-in for gangway's webhook: records each form POST."""

    def __init__(self) -> None:
        self.url = ""  # the webhook URL, once the server listens
        self.posts: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.app = FastAPI()

        @self.app.post("/webhooks/twilio/whatsapp")
        async def receive(request: Request) -> Response:
            form = {k: str(v) for k, v in (await request.form()).items()}
            with self._lock:
                self.posts.append(
                    {"params": form, "signature": request.headers.get("X-Twilio-Signature")}
                )
            return Response("<Response></Response>", media_type="text/xml")

    def last(self) -> dict[str, Any]:
        """The latest post, after checking its signature as gangway would."""
        with self._lock:
            post = self.posts[-1]
        assert RequestValidator(TOKEN).validate(self.url, post["params"], post["signature"])
        return post


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[str, Receiver]]:
    receiver = Receiver()
    with ServerThread(receiver.app) as gangway:
        receiver.url = gangway.url + "/webhooks/twilio/whatsapp"
        config = SandboxConfig(
            ACCOUNT,
            TOKEN,
            receiver.url,
            business_number=BUSINESS,
            status_delay_seconds=0.01,
        )
        app = create_app(config)
        with ServerThread(app) as sandbox:
            # The CDN answers on the same server under another host name.
            state = app.state.sandbox
            state.config = dataclasses.replace(
                config, media_cdn_url=f"http://localhost:{sandbox.port}"
            )
            yield sandbox.url, receiver


@pytest.fixture
def sandbox(stack: tuple[str, Receiver]) -> str:
    url = stack[0]
    httpx.delete(url + "/sandbox/api/messages").raise_for_status()
    return url


def test_a_quick_reply_is_sent_shown_and_found_again_by_its_body(sandbox: str) -> None:
    """Ensure (twice: one template), send with it, see body and buttons, reconcile by body."""
    content = TwilioContent(account_sid=ACCOUNT, auth_token=TOKEN, base_url=sandbox)
    whatsapp = TwilioWhatsApp(
        account_sid=ACCOUNT, auth_token=TOKEN, from_number=BUSINESS, base_url=sandbox
    )
    try:
        sid = content.ensure_quick_reply("consent_en_test", "en", BUTTONS)
        assert content.ensure_quick_reply("consent_en_test", "en", BUTTONS) == sid
        before = datetime.now(UTC) - timedelta(seconds=1)
        sent = whatsapp.send(
            to=PROSPECT, body=TERMS, content_sid=sid, content_variables={"1": TERMS}
        )
        assert sent.body == TERMS
        shown = httpx.get(sandbox + "/sandbox/api/messages").json()["messages"]
        [message] = [m for m in shown if m["sid"] == sent.sid]
        assert message["body"] == TERMS
        assert [(b["title"], b["id"]) for b in message["buttons"]] == BUTTONS
        assert message["content_sid"] == sid
        assert whatsapp.fetch(sent.sid).body == TERMS
        assert [m.sid for m in whatsapp.list_sent(to=PROSPECT, since=before)] == [sent.sid]
        found = whatsapp.find_sent(to=PROSPECT, body=TERMS, since=before)
        assert found is not None and found.sid == sent.sid
    finally:
        content.close()
        whatsapp.close()


def test_a_tapped_button_reaches_gangway_signed(sandbox: str, stack: tuple[str, Receiver]) -> None:
    """Tapping a quick reply posts ButtonText (title) and ButtonPayload (id), signed."""
    receiver = stack[1]
    content = TwilioContent(account_sid=ACCOUNT, auth_token=TOKEN, base_url=sandbox)
    whatsapp = TwilioWhatsApp(
        account_sid=ACCOUNT, auth_token=TOKEN, from_number=BUSINESS, base_url=sandbox
    )
    try:
        sid = content.ensure_quick_reply("consent_en_test", "en", BUTTONS)
        sent = whatsapp.send(
            to=PROSPECT, body=TERMS, content_sid=sid, content_variables={"1": TERMS}
        )
    finally:
        content.close()
        whatsapp.close()
    tap = {"from": PROSPECT, "button": {"message_sid": sent.sid, "id": "consent_decline"}}
    answer = httpx.post(sandbox + "/sandbox/api/inbound", json=tap).json()
    assert answer["webhook_status"] == 200
    params = receiver.last()["params"]
    assert (params["ButtonPayload"], params["ButtonText"], params["Body"]) == (
        "consent_decline",
        "No, thanks",
        "No, thanks",
    )
    assert params["OriginalRepliedMessageSid"] == sent.sid


def test_an_uploaded_image_is_fetched_through_the_redirect_without_leaking_auth(
    sandbox: str, stack: tuple[str, Receiver]
) -> None:
    """The webhook's MediaUrl0, fetched with TwilioMediaFetcher, gives back the image bytes."""
    receiver = stack[1]
    upload = {"content_type": "image/png", "data": base64.b64encode(PNG).decode()}
    answer = httpx.post(
        sandbox + "/sandbox/api/inbound",
        json={"from": PROSPECT, "body": "my passport", "media": [upload]},
    ).json()
    assert answer["webhook_status"] == 200
    params = receiver.last()["params"]
    [item] = media_items(params)
    assert (item.kind, item.content_type) == ("image", "image/png")
    assert item.url.startswith(sandbox + "/2010-04-01/Accounts/" + ACCOUNT)
    redirect = httpx.get(item.url, auth=(ACCOUNT, TOKEN))
    assert redirect.status_code == 307
    assert urlsplit(redirect.headers["Location"]).hostname == "localhost"  # another host
    fetcher = TwilioMediaFetcher(account_sid=ACCOUNT, auth_token=TOKEN, base_url=sandbox)
    try:
        media = fetcher.fetch(item.url)
    finally:
        fetcher.close()
    assert (media.content, media.content_type) == (PNG, "image/png")
    # httpx's own redirect handling, by contrast, would keep auth only on the same origin;
    # the CDN refuses any request that carries it.
    assert httpx.get(redirect.headers["Location"], auth=(ACCOUNT, TOKEN)).status_code == 400


def test_a_contact_card_arrives_as_vcard_media(sandbox: str, stack: tuple[str, Receiver]) -> None:
    """A shared contact is one text/vcard item whose bytes the fetcher gets back."""
    receiver = stack[1]
    vcard = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Alex Example\r\nTEL:+12025550142\r\nEND:VCARD\r\n"
    upload = {"content_type": "text/vcard", "data": base64.b64encode(vcard).decode()}
    httpx.post(sandbox + "/sandbox/api/inbound", json={"from": PROSPECT, "media": [upload]})
    [item] = media_items(receiver.last()["params"])
    assert item.kind == "contact"
    fetcher = TwilioMediaFetcher(account_sid=ACCOUNT, auth_token=TOKEN, base_url=sandbox)
    try:
        assert fetcher.fetch(item.url).content == vcard
    finally:
        fetcher.close()
