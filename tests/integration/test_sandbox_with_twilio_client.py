"""The real twilio 9 client against the sandbox served by uvicorn on a loopback port.

The client is redirected with `client.api.base_url = sandbox.url`: twilio's
`Domain.absolute_url()` joins `base_url` and the resource path on every request
(`twilio/base/domain.py`), and `ClientBase.get_hostname()` leaves the URL alone
when no edge/region is configured.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bot.sandbox import SandboxConfig, create_app
from bot.sandbox.server import ServerThread

ACCOUNT = "AC" + "3" * 32
TOKEN = "integration-token"
BUSINESS = "whatsapp:+12025550100"
PROSPECT = "whatsapp:+12025550101"
OTHER = "whatsapp:+12025550103"


class Receiver:
    """A tiny stand-in for gangway: records every form POST it gets."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.app = FastAPI()

        @self.app.post("/{path:path}")
        async def receive(path: str, request: Request) -> Response:
            form = await request.form()
            with self._lock:
                self.posts.append(
                    {
                        "path": "/" + path,
                        "params": {k: str(v) for k, v in form.items()},
                        "signature": request.headers.get("X-Twilio-Signature", ""),
                    }
                )
            return Response("<Response></Response>", media_type="text/xml")

    def to(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [p for p in self.posts if p["path"] == path]

    def clear(self) -> None:
        with self._lock:
            self.posts.clear()


def wait_for(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll `condition` until truthy (background callbacks), failing after `timeout`."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
    return result


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    recv = Receiver()
    with ServerThread(recv.app) as server:
        yield recv, server.url


@pytest.fixture(scope="module")
def sandbox(receiver: tuple[Receiver, str]) -> Iterator[str]:
    _, receiver_url = receiver
    config = SandboxConfig(
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        webhook_url=receiver_url + "/webhooks/twilio/whatsapp",
        business_number=BUSINESS,
        default_prospect=PROSPECT,
        status_delay_seconds=0.01,
    )
    with ServerThread(create_app(config)) as server:
        yield server.url


@pytest.fixture(autouse=True)
def clean(sandbox: str, receiver: tuple[Receiver, str]) -> None:
    httpx.delete(sandbox + "/sandbox/api/messages").raise_for_status()
    httpx.delete(sandbox + "/sandbox/api/faults").raise_for_status()
    receiver[0].clear()


@pytest.fixture
def client(sandbox: str) -> Client:
    twilio = Client(ACCOUNT, TOKEN)
    twilio.api.base_url = sandbox  # the only change: where the API lives
    return twilio


def test_client_sends_and_gets_signed_sent_and_delivered_callbacks(
    client: Client, sandbox: str, receiver: tuple[Receiver, str]
) -> None:
    """messages.create through the real client yields validating "sent" and "delivered" posts."""
    recv, receiver_url = receiver
    callback_url = receiver_url + "/status"
    # The prospect writes first: WhatsApp's 24-hour window allows free-form answers.
    httpx.post(sandbox + "/sandbox/api/inbound", json={"from": PROSPECT, "body": "hi"}, timeout=20)
    message = client.messages.create(
        to=PROSPECT, from_=BUSINESS, body="Welcome to Example Capital", status_callback=callback_url
    )
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert (message.status, message.direction, message.to) == ("queued", "outbound-api", PROSPECT)
    assert isinstance(message.date_created, datetime)
    posts = wait_for(lambda: len(recv.to("/status")) >= 2 and recv.to("/status"))
    assert [p["params"]["MessageStatus"] for p in posts] == ["sent", "delivered"]
    validator = RequestValidator(TOKEN)
    for post in posts:
        assert post["params"]["MessageSid"] == message.sid
        assert post["params"]["ChannelPrefix"] == "whatsapp"
        assert validator.validate(callback_url, post["params"], post["signature"])
    assert client.messages(message.sid).fetch().status == "delivered"


def test_rate_limit_fault_raises_twilio_rest_exception(client: Client, sandbox: str) -> None:
    """An injected 429 surfaces from the client as TwilioRestException 429 / 20429."""
    httpx.post(
        sandbox + "/sandbox/api/faults",
        json={"status": 429, "code": 20429, "count": 1, "message": "Too Many Requests"},
    )
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=PROSPECT, from_=BUSINESS, body="hello")
    assert (caught.value.status, caught.value.code) == (429, 20429)
    assert "Too Many Requests" in caught.value.msg
    assert client.messages.create(to=PROSPECT, from_=BUSINESS, body="hello").status == "queued"


def test_wrong_credentials_raise_authenticate(sandbox: str) -> None:
    """A client with the wrong auth token gets TwilioRestException 401 / 20003."""
    bad = Client(ACCOUNT, "not-the-token")
    bad.api.base_url = sandbox
    with pytest.raises(TwilioRestException) as caught:
        bad.messages.create(to=PROSPECT, from_=BUSINESS, body="hello")
    assert (caught.value.status, caught.value.code) == (401, 20003)


def test_validation_error_surfaces_with_twilio_code(client: Client) -> None:
    """A create without a body surfaces as TwilioRestException 400 / 21602."""
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=PROSPECT, from_=BUSINESS)
    assert (caught.value.status, caught.value.code) == (400, 21602)


def test_list_by_recipient_and_date_sent_after(client: Client) -> None:
    """messages.list(to=..., date_sent_after=...) returns the sandbox's messages, newest first."""
    first = client.messages.create(to=PROSPECT, from_=BUSINESS, body="one").sid
    second = client.messages.create(to=PROSPECT, from_=BUSINESS, body="two").sid
    client.messages.create(to=OTHER, from_=BUSINESS, body="not for you")
    for sid in (first, second):  # only a sent message has the date the filter reads
        wait_for(lambda sid=sid: client.messages(sid).fetch().date_sent is not None)
    since = datetime.now(UTC) - timedelta(minutes=5)
    listed = client.messages.list(to=PROSPECT, date_sent_after=since)
    assert [m.sid for m in listed] == [second, first]
    later = datetime.now(UTC) + timedelta(hours=1)
    assert client.messages.list(to=PROSPECT, date_sent_after=later) == []
    assert {m.to for m in client.messages.list(from_=BUSINESS)} == {PROSPECT, OTHER}


def test_list_follows_next_page_uri_through_the_sandbox(client: Client) -> None:
    """With a small page size the client pages through next_page_uri on the sandbox host."""
    sids = [client.messages.create(to=PROSPECT, from_=BUSINESS, body=str(i)).sid for i in range(5)]
    listed = client.messages.list(to=PROSPECT, page_size=2)
    assert [m.sid for m in listed] == list(reversed(sids))
    assert len(client.messages.list(to=PROSPECT, limit=3)) == 3


def test_lost_answer_can_be_reconciled_by_listing(client: Client, sandbox: str) -> None:
    """A send whose answer was an error (record=true) is found by listing, as after a crash."""
    httpx.post(sandbox + "/sandbox/api/faults", json={"status": 502, "code": 20500, "record": True})
    started = datetime.now(UTC) - timedelta(seconds=5)
    with pytest.raises(TwilioRestException) as caught:
        client.messages.create(to=PROSPECT, from_=BUSINESS, body="did this go out?")
    assert caught.value.status == 502
    [found] = wait_for(lambda: client.messages.list(to=PROSPECT, date_sent_after=started))
    assert found.body == "did this go out?"


def test_delivery_failure_is_visible_on_fetch(client: Client, sandbox: str) -> None:
    """A delivery fault leaves the fetched message failed with error_code 63016."""
    httpx.post(sandbox + "/sandbox/api/faults", json={"delivery": "failed", "code": 63016})
    sid = client.messages.create(to=PROSPECT, from_=BUSINESS, body="late reply").sid
    fetched = wait_for(lambda: (m := client.messages(sid).fetch()).status == "failed" and m)
    assert fetched.error_code == 63016


def test_typed_message_reaches_the_webhook_signed_over_its_url(
    sandbox: str, receiver: tuple[Receiver, str]
) -> None:
    """A message typed on the chat API arrives at the webhook with a signature that validates."""
    recv, receiver_url = receiver
    result = httpx.post(
        sandbox + "/sandbox/api/inbound",
        json={"from": PROSPECT, "body": "Hello, is anyone there?", "profile_name": "Test Prospect"},
        timeout=20,
    ).json()
    assert result["webhook_status"] == 200 and result["webhook_error"] is None
    [post] = recv.to("/webhooks/twilio/whatsapp")
    assert post["params"]["MessageSid"] == result["message_sid"]
    assert post["params"]["Body"] == "Hello, is anyone there?"
    assert RequestValidator(TOKEN).validate(
        receiver_url + "/webhooks/twilio/whatsapp", post["params"], post["signature"]
    )
    shown = httpx.get(sandbox + "/sandbox/api/messages", params={"number": PROSPECT}).json()
    assert [m["direction"] for m in shown["messages"]] == ["inbound"]
