"""The service API the bot's custom actions call (service token), over HTTP (in-process
ASGI) on the real app and container: a request for a person, and where a conversation's
invite stands."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.adapters import invites
from bot.adapters.tables import Conversation, Handoff, HumanRequest, OutboxMessage
from bot.bootstrap import Container, build
from bot.config import load_settings
from bot.domain.conversation_chart import ConversationChart, try_send
from bot.entrypoints.app import create_app
from bot.service_layer.transition import chart_model, save_model
from tests.fakes.clock import FakeClock
from tests.fakes.ports import FakeDialogue, FakeModel, FakeSender, FakeUnderstanding
from tests.fakes.prospects import add_prospect, opened

SERVICE_TOKEN = "service-token-for-tests"
AUTH = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
PUBLIC = "https://gangway.example.com"
CONVERSATION = "c-api-test"
INVITE_TTL = timedelta(hours=24)


@pytest.fixture
def container(database_url: str, clock: FakeClock, tmp_path: Path) -> Container:
    settings = load_settings(
        {
            "DATABASE_URL": database_url,
            "GANGWAY_PUBLIC_URL": PUBLIC,
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": "test-auth-token-0123456789abcdef",
            "GANGWAY_SERVICE_TOKEN": SERVICE_TOKEN,
            "GANGWAY_STATE_DIR": str(tmp_path),
        }
    )
    return build(
        settings,
        clock=clock,
        dialogue=FakeDialogue(),
        understanding=FakeUnderstanding(),
        model=FakeModel(),
        sender=FakeSender(clock.now),
    )


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: container)) as c:
        yield c


@pytest.fixture
def conversation(container: Container, clock: FakeClock) -> str:
    """A prospect who has written to us and is still qualifying."""
    with container.sessions.begin() as s:
        add_prospect(
            s,
            "whatsapp:+12025550141",
            Conversation(
                id=CONVERSATION,
                created_at=clock.now(),
                language="en",
            ),
        )
    return CONVERSATION


def move(container: Container, conversation_id: str, *events: str) -> None:
    """Take the conversation's chart through ``events`` (the test's arrangement)."""
    with container.sessions.begin() as s:
        conv = s.get_one(Conversation, conversation_id)
        model = chart_model(conv)
        chart = ConversationChart(model)
        for event in events:
            assert try_send(chart, event), f"{event} refused in {model.state}"
        save_model(conv, model)


def issue_invite(container: Container, clock: FakeClock, conversation_id: str) -> None:
    """The prospect agreed to the terms and was sent a one-time link."""
    move(container, conversation_id, "threshold_reached", "consent_given")
    with container.sessions.begin() as s:
        invites.issue_invite(
            s,
            conversation_id=conversation_id,
            consent_id=None,
            secret=container.invite_secret,
            base_url=PUBLIC,
            ttl=INVITE_TTL,
            now=clock.now(),
        )


def status_of(client: TestClient, conversation_id: str) -> dict[str, object]:
    resp = client.get(f"/api/v1/conversations/{conversation_id}/invite-status", headers=AUTH)
    assert resp.status_code == 200, resp.text
    body: dict[str, object] = resp.json()
    return body


def test_invite_status_before_any_invite_says_none(client: TestClient, conversation: str) -> None:
    """A conversation that was never sent a link has no invite and no handoff."""
    assert status_of(client, conversation) == {
        "state": "qualifying",
        "invite": None,
        "handoff": None,
    }


def test_invite_status_of_a_fresh_link_is_active_and_never_shows_the_link(
    client: TestClient, container: Container, clock: FakeClock, conversation: str
) -> None:
    """After the invite went out, its status, issue and expiry times are given, not its link."""
    issue_invite(container, clock, conversation)
    body = status_of(client, conversation)
    assert body["state"] == "invite_sent"
    assert body["invite"] == {
        "status": "active",
        "issued_at": clock.now().isoformat().replace("+00:00", "Z"),
        "expires_at": (clock.now() + INVITE_TTL).isoformat().replace("+00:00", "Z"),
    }
    assert "/secure/invite/" not in str(body)


def test_invite_status_of_an_out_of_date_link_is_expired(
    client: TestClient, container: Container, clock: FakeClock, conversation: str
) -> None:
    """A link past its expiry reads expired, before and after the expiry timer marks it."""
    issue_invite(container, clock, conversation)
    clock.advance(INVITE_TTL.total_seconds() + 1)
    before_timer = status_of(client, conversation)["invite"]
    with container.sessions.begin() as s:
        invites.expire_invites(s, conversation_id=conversation, now=clock.now())
    after_timer = status_of(client, conversation)["invite"]
    assert isinstance(before_timer, dict) and isinstance(after_timer, dict)
    assert before_timer["status"] == after_timer["status"] == "expired"


def test_invite_status_of_an_unknown_conversation_is_404(client: TestClient) -> None:
    """Asking about a conversation gangway does not have answers 404 with a plain reason."""
    resp = client.get("/api/v1/conversations/c-nope/invite-status", headers=AUTH)
    assert resp.status_code == 404
    assert "c-nope" in resp.json()["detail"]


def test_a_request_for_a_person_opens_a_handoff_and_lets_the_bot_word_the_reply(
    client: TestClient, container: Container, conversation: str
) -> None:
    """The bot's request moves the chart to handoff_requested and opens a handoff; gangway
    sends no reply of its own (the bot already answers)."""
    resp = client.post(
        "/api/v1/human-requests",
        json={"conversation_id": conversation, "text": "can someone call me back?"},
        headers=AUTH,
    )
    assert resp.status_code == 201, resp.text
    with container.sessions() as s:
        conv = s.get_one(Conversation, conversation)
        request = s.execute(select(HumanRequest)).scalar_one()
        handoff = s.execute(select(Handoff)).scalar_one()
        outbox = s.execute(select(OutboxMessage)).scalars().all()
    assert resp.json() == {"id": request.id, "conversation_id": conversation}
    assert conv.state == "handoff_requested"
    with container.sessions() as s:
        text = opened(s, conversation, "human_request", request.text)
    assert text == "can someone call me back?"
    assert (handoff.conversation_id, handoff.reason) == (conversation, "human_request")
    assert outbox == []
    body = status_of(client, conversation)
    assert body["state"] == "handoff_requested"
    assert body["handoff"] == {"status": handoff.status}


def test_a_request_for_a_person_after_opting_out_is_refused_with_409(
    client: TestClient, container: Container, conversation: str
) -> None:
    """An opted-out prospect's conversation is not handed to anyone: 409, nothing recorded."""
    move(container, conversation, "opt_out")
    resp = client.post(
        "/api/v1/human-requests",
        json={"conversation_id": conversation, "text": "agent please"},
        headers=AUTH,
    )
    assert resp.status_code == 409
    assert "opted out" in resp.json()["detail"]
    with container.sessions() as s:
        assert s.get_one(Conversation, conversation).state == "opted_out"
        assert s.execute(select(HumanRequest)).first() is None
        assert s.execute(select(Handoff)).first() is None


def test_a_request_for_a_person_in_an_unknown_conversation_is_404(client: TestClient) -> None:
    """A request naming no conversation gangway has answers 404."""
    resp = client.post(
        "/api/v1/human-requests", json={"conversation_id": "c-nope", "text": "x"}, headers=AUTH
    )
    assert resp.status_code == 404


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-the-token"}, {"Authorization": SERVICE_TOKEN}],
    ids=["none", "wrong", "no-scheme"],
)
def test_both_routes_need_the_service_token(
    client: TestClient, container: Container, conversation: str, headers: dict[str, str]
) -> None:
    """Without the service token both routes answer 401 and nothing changes."""
    status = client.get(f"/api/v1/conversations/{conversation}/invite-status", headers=headers)
    request = client.post(
        "/api/v1/human-requests",
        json={"conversation_id": conversation, "text": "agent please"},
        headers=headers,
    )
    assert status.status_code == request.status_code == 401
    assert status.headers["www-authenticate"] == "Bearer"
    with container.sessions() as s:
        assert s.execute(select(HumanRequest)).first() is None


def test_the_routes_are_described_in_the_openapi_document(client: TestClient) -> None:
    """Programs reading the OpenAPI document find the invite status's shape and errors."""
    doc = client.get("/openapi.json").json()
    route = doc["paths"]["/api/v1/conversations/{conversation_id}/invite-status"]["get"]
    assert {"200", "401", "404"} <= set(route["responses"])
    schema = doc["components"]["schemas"]["ConversationStatusOut"]
    assert set(schema["properties"]) == {"state", "invite", "handoff"}
    assert "409" in doc["paths"]["/api/v1/human-requests"]["post"]["responses"]
