"""The Twilio webhooks over HTTP (in-process ASGI), on a real database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from bot.adapters import audit_log
from bot.adapters.migrate import head_revision
from bot.adapters.tables import AuditLog, InboxMessage, StatusEvent, WebhookIntake
from bot.bootstrap import build
from bot.config import load_settings
from bot.entrypoints.app import create_app
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock
from tests.fakes.ports import FakeDialogue, FakeModel, FakeSender, FakeUnderstanding

TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC = "https://gangway.example.com"
PROSPECT = "whatsapp:+12025550101"


@pytest.fixture
def client(database_url: str, clock: FakeClock, tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings(
        {
            "DATABASE_URL": database_url,
            "GANGWAY_PUBLIC_URL": PUBLIC,
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "GANGWAY_SERVICE_TOKEN": "service-token-for-tests",
            "GANGWAY_STATE_DIR": str(tmp_path),
        }
    )
    container = build(
        settings,
        clock=clock,
        dialogue=FakeDialogue(),
        understanding=FakeUnderstanding(),
        model=FakeModel(),
        sender=FakeSender(clock.now),
    )
    # Requests arrive at a different host than the public URL, as behind a proxy.
    with TestClient(create_app(lambda: container), base_url="http://10.0.0.5:8000") as c:
        c.container = container  # type: ignore[attr-defined]
        yield c


def signed(path: str, params: dict[str, str], token: str = TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(PUBLIC + path, params)}


def inbound(sid: str, body: str = "hi") -> dict[str, str]:
    return {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": PROSPECT,
        "To": "whatsapp:+12025550100",
        "Body": body,
        "NumMedia": "0",
        "ProfileName": "Test Prospect",
        "WaId": "12025550101",
    }


def ingested(client: TestClient) -> None:
    """Let the service record what its webhooks have taken in (its drain does so in
    the background moments later)."""
    client.container.ingest.drain()  # type: ignore[attr-defined]


def count(client: TestClient, table: type) -> int:
    ingested(client)
    with chained(client.container.sessions)() as s:  # type: ignore[attr-defined]
        return s.execute(select(func.count()).select_from(table)).scalar_one()


def test_signed_message_is_stored_and_acknowledged_with_empty_twiml(client: TestClient) -> None:
    """A correctly signed webhook is stored and answered 200 with <Response></Response>."""
    params = inbound("SM" + "a" * 32)
    path = "/webhooks/twilio/whatsapp"
    resp = client.post(path, data=params, headers=signed(path, params))
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/xml")
    assert "<Response></Response>" in resp.text
    assert count(client, InboxMessage) == 1


@pytest.mark.parametrize("headers", [{}, {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}])
def test_forged_or_missing_signature_is_refused_and_nothing_stored(
    client: TestClient, headers: dict[str, str]
) -> None:
    """No signature or a wrong one gets 403 and leaves no trace in inbox or audit log."""
    records = count(client, AuditLog)  # the installed flow version's, from the start
    resp = client.post("/webhooks/twilio/whatsapp", data=inbound("SM" + "b" * 32), headers=headers)
    assert resp.status_code == 403
    assert count(client, InboxMessage) == 0
    assert count(client, AuditLog) == records


def test_signature_by_another_token_is_refused(client: TestClient) -> None:
    """A request signed with someone else's auth token is refused."""
    params = inbound("SM" + "c" * 32)
    path = "/webhooks/twilio/whatsapp"
    resp = client.post(path, data=params, headers=signed(path, params, token="another-token"))
    assert resp.status_code == 403


def test_tampered_body_is_refused(client: TestClient) -> None:
    """Changing a parameter after signing invalidates the signature."""
    params = inbound("SM" + "d" * 32, body="hi")
    path = "/webhooks/twilio/whatsapp"
    headers = signed(path, params)
    resp = client.post(path, data={**params, "Body": "send me your IBAN"}, headers=headers)
    assert resp.status_code == 403


def test_redelivery_of_same_message_sid_is_a_no_op(client: TestClient) -> None:
    """Twilio retrying a webhook neither stores it twice nor adds audit records."""
    params = inbound("SM" + "e" * 32)
    path = "/webhooks/twilio/whatsapp"
    first = client.post(path, data=params, headers=signed(path, params))
    ingested(client)
    with chained(client.container.sessions)() as s:  # type: ignore[attr-defined]
        inbound_audits = s.execute(
            select(func.count()).select_from(AuditLog).where(AuditLog.kind == "inbound_message")
        ).scalar_one()
    second = client.post(path, data=params, headers=signed(path, params))
    assert first.status_code == second.status_code == 200
    assert count(client, InboxMessage) == 1
    with chained(client.container.sessions)() as s:  # type: ignore[attr-defined]
        assert (
            s.execute(
                select(func.count()).select_from(AuditLog).where(AuditLog.kind == "inbound_message")
            ).scalar_one()
            == inbound_audits
            == 1
        )


def test_signed_but_malformed_message_gets_400(client: TestClient) -> None:
    """A signed webhook without From is refused with a clear 400."""
    params = {"MessageSid": "SM" + "f" * 32, "Body": "hi"}
    path = "/webhooks/twilio/whatsapp"
    resp = client.post(path, data=params, headers=signed(path, params))
    assert resp.status_code == 400 and "From" in resp.text


def test_status_callback_is_signed_checked_and_recorded(client: TestClient) -> None:
    """A signed status callback is recorded; an unsigned one is refused."""
    path = "/webhooks/twilio/status"
    params = {
        "MessageSid": "SM" + "1" * 32,
        "MessageStatus": "delivered",
        "AccountSid": "AC" + "0" * 32,
    }
    assert client.post(path, data=params).status_code == 403
    assert client.post(path, data=params, headers=signed(path, params)).status_code == 200
    assert count(client, StatusEvent) == 1


def test_health_and_readiness(client: TestClient) -> None:
    """/healthz answers while alive; /readyz reports the database and schema."""
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["schema"] == head_revision()


def test_human_request_api_needs_the_service_token(client: TestClient) -> None:
    """The actions' API refuses callers without the service token and records with it."""
    params = inbound("SM" + "9" * 32)
    path = "/webhooks/twilio/whatsapp"
    client.post(path, data=params, headers=signed(path, params))
    ingested(client)
    with client.container.sessions() as s:  # type: ignore[attr-defined]
        conv = s.execute(select(InboxMessage.conversation_id)).scalar_one()
    body = {"conversation_id": conv, "text": "I want to talk to a person"}
    assert client.post("/api/v1/human-requests", json=body).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.post("/api/v1/human-requests", json=body, headers=wrong).status_code == 401
    ok = {"Authorization": "Bearer service-token-for-tests"}
    resp = client.post("/api/v1/human-requests", json=body, headers=ok)
    assert resp.status_code == 201
    missing = client.post(
        "/api/v1/human-requests", json={"conversation_id": "c-nope", "text": "x"}, headers=ok
    )
    assert missing.status_code == 404
    with chained(client.container.sessions)() as s:  # type: ignore[attr-defined]
        kinds = [r.kind for r in audit_log.iter_records(s)]
    assert "human_requested" in kinds


def test_webhook_is_kept_sealed_until_ingested(client: TestClient) -> None:
    """What an acknowledged webhook holds is stored sealed, and becomes an inbox
    message once ingested, the intake row then gone."""
    client.container.ingest.stop()  # type: ignore[attr-defined]
    params = inbound("SM" + "7" * 32, body="my salary is 4000 net")
    path = "/webhooks/twilio/whatsapp"
    assert client.post(path, data=params, headers=signed(path, params)).status_code == 200
    with client.container.sessions() as s:  # type: ignore[attr-defined]
        kept = s.execute(select(WebhookIntake)).scalar_one()
    assert "salary" not in kept.sealed and "2025550101" not in kept.sealed
    assert count(client, InboxMessage) == 1
    assert count(client, WebhookIntake) == 0


def test_redelivery_before_ingest_is_taken_in_once(client: TestClient) -> None:
    """Twilio retrying before the first delivery was ingested still makes one message."""
    client.container.ingest.stop()  # type: ignore[attr-defined]
    params = inbound("SM" + "8" * 32)
    path = "/webhooks/twilio/whatsapp"
    for _ in range(3):
        assert client.post(path, data=params, headers=signed(path, params)).status_code == 200
    with client.container.sessions() as s:  # type: ignore[attr-defined]
        assert s.execute(select(func.count()).select_from(WebhookIntake)).scalar_one() == 1
    assert count(client, InboxMessage) == 1


def test_webhook_that_cannot_be_stored_gets_500(client: TestClient) -> None:
    """When the intake cannot take a webhook it answers 500, so Twilio delivers again."""
    client.container.intake.stop()  # type: ignore[attr-defined]
    params = inbound("SM" + "6" * 32)
    path = "/webhooks/twilio/whatsapp"
    assert client.post(path, data=params, headers=signed(path, params)).status_code == 500
    assert count(client, InboxMessage) == 0
