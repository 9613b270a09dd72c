"""GET /metrics on a real database: the figures move as messages flow through the
service (webhooks in, screening, Rasa, sends, status callbacks, timers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot.adapters.tables import InboxMessage
from bot.bootstrap import Container, build
from bot.config import load_settings
from bot.entrypoints.app import create_app
from bot.service_layer.errors import PermanentError, TransientError
from tests.fakes.clock import FakeClock
from tests.fakes.ports import FakeDialogue, FakeModel, FakeSender, FakeUnderstanding

TOKEN = "test-auth-token-0123456789abcdef"
PUBLIC = "https://gangway.example.com"
INBOUND = "/webhooks/twilio/whatsapp"
STATUS = "/webhooks/twilio/status"
PROSPECT = "whatsapp:+12025550123"
METRICS_TOKEN = "metrics-token-for-tests-0123456789"
PASSPORT = "My passport number is C01X00T47"  # the specimen number of German passports

Figures = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def sender(clock: FakeClock) -> FakeSender:
    return FakeSender(clock.now)


@pytest.fixture
def container(
    database_url: str, clock: FakeClock, tmp_path: Path, sender: FakeSender
) -> Iterator[Container]:
    settings = load_settings(
        {
            "DATABASE_URL": database_url,
            "GANGWAY_PUBLIC_URL": PUBLIC,
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": TOKEN,
            "GANGWAY_SERVICE_TOKEN": "service-token-for-tests",
            "GANGWAY_STATE_DIR": str(tmp_path),
            "GANGWAY_METRICS_TOKEN": METRICS_TOKEN,
        }
    )
    made = build(
        settings,
        clock=clock,
        dialogue=FakeDialogue(),
        understanding=FakeUnderstanding(),
        model=FakeModel(),
        sender=sender,
    )
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def client(container: Container) -> TestClient:
    """The app without its lifespan: the test drains the intake, takes the turns and
    fires the timers itself, so each figure can be read between two steps."""
    container.intake.start()
    app = create_app(lambda: container)
    app.state.container = container
    return TestClient(app, base_url="http://10.0.0.5:8000")


def post(client: TestClient, path: str, params: dict[str, str]) -> None:
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + path, params)
    resp = client.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert resp.status_code == 200


def message(client: TestClient, sid: str, body: str) -> None:
    post(client, INBOUND, {"MessageSid": sid, "From": PROSPECT, "Body": body})
    client.app.state.container.ingest.drain()  # type: ignore[attr-defined]


def figures(client: TestClient) -> Figures:
    resp = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(resp.text)
        for sample in family.samples
    }


def value(figs: Figures, name: str, **labels: str) -> float:
    return figs.get((name, frozenset(labels.items())), 0.0)


def outbound(figs: Figures, status: str, error_code: str = "") -> float:
    return value(figs, "gangway_outbound_messages_total", status=status, error_code=error_code)


def turn(container: Container) -> None:
    with container.sessions() as s:
        conversation_id = s.execute(select(InboxMessage.conversation_id).limit(1)).scalar_one()
    container.processor.run(conversation_id)


def test_figures_move_as_messages_flow(
    client: TestClient, container: Container, clock: FakeClock, sender: FakeSender
) -> None:
    """A greeting, its redelivery, a passport number, a delivery callback, the consent
    reminder and a refused send each move the figures a dashboard shows."""
    before = figures(client)
    assert value(before, "gangway_inbound_messages_total", outcome="forwarded") == 0
    assert value(before, "gangway_inbox_backlog") == 0

    # A greeting, delivered twice by Twilio: recorded once, waiting to be answered.
    message(client, "SM" + "1" * 32, "hi")
    message(client, "SM" + "1" * 32, "hi")
    waiting = figures(client)
    assert value(waiting, "gangway_inbox_backlog") == 1
    assert value(waiting, "gangway_inbound_messages_total", outcome="duplicate") == 1

    # Answered three seconds after the webhook, through Rasa, handed to Twilio.
    clock.advance(3)
    turn(container)
    answered = figures(client)
    assert value(answered, "gangway_inbox_backlog") == 0
    assert value(answered, "gangway_outbox_backlog") == 0
    assert value(answered, "gangway_inbound_messages_total", outcome="forwarded") == 1
    assert value(answered, "gangway_classification_total", level="public") == 1
    assert outbound(answered, "queued") == 1
    assert value(answered, "gangway_reply_seconds_count") == 1
    assert value(answered, "gangway_reply_seconds_sum") == pytest.approx(3.0)
    assert value(answered, "gangway_reply_seconds_bucket", le="2.0") == 0
    assert value(answered, "gangway_reply_seconds_bucket", le="3.0") == 1

    # Twilio reports the reply delivered.
    post(client, STATUS, {"MessageSid": sender.sent[0].sid, "MessageStatus": "delivered"})
    container.ingest.drain()
    delivered = figures(client)
    assert outbound(delivered, "delivered") == 1

    # A passport number: withheld from Rasa, the level raised, the terms offered. Twilio
    # is busy at first, so the consent prompt waits in the outbox, then goes.
    message(client, "SM" + "2" * 32, PASSPORT)
    sender.errors.append(TransientError("twilio", "too many requests", status=429))
    turn(container)
    busy = figures(client)
    assert value(busy, "gangway_inbound_messages_total", outcome="withheld") == 1
    assert value(busy, "gangway_classification_total", level="identity") == 1
    assert value(busy, "gangway_transitions_total", step="level_raised") == 1
    assert value(busy, "gangway_transitions_total", step="terms_offered") == 1
    assert value(busy, "gangway_outbox_backlog") == 1
    clock.advance(60)
    turn(container)
    sent = figures(client)
    assert value(sent, "gangway_outbox_backlog") == 0
    assert outbound(sent, "queued") == 2
    assert value(sent, "gangway_reply_seconds_count") == 2

    # The consent reminder fires 5 s after it was due; WhatsApp refuses its message.
    clock.advance(10 * 60 - 60 + 5)
    assert container.scheduler.fire_due() == 1
    timers = figures(client)
    assert value(timers, "gangway_timer_lag_seconds_count") == 1
    assert value(timers, "gangway_timer_lag_seconds_sum") == pytest.approx(5.0)
    sender.errors.append(PermanentError("twilio", "outside the window", status=400, code=63016))
    turn(container)
    failed = figures(client)
    assert outbound(failed, "failed", "63016") == 1
    assert value(failed, "gangway_outbox_failed") == 1
    assert value(failed, "gangway_inbox_failed") == 0
    assert value(failed, "gangway_handoffs_open") == 0
    assert value(failed, "gangway_crm_outbox_failed") == 0


def test_the_page_asks_for_the_metrics_token_when_one_is_set(client: TestClient) -> None:
    """With GANGWAY_METRICS_TOKEN set, no token or a wrong one gets 401 and no figures."""
    for headers in ({}, {"Authorization": "Bearer not-the-token"}, {"Authorization": "Basic x"}):
        resp = client.get("/metrics", headers=headers)
        assert resp.status_code == 401
        assert resp.headers["www-authenticate"] == "Bearer"
        assert "gangway_" not in resp.text


def test_no_label_carries_a_number_a_body_or_a_conversation_id(
    client: TestClient, container: Container
) -> None:
    """After a conversation, the page holds neither the prospect's number, nor what
    they wrote, nor their conversation's id."""
    message(client, "SM" + "3" * 32, PASSPORT)
    turn(container)
    with container.sessions() as s:
        conversation_id = s.execute(select(InboxMessage.conversation_id)).scalar_one()
    page = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    for secret in ("12025550123", "C01X00T47", "passport", conversation_id):
        assert secret not in page


def test_a_handoff_left_unclaimed_past_its_sla_counts_as_a_breach(
    client: TestClient, container: Container, clock: FakeClock
) -> None:
    """Asking for a person opens a handoff; nobody claims it within the routing's SLA,
    so it escalates: one breach, and the handoff is still open."""
    message(client, "SM" + "4" * 32, "I want to talk to a person")
    turn(container)
    opened = figures(client)
    assert value(opened, "gangway_handoffs_open") == 1
    assert value(opened, "gangway_transitions_total", step="handoff_requested") == 1
    assert value(opened, "gangway_handoff_sla_breaches_total") == 0

    clock.advance(15 * 60 + 1)  # flows/routing.yml: sla 15m
    container.scheduler.fire_due()
    breached = figures(client)
    assert value(breached, "gangway_handoff_sla_breaches_total") == 1
    assert value(breached, "gangway_handoffs_open") == 1
