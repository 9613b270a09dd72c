"""A message whose send may or may not have reached Twilio is never sent twice: it stays
uncertain until Twilio's list of sent messages settles it. With fake Twilio through the
sender port, and with the real twilio client against the sandbox for the consent prompt,
which Twilio lists by its template's text, not by the plain text gangway keeps."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select, update

from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH, FlowStore
from bot.adapters.tables import Conversation, InboxMessage, OutboxMessage
from bot.domain.inbound import parse_inbound
from bot.sandbox import SandboxConfig, create_app
from bot.sandbox.server import ServerThread
from bot.service_layer.classification import Classifier
from bot.service_layer.errors import PermanentError, TransientError
from bot.service_layer.outbox import new_outbox_row
from bot.service_layer.processing import ConversationProcessor
from bot.service_layer.receiving import record_inbound
from bot.service_layer.screening import Screening
from bot.service_layer.sending import reported_bodies
from bot.service_layer.transition import CONSENT_KIND, InviteSettings, consent_buttons
from integrations.twilio_content import TwilioContent
from integrations.twilio_whatsapp import TwilioWhatsApp
from tests.fakes.clock import FakeClock
from tests.fakes.ports import FakeDialogue, FakeModel, FakeSender, FakeUnderstanding
from tests.fakes.screening import fake_screening

PROSPECT = "whatsapp:+12025550107"
BUSINESS = "whatsapp:+12025550100"
ACCOUNT = "AC" + "7" * 32
TOKEN = "uncertain-sends-token"


def receive(sessions: SessionFactory, clock: FakeClock, sid: str, body: str) -> str:
    with sessions.begin() as s:
        record_inbound(
            s, parse_inbound({"MessageSid": sid, "From": PROSPECT, "Body": body}), clock.now()
        )
        return s.execute(
            select(InboxMessage.conversation_id).where(InboxMessage.message_sid == sid)
        ).scalar_one()


def outbox(sessions: SessionFactory) -> list[OutboxMessage]:
    with sessions() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def lost_answer(
    sessions: SessionFactory, clock: FakeClock
) -> tuple[ConversationProcessor, FakeSender, str]:
    """A reply that Twilio took, but whose answer never came back: it is left uncertain."""
    sender = FakeSender(clock.now)
    proc = ConversationProcessor(
        sessions, FakeDialogue(), sender, clock, fake_screening(), owner="test"
    )
    sender.lose_response_once = True
    conv = receive(sessions, clock, "SM1", "hi")
    proc.run(conv)
    [row] = outbox(sessions)
    assert row.status == "sending" and len(sender.sent) == 1
    return proc, sender, conv


@pytest.mark.parametrize(
    "error",
    [
        TransientError("twilio", "Service Unavailable", status=503),
        TransientError("twilio", "Too Many Requests", status=429, code=20429),
        PermanentError("twilio", "Authenticate", status=401, code=20003),
    ],
    ids=["503", "429", "401"],
)
def test_a_failed_lookup_leaves_the_message_uncertain_and_unsent(
    sessions: SessionFactory, clock: FakeClock, error: Exception
) -> None:
    """When Twilio's list cannot be read, the uncertain reply is neither resent nor given up."""
    proc, sender, conv = lost_answer(sessions, clock)
    sender.list_errors = [error, error]  # type: ignore[list-item]
    for _ in range(2):
        clock.advance(60)
        proc.run(conv)
        [row] = outbox(sessions)
        assert row.status == "sending" and row.provider_sid is None
        assert row.last_error is not None and row.last_error.startswith("look-up failed")
    assert sender.bodies_to(PROSPECT) == ["you said: hi"]


def test_a_failing_lookup_is_asked_again_later_and_later(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """While Twilio's list stays down, each new look-up waits longer, up to the cap."""
    proc, sender, conv = lost_answer(sessions, clock)
    sender.list_errors = [TransientError("twilio", "Service Unavailable", status=503)] * 8
    waits = []
    for _ in range(8):
        [row] = outbox(sessions)
        clock.advance((row.next_attempt_at - clock.now()).total_seconds())
        proc.run(conv)
        [after] = outbox(sessions)
        waits.append((after.next_attempt_at - clock.now()).total_seconds())
    assert waits == sorted(waits) and waits[0] < waits[3] and waits[-1] == 60.0
    assert sender.bodies_to(PROSPECT) == ["you said: hi"]


def test_once_the_list_answers_the_uncertain_message_is_adopted_not_resent(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """After failed look-ups, the first list that shows the message settles it as sent."""
    proc, sender, conv = lost_answer(sessions, clock)
    sender.list_errors = [TransientError("twilio", "Service Unavailable", status=503)]
    clock.advance(60)
    proc.run(conv)
    clock.advance(60)
    proc.run(conv)
    [row] = outbox(sessions)
    assert (row.status, row.provider_sid) == ("queued", sender.sent[0].sid)
    assert sender.bodies_to(PROSPECT) == ["you said: hi"]


def test_a_message_missing_from_twilios_list_is_sent_again_once(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Only a list that definitely lacks the message makes it resendable, and only once."""
    sender = FakeSender(clock.now)
    proc = ConversationProcessor(
        sessions, FakeDialogue(), sender, clock, fake_screening(), owner="test"
    )
    timeout = TransientError("twilio", "read timed out")
    timeout.ambiguous = True  # nothing reached Twilio, in fact
    sender.errors = [timeout]
    conv = receive(sessions, clock, "SM1", "hi")
    proc.run(conv)
    sender.list_errors = [TransientError("twilio", "Service Unavailable", status=503)]
    clock.advance(60)
    proc.run(conv)
    assert sender.sent == []
    clock.advance(60)
    proc.run(conv)
    clock.advance(60)
    proc.run(conv)
    assert sender.bodies_to(PROSPECT) == ["you said: hi"]
    [row] = outbox(sessions)
    assert row.provider_sid == sender.sent[0].sid


def test_the_consent_prompt_is_looked_up_by_its_plain_text_and_its_template_text() -> None:
    """A consent prompt may be listed by the quick reply's text alone, or as written."""
    plain = "Do you agree?\n\n1. Yes\n2. No"
    assert reported_bodies(plain, {"1": "Do you agree?"}, True) == {plain, "Do you agree?"}
    assert reported_bodies("you said: hi", None, False) == {"you said: hi"}


# -- through the real twilio client and the sandbox -------------------------------------


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


def sandbox_bodies(url: str) -> list[str]:
    shown = httpx.get(url + "/sandbox/api/messages").json()["messages"]
    return [m["body"] for m in shown if m["to"] == PROSPECT and m["direction"] != "inbound"]


def test_an_uncertain_consent_prompt_sent_as_quick_reply_is_settled_not_resent(
    sessions: SessionFactory, sandbox: str
) -> None:
    """Twilio took the quick-reply consent prompt but answered 500: the retry finds it in
    Twilio's list by the text Twilio reports, adopts it, and sends nothing again."""
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    flows = FlowStore(DEFAULT_FLOW_PATH, DEFAULT_DOMAIN_PATH)
    flow = flows.current()
    whatsapp = TwilioWhatsApp(
        account_sid=ACCOUNT, auth_token=TOKEN, from_number=BUSINESS, base_url=sandbox
    )
    content = TwilioContent(account_sid=ACCOUNT, auth_token=TOKEN, base_url=sandbox)
    screening = Screening(
        Classifier(flows, FakeUnderstanding(), FakeModel()),
        flows,
        InviteSettings(b"uncertain-sends-secret-012345678", "https://gangway.example.com"),
        templates=content,
    )
    proc = ConversationProcessor(sessions, FakeDialogue(), whatsapp, clock, screening, owner="test")
    conv_id = receive(sessions, clock, "SM" + "1" * 32, "hello")
    prompt = flow.consent_prompt("en")
    listed = "\n".join(f"{i}. {t}" for i, (t, _id) in enumerate(consent_buttons(flow, "en"), 1))
    with sessions.begin() as s:
        s.execute(update(InboxMessage).values(status="done"))  # answered: only the prompt is due
        conv = s.get_one(Conversation, conv_id)
        conv.language = "en"
        new_outbox_row(
            s,
            conv,
            kind=CONSENT_KIND,
            body=prompt + "\n\n" + listed,
            now=clock.now(),
            content_variables={"1": prompt},
        )
    # The sandbox keeps the message and then answers 500, as a lost answer looks.
    httpx.post(
        sandbox + "/sandbox/api/faults", json={"status": 500, "record": True}
    ).raise_for_status()
    try:
        proc.run(conv_id)
        [row] = outbox(sessions)
        assert row.status == "sending" and row.provider_sid is None
        assert sandbox_bodies(sandbox) == [prompt]  # Twilio reports the template's text
        clock.advance(60)
        proc.run(conv_id)
    finally:
        whatsapp.close()
        content.close()
    [row] = outbox(sessions)
    assert row.status != "sending" and row.provider_sid is not None
    assert sandbox_bodies(sandbox) == [prompt]
