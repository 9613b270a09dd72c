"""The sandbox keeps WhatsApp's 24-hour window as Twilio does, through gangway's twilio
client on a real loopback port, with the sandbox's clock moved by the test: a free-form
message outside the window is accepted, then fails with ErrorCode 63016 in its status
callback; an approved template (ContentSid) goes through at any time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from twilio.request_validator import RequestValidator

from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH, load_flow
from bot.domain.flows import Flow
from bot.domain.local_time import format_expiry
from bot.sandbox import SandboxConfig, create_app
from bot.sandbox.approved_templates import APPROVED
from bot.sandbox.content_api import render
from bot.sandbox.server import ServerThread
from integrations.twilio_whatsapp import TwilioWhatsApp
from tests.fakes.clock import FakeClock

ACCOUNT = "AC" + "7" * 32
TOKEN = "window-token"
BUSINESS = "whatsapp:+12025550100"
PROSPECT = "whatsapp:+12025550123"


class Receiver:
    """Stands in for gangway: records each status callback (and answers webhooks)."""

    def __init__(self) -> None:
        self.callbacks: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.app = FastAPI()

        @self.app.post("/{path:path}")
        async def receive(path: str, request: Request) -> Response:
            form = await request.form()
            if path.endswith("status"):
                with self._lock:
                    self.callbacks.append(
                        {
                            "params": {k: str(v) for k, v in form.items()},
                            "signature": request.headers.get("X-Twilio-Signature", ""),
                        }
                    )
            return Response("<Response></Response>", media_type="text/xml")

    def statuses(self, sid: str) -> list[dict[str, str]]:
        with self._lock:
            return [c["params"] for c in self.callbacks if c["params"]["MessageSid"] == sid]


def wait_for(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)
    return result


class World:
    """The sandbox and the receiver on loopback ports, the sandbox's clock, and gangway's
    Twilio client pointed at the sandbox."""

    def __init__(
        self, sandbox_url: str, receiver: Receiver, callback_url: str, clock: FakeClock
    ) -> None:
        self.sandbox_url, self.receiver, self.callback_url = sandbox_url, receiver, callback_url
        self.clock = clock
        self.whatsapp = TwilioWhatsApp(
            account_sid=ACCOUNT,
            auth_token=TOKEN,
            from_number=BUSINESS,
            base_url=sandbox_url,
            status_callback_url=callback_url,
        )

    def prospect_writes(self) -> None:
        answer = httpx.post(
            self.sandbox_url + "/sandbox/api/inbound",
            json={"from": PROSPECT, "body": "Hello?"},
            timeout=20,
        )
        assert answer.json()["webhook_status"] == 200

    def final_status(self, sid: str) -> dict[str, str]:
        """The last status callback of ``sid``, once it reached delivered or failed."""
        done = ("delivered", "failed")
        posts = wait_for(
            lambda: [p for p in self.receiver.statuses(sid) if p["MessageStatus"] in done]
        )
        return posts[-1]


@pytest.fixture
def world() -> Iterator[World]:
    receiver, clock = Receiver(), FakeClock()
    with ServerThread(receiver.app) as gangway:
        config = SandboxConfig(
            ACCOUNT,
            TOKEN,
            gangway.url + "/webhooks/twilio/whatsapp",
            business_number=BUSINESS,
            status_delay_seconds=0.0,
        )
        with ServerThread(create_app(config, clock=clock.now)) as sandbox:
            built = World(sandbox.url, receiver, gangway.url + "/webhooks/twilio/status", clock)
            yield built
            built.whatsapp.close()


@pytest.fixture(scope="module")
def flow() -> Flow:
    return load_flow(DEFAULT_FLOW_PATH, DEFAULT_DOMAIN_PATH)


def test_free_form_to_a_number_that_never_wrote_is_accepted_then_fails_with_63016(
    world: World,
) -> None:
    """As Twilio: 201 and queued, then a signed "failed" callback with ErrorCode 63016."""
    sent = world.whatsapp.send(to=PROSPECT, body="Hello from Example Bank")
    assert sent.status == "queued"
    final = world.final_status(sent.sid)
    assert (final["MessageStatus"], final["ErrorCode"]) == ("failed", "63016")
    [callback] = [c for c in world.receiver.callbacks if c["params"] is final]
    assert RequestValidator(TOKEN).validate(world.callback_url, final, callback["signature"])
    fetched = world.whatsapp.client.messages(sent.sid).fetch()
    assert (fetched.status, fetched.error_code) == ("failed", 63016)
    assert "outside the allowed window" in (fetched.error_message or "")


def test_free_form_is_delivered_until_24_hours_after_the_prospects_last_message(
    world: World,
) -> None:
    """One second before the 24 hours a free-form message is delivered; at 24 hours it fails."""
    world.prospect_writes()
    world.clock.advance(timedelta(hours=24).total_seconds() - 1)
    inside = world.whatsapp.send(to=PROSPECT, body="Still there?")
    assert world.final_status(inside.sid)["MessageStatus"] == "delivered"
    world.clock.advance(1)
    outside = world.whatsapp.send(to=PROSPECT, body="Still there now?")
    final = world.final_status(outside.sid)
    assert (final["MessageStatus"], final["ErrorCode"]) == ("failed", "63016")


def test_writing_again_reopens_the_window(world: World) -> None:
    """A new message from the prospect starts a new 24 hours."""
    world.prospect_writes()
    world.clock.advance(timedelta(days=2).total_seconds())
    world.prospect_writes()
    sent = world.whatsapp.send(to=PROSPECT, body="Welcome back")
    assert world.final_status(sent.sid)["MessageStatus"] == "delivered"


def test_an_approved_template_is_delivered_outside_the_window_with_the_flows_wording(
    world: World, flow: Flow
) -> None:
    """The shipped flow's template, sent as ContentSid, is delivered days after the last
    message, and WhatsApp shows exactly the flow's text."""
    world.prospect_writes()
    world.clock.advance(timedelta(days=3).total_seconds())
    expires = format_expiry(
        datetime(2026, 11, 26, 9, 0, tzinfo=UTC), language="de", wa_number="+4930231250042"
    )
    template = flow.template(
        "invite_reminder", "de", link="https://gangway.example.com/secure/t1", expires=expires
    )
    assert template is not None
    sent = world.whatsapp.send(
        to=PROSPECT,
        body=template.body,
        content_sid=template.content_sid,
        content_variables=template.variables,
    )
    assert world.final_status(sent.sid)["MessageStatus"] == "delivered"
    assert sent.body == template.body
    assert world.whatsapp.fetch(sent.sid).body == template.body


def test_every_approved_template_renders_the_flows_text(flow: Flow) -> None:
    """The sandbox's templates and the shipped flow agree, word for word, in every language
    (what the prospect sees is what gangway records as sent)."""
    config = SandboxConfig(ACCOUNT, TOKEN, "http://gangway.test/webhooks/twilio/whatsapp")
    contents = create_app(config).state.sandbox.contents
    link = "https://gangway.example.com/secure/t2"
    named = set()
    for purpose, sids in flow.templates.items():
        for language, sid in sids.items():
            # The expiry as gangway words it ("November 23, 2026, 4:00\u202fAM EST").
            expires = format_expiry(
                datetime(2026, 11, 23, 9, 0, tzinfo=UTC), language=language, wa_number=PROSPECT
            )
            template = flow.template(
                purpose, language, advisor="Anna Advisor", link=link, expires=expires
            )
            stored = contents.get(sid)
            assert template is not None and stored is not None, (purpose, language)
            assert stored.language == language
            assert render(stored, dict(template.variables)).body == template.body
            named.add(sid)
    assert named == {sid for sid, *_ in APPROVED}
