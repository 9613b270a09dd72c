"""Twilio's Retry-After decides when a refused reply is tried again: the real twilio
client against the sandbox (answering 429 or 503 with Retry-After), the worker on a real
database, Rasa faked through its port, and time moved by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from bot.adapters.db import SessionFactory
from bot.adapters.tables import InboxMessage, OutboxMessage
from bot.domain.inbound import parse_inbound
from bot.sandbox import SandboxConfig, create_app
from bot.sandbox.server import ServerThread
from bot.service_layer.processing import ConversationProcessor, ProcessingPolicy
from bot.service_layer.receiving import record_inbound
from integrations.twilio_whatsapp import TwilioWhatsApp
from tests.fakes.clock import FakeClock
from tests.fakes.ports import FakeDialogue
from tests.fakes.screening import fake_screening

PROSPECT = "whatsapp:+15550100142"
BUSINESS = "whatsapp:+15550100100"
ACCOUNT = "AC" + "5" * 32
TOKEN = "retry-after-token"


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    config = SandboxConfig(
        ACCOUNT,
        TOKEN,
        "http://127.0.0.1:9/webhooks/twilio/whatsapp",  # nothing answers: no webhook is sent
        business_number=BUSINESS,
        status_delay_seconds=0.01,
    )
    with ServerThread(create_app(config)) as sandbox:
        yield sandbox.url


@pytest.fixture
def sandbox(sandbox_url: str) -> str:
    httpx.delete(sandbox_url + "/sandbox/api/messages").raise_for_status()
    httpx.delete(sandbox_url + "/sandbox/api/faults").raise_for_status()
    return sandbox_url


@pytest.fixture
def whatsapp(sandbox: str) -> Iterator[TwilioWhatsApp]:
    client = TwilioWhatsApp(
        account_sid=ACCOUNT, auth_token=TOKEN, from_number=BUSINESS, base_url=sandbox
    )
    yield client
    client.close()


def fail_next_send(sandbox: str, **fault: object) -> None:
    httpx.post(sandbox + "/sandbox/api/faults", json=fault).raise_for_status()


def replies(sandbox: str) -> list[str]:
    """What the sandbox holds as sent to the prospect."""
    shown = httpx.get(sandbox + "/sandbox/api/messages").json()["messages"]
    return [m["body"] for m in shown if m["to"] == PROSPECT and m["direction"] != "inbound"]


def receive(sessions: SessionFactory, clock: FakeClock, body: str) -> str:
    with sessions.begin() as s:
        record_inbound(
            s,
            parse_inbound({"MessageSid": "SM" + "4" * 32, "From": PROSPECT, "Body": body}),
            clock.now(),
        )
        return s.execute(select(InboxMessage.conversation_id)).scalar_one()


def the_reply(sessions: SessionFactory) -> OutboxMessage:
    with sessions() as s:
        return s.execute(select(OutboxMessage)).scalar_one()


def processor(
    sessions: SessionFactory, clock: FakeClock, whatsapp: TwilioWhatsApp
) -> ConversationProcessor:
    # Our own backoff starts at 1 s: any longer wait below is Twilio's asking.
    policy = ProcessingPolicy(retry_base_seconds=1.0, retry_cap_seconds=60.0)
    return ConversationProcessor(
        sessions, FakeDialogue(), whatsapp, clock, fake_screening(), policy, owner="test"
    )


def test_a_reply_rate_limited_with_retry_after_7_goes_out_after_7_seconds_not_before(
    sessions: SessionFactory, whatsapp: TwilioWhatsApp, sandbox: str
) -> None:
    """Twilio answers the first send 429 with Retry-After: 7. The reply is not sent
    again at 6 s (our own backoff would have at 1 s), and goes out, once, at 7 s."""
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    proc = processor(sessions, clock, whatsapp)
    fail_next_send(sandbox, status=429, code=20429, retry_after=7)
    conv = receive(sessions, clock, "hi")

    proc.run(conv)
    row = the_reply(sessions)
    assert (row.status, row.attempts) == ("pending", 1)
    assert (row.next_attempt_at - clock.now()).total_seconds() == 7

    clock.advance(6)
    proc.run(conv)
    assert replies(sandbox) == []
    assert the_reply(sessions).attempts == 1

    clock.advance(1)
    proc.run(conv)
    assert replies(sandbox) == ["you said: hi"]
    row = the_reply(sessions)
    assert row.provider_sid is not None and row.attempts == 2


def test_a_retry_after_longer_than_the_cap_is_held_to_the_cap(
    sessions: SessionFactory, whatsapp: TwilioWhatsApp, sandbox: str
) -> None:
    """Asked to wait an hour, the reply is tried again after the retry cap (60 s)."""
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    proc = processor(sessions, clock, whatsapp)
    fail_next_send(sandbox, status=429, code=20429, retry_after=3600)
    conv = receive(sessions, clock, "hi")

    proc.run(conv)
    assert (the_reply(sessions).next_attempt_at - clock.now()).total_seconds() == 60
    clock.advance(60)
    proc.run(conv)
    assert replies(sandbox) == ["you said: hi"]


def test_a_send_answered_503_is_not_sent_again_and_is_looked_up_after_its_retry_after(
    sessions: SessionFactory, whatsapp: TwilioWhatsApp, sandbox: str
) -> None:
    """Twilio keeps the message but answers 503 with Retry-After: 5. The send may have
    gone out, so it is not repeated, in-process or later: it stays uncertain until, no
    sooner than 5 s on, Twilio's list shows it, and it is adopted. One message, ever."""
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    proc = processor(sessions, clock, whatsapp)
    fail_next_send(sandbox, status=503, record=True, retry_after=5)
    conv = receive(sessions, clock, "hi")

    proc.run(conv)
    row = the_reply(sessions)
    assert (row.status, row.provider_sid) == ("sending", None)
    assert replies(sandbox) == ["you said: hi"]  # taken once; not tried again in-process

    clock.advance(4)
    proc.run(conv)
    assert the_reply(sessions).provider_sid is None  # not asked yet

    clock.advance(1)
    proc.run(conv)
    row = the_reply(sessions)
    assert row.provider_sid is not None and row.status != "sending"
    assert replies(sandbox) == ["you said: hi"]
