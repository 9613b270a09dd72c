"""Bounded input over HTTP, on a real database: request bodies over their limit get 413
before anything is stored, Twilio's webhooks take only form-encoded bodies, and a text
too long to screen is recorded but never reaches Rasa."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bot.adapters.tables import InboxMessage, MessageClassification
from bot.adapters.vault import vault_of
from bot.bootstrap import Container, build
from bot.config import load_settings
from bot.entrypoints.app import create_app
from tests.fakes.clock import FakeClock
from tests.fakes.ports import FakeDialogue, FakeModel, FakeSender, FakeUnderstanding

TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC = "https://gangway.example.com"
INBOUND = "/webhooks/twilio/whatsapp"
LIMIT = 4096
MAX_CHARS = 1000


@pytest.fixture
def dialogue() -> FakeDialogue:
    return FakeDialogue()


@pytest.fixture
def understanding() -> FakeUnderstanding:
    return FakeUnderstanding()


@pytest.fixture
def container(
    database_url: str,
    clock: FakeClock,
    tmp_path: Path,
    dialogue: FakeDialogue,
    understanding: FakeUnderstanding,
) -> Iterator[Container]:
    settings = load_settings(
        {
            "DATABASE_URL": database_url,
            "GANGWAY_PUBLIC_URL": PUBLIC,
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "GANGWAY_SERVICE_TOKEN": "service-token-for-tests",
            "GANGWAY_CHANNEL_WEBHOOK_SECRET": "channel-secret-for-tests-0123456789",
            "GANGWAY_STATE_DIR": str(tmp_path),
            "GANGWAY_MAX_BODY_BYTES": str(LIMIT),
            "GANGWAY_MAX_INBOUND_CHARS": str(MAX_CHARS),
        }
    )
    made = build(
        settings,
        clock=clock,
        dialogue=dialogue,
        understanding=understanding,
        model=FakeModel(),
        sender=FakeSender(clock.now),
    )
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def client(container: Container) -> TestClient:
    """The app without its lifespan: no worker or drain thread, the test runs them; the
    webhook intake's writer runs, as webhooks are acknowledged only through it."""
    container.intake.start()
    app = create_app(lambda: container)
    app.state.container = container
    return TestClient(app, base_url="http://10.0.0.5:8000")


def signed_message(sid: str, body: str) -> tuple[dict[str, str], dict[str, str]]:
    params = {"MessageSid": sid, "From": "whatsapp:+12025550101", "Body": body}
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + INBOUND, params)
    return params, {"X-Twilio-Signature": signature}


def stored(container: Container) -> int:
    container.ingest.drain()
    with container.sessions() as s:
        return s.execute(select(func.count()).select_from(InboxMessage)).scalar_one()


def test_webhook_declaring_a_body_over_the_limit_gets_413_and_nothing_is_stored(
    client: TestClient, container: Container
) -> None:
    """A Content-Length over the limit is refused with 413 before the body is read."""
    params, headers = signed_message("SM" + "a" * 32, "x" * (LIMIT + 1))
    resp = client.post(INBOUND, data=params, headers=headers)
    assert resp.status_code == 413
    assert "larger than 4096 bytes" in resp.json()["detail"]
    assert stored(container) == 0


def test_webhook_body_sent_in_chunks_over_the_limit_gets_413_and_nothing_is_stored(
    client: TestClient, container: Container
) -> None:
    """A chunked body with no length is counted as it arrives and refused past the limit."""
    chunks = [b"Body=" + b"x" * 1024] + [b"x" * 1024] * 8

    resp = client.post(
        INBOUND,
        content=iter(chunks),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 413
    assert stored(container) == 0


def test_webhook_with_a_json_body_gets_415_and_nothing_is_stored(
    client: TestClient, container: Container
) -> None:
    """Twilio posts forms: a JSON (or multipart) webhook is refused with 415."""
    params, headers = signed_message("SM" + "b" * 32, "hi")
    assert client.post(INBOUND, json=params, headers=headers).status_code == 415
    multipart = client.post(INBOUND, data=params, files={"f": b"x"}, headers=headers)
    assert multipart.status_code == 415
    assert stored(container) == 0


def test_signed_form_webhook_within_the_limit_is_still_stored(
    client: TestClient, container: Container
) -> None:
    """A form-encoded webhook under the limit, with a charset, is taken as before."""
    params, headers = signed_message("SM" + "c" * 32, "hello")
    assert client.post(INBOUND, data=params, headers=headers).status_code == 200
    assert stored(container) == 1


def test_api_and_activation_callback_over_the_limit_get_413_before_authentication(
    client: TestClient,
) -> None:
    """The JSON API and the messenger's callback refuse oversized bodies before they look
    at who is calling."""
    big = {"conversation_id": "c-1", "text": "x" * (LIMIT + 1)}
    assert client.post("/api/v1/human-requests", json=big).status_code == 413
    raw = json.dumps({"event_id": "e", "padding": "x" * LIMIT}).encode()
    callback = client.post(
        "/webhooks/secure-channel/activated",
        content=raw,
        headers={"Content-Type": "application/json"},
    )
    assert callback.status_code == 413


def test_upload_route_takes_bodies_over_the_default_limit(client: TestClient) -> None:
    """A secure-chat upload may be larger than other bodies: no 413 for 64 kB (the route
    then refuses the caller, who has no session)."""
    resp = client.post("/secure/chat/messages", files={"file": ("a.pdf", b"%PDF" + b"x" * 65536)})
    assert resp.status_code != 413


def test_text_over_the_cap_is_recorded_as_sensitive_and_never_sent_to_rasa(
    client: TestClient,
    container: Container,
    dialogue: FakeDialogue,
    understanding: FakeUnderstanding,
) -> None:
    """A text longer than GANGWAY_MAX_INBOUND_CHARS is stored whole, classified at the
    flow's threshold with the evidence "too_long", and neither Rasa's NLU nor its
    dialogue sees it."""
    body = "hello " * (MAX_CHARS // 6 + 1)
    params, headers = signed_message("SM" + "d" * 32, body)
    assert client.post(INBOUND, data=params, headers=headers).status_code == 200
    container.ingest.drain()
    with container.sessions() as s:
        conversation_id = s.execute(select(InboxMessage.conversation_id)).scalar_one()
    container.processor.run(conversation_id)
    assert dialogue.calls == [] and understanding.texts == []
    with container.sessions() as s:
        message = s.execute(select(InboxMessage)).scalar_one()
        row = s.execute(select(MessageClassification)).scalar_one()
        assert vault_of(s).read(s, conversation_id, "body", message.body) == body
    assert message.status == "done"
    assert row.level == "identity" and row.forwarded is False
    assert json.loads(row.evidence) == [
        {
            "source": "length",
            "name": "too_long",
            "level": "identity",
            "span": [0, len(body)],
            "confidence": 1.0,
        }
    ]


def test_text_at_the_cap_is_screened_and_answered_as_usual(
    client: TestClient, container: Container, dialogue: FakeDialogue
) -> None:
    """A text exactly as long as the cap is screened and reaches the bot."""
    body = ("hello " * MAX_CHARS)[:MAX_CHARS]
    params, headers = signed_message("SM" + "e" * 32, body)
    assert client.post(INBOUND, data=params, headers=headers).status_code == 200
    container.ingest.drain()
    with container.sessions() as s:
        conversation_id = s.execute(select(InboxMessage.conversation_id)).scalar_one()
    container.processor.run(conversation_id)
    assert [text for _, text in dialogue.calls] == [body]
