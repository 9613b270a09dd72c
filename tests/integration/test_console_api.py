"""The console's JSON API: per-user API tokens, the same role rules as the pages, plain
JSON errors, and its place in the app's OpenAPI document."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.adapters import accounts
from bot.adapters.db import SessionFactory
from bot.adapters.tables import User
from tests.fakes.clock import FakeClock
from tests.integration.test_console import (
    PASSPORT,
    FakeContainer,
    add_handoff,
    add_user,
    claim_as,
    handoff_status,
    make_app,
    make_container,
    outbox,
)

BASE = "/api/v1/console"


@pytest.fixture
def container(sessions: SessionFactory, clock: FakeClock) -> FakeContainer:
    return make_container(sessions, clock)


@pytest.fixture
def app(container: FakeContainer) -> FastAPI:
    return make_app(container)


@pytest.fixture
def people(container: FakeContainer) -> dict[str, int]:
    s, c = container.sessions, container.clock
    return {
        "anna": add_user(s, c, "anna@example.com", "advisor", "berlin"),
        "ben": add_user(s, c, "ben@example.com", "advisor", "berlin"),
        "clara": add_user(s, c, "clara@example.com", "compliance"),
    }


def api_client(app: FastAPI, container: FakeContainer, email: str) -> TestClient:
    with container.sessions.begin() as s:
        user = accounts.find_user(s, email)
        assert user is not None
        token = accounts.create_api_token(s, user, "tests", container.clock.now())
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


def test_no_token_or_a_wrong_one_is_401_with_a_bearer_challenge(
    app: FastAPI, people: dict[str, int]
) -> None:
    """Missing, malformed and unknown tokens are refused alike, as JSON."""
    client = TestClient(app)
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer gw_nope"}):
        response = client.get(f"{BASE}/handoffs", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"detail": "a valid API token is required"}
        assert response.headers["www-authenticate"] == "Bearer"


def test_a_disabled_users_token_stops_working(
    app: FastAPI, container: FakeContainer, people: dict[str, int]
) -> None:
    """Disabling the account revokes its tokens at once."""
    anna = api_client(app, container, "anna@example.com")
    assert anna.get(f"{BASE}/handoffs").status_code == 200
    with container.sessions.begin() as s:
        accounts.disable_user(s, "anna@example.com", container.clock.now())
    assert anna.get(f"{BASE}/handoffs").status_code == 401


def test_an_advisor_cannot_read_another_advisors_handoff(
    app: FastAPI, container: FakeContainer, people: dict[str, int]
) -> None:
    """Once Anna claims it, Ben's list omits it and every call on it answers 404."""
    hid = add_handoff(container, 1)
    claim_as(container, people["anna"], hid)
    ben = api_client(app, container, "ben@example.com")
    assert ben.get(f"{BASE}/handoffs").json()["handoffs"] == []
    for response in (
        ben.get(f"{BASE}/handoffs/{hid}"),
        ben.post(f"{BASE}/handoffs/{hid}/release"),
        ben.post(f"{BASE}/handoffs/{hid}/reply", json={"text": "hello"}),
    ):
        assert response.status_code == 404
        assert response.json() == {"detail": f"there is no handoff {hid}"}


def test_compliance_reads_with_the_transcript_but_cannot_change_anything(
    app: FastAPI, container: FakeContainer, people: dict[str, int]
) -> None:
    """Clara gets the detail with levels per message; claim, close and reply are 403."""
    messages = (("hi", "public"), (f"My passport number is {PASSPORT}", "identity"))
    hid = add_handoff(container, 1, messages=messages, level="identity", reason="threshold")
    clara = api_client(app, container, "clara@example.com")
    detail = clara.get(f"{BASE}/handoffs/{hid}").json()
    assert [line["level"] for line in detail["transcript"]] == ["public", "identity"]
    assert [e["name"] for e in detail["summary"]["trigger"]["evidence"]] == ["passport_number"]
    assert PASSPORT not in str(detail["summary"])
    assert (detail["can_reply"], detail["handoff"]["can_act"]) == (False, False)
    for response in (
        clara.post(f"{BASE}/handoffs/{hid}/claim"),
        clara.post(f"{BASE}/handoffs/{hid}/close"),
        clara.post(f"{BASE}/handoffs/{hid}/reply", json={"text": "hello"}),
    ):
        assert response.status_code == 403
        assert "compliance" in response.json()["detail"]
    assert handoff_status(container, hid) == ("queued", None)


def test_claim_release_and_close(
    app: FastAPI, container: FakeContainer, people: dict[str, int]
) -> None:
    """Each call answers the handoff as it is now; while it is Anna's, Ben gets 404."""
    hid = add_handoff(container, 1)
    anna = api_client(app, container, "anna@example.com")
    claimed = anna.post(f"{BASE}/handoffs/{hid}/claim").json()
    assert (claimed["status"], claimed["assignee"]) == ("claimed", "Anna")
    ben = api_client(app, container, "ben@example.com")
    assert ben.post(f"{BASE}/handoffs/{hid}/claim").status_code == 404
    assert anna.post(f"{BASE}/handoffs/{hid}/release").json()["status"] == "queued"
    assert ben.post(f"{BASE}/handoffs/{hid}/claim").json()["assignee"] == "Ben"
    again = anna.post(f"{BASE}/handoffs/{hid}/claim")
    assert again.status_code == 404
    assert ben.post(f"{BASE}/handoffs/{hid}/close").json()["status"] == "closed"
    assert ben.get(f"{BASE}/handoffs").json()["handoffs"] == []
    closed = ben.get(f"{BASE}/handoffs", params={"include_closed": "true"}).json()
    assert [h["status"] for h in closed["handoffs"]] == ["closed"]


def test_a_reply_below_the_threshold_is_201_and_one_at_it_is_409(
    app: FastAPI, container: FakeContainer, people: dict[str, int]
) -> None:
    """Below: an advisor outbox row; at the threshold: refused in plain words, nothing sent."""
    below = add_handoff(container, 1)
    above = add_handoff(
        container, 2, messages=((PASSPORT, "identity"),), level="identity", reason="threshold"
    )
    claim_as(container, people["anna"], below)
    claim_as(container, people["anna"], above)
    anna = api_client(app, container, "anna@example.com")
    sent = anna.post(f"{BASE}/handoffs/{below}/reply", json={"text": "Hello from Anna"})
    assert sent.status_code == 201
    assert sent.json()["conversation_id"] == "conv-1" and sent.json()["status"] == "pending"
    refused = anna.post(f"{BASE}/handoffs/{above}/reply", json={"text": "Hello?"})
    assert refused.status_code == 409
    assert "secure channel" in refused.json()["detail"]
    assert outbox(container) == [("advisor", "Hello from Anna", "whatsapp:+12025550101")]
    empty = anna.post(f"{BASE}/handoffs/{below}/reply", json={"text": ""})
    assert empty.status_code == 422


def test_the_openapi_document_describes_the_console_api(app: FastAPI) -> None:
    """Every operation is listed with bearer auth, and the models carry descriptions."""
    doc = app.openapi()
    paths = doc["paths"]
    assert set(paths[f"{BASE}/handoffs"]) == {"get"}
    assert set(paths[f"{BASE}/handoffs/{{handoff_id}}"]) == {"get"}
    for action in ("claim", "release", "reply", "close"):
        operation = paths[f"{BASE}/handoffs/{{handoff_id}}/{action}"]["post"]
        assert operation["security"] == [{"HTTPBearer": []}]
        assert "403" in operation["responses"] and "404" in operation["responses"]
    assert "409" in paths[f"{BASE}/handoffs/{{handoff_id}}/reply"]["post"]["responses"]
    schemas = doc["components"]["schemas"]
    assert schemas["HandoffOut"]["properties"]["can_act"]["description"]
    assert "ReplyIn" in schemas and "HandoffDetailOut" in schemas
    assert not [p for p in paths if p.startswith("/console")]


def test_the_token_is_stored_only_as_a_hash(
    container: FakeContainer, people: dict[str, int]
) -> None:
    """The raw token appears in no column; last use is recorded."""
    from sqlalchemy import select

    from bot.adapters.tables import ApiToken

    with container.sessions.begin() as s:
        user = s.get_one(User, people["anna"])
        token = accounts.create_api_token(s, user, "tests", container.clock.now())
    with container.sessions.begin() as s:
        assert accounts.token_user(s, token, container.clock.now()) is not None
        row = s.execute(select(ApiToken)).scalar_one()
        assert token not in (row.token_sha256, row.name)
        assert row.last_used_at == container.clock.now()
