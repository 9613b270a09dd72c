"""The qualification answers over the service API, on the real app and container: kept
sealed, merged as the prospect changes them, pushed to the CRM as a lead, shown in the
handoff summary and used to route the handoff."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.adapters import audit_log
from bot.adapters.tables import Conversation, CrmDelivery, Handoff, Qualification, User
from bot.bootstrap import Container, build
from bot.config import load_settings
from bot.entrypoints.app import create_app
from bot.sandbox.crm import CrmStandIn
from bot.sandbox.crm import create_app as crm_app
from bot.sandbox.server import ServerThread
from bot.service_layer.crm_outbox import CrmPusher
from bot.service_layer.erasure import erase_conversation
from integrations.crm_webhook import CrmWebhook
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock
from tests.fakes.ports import FakeDialogue, FakeModel, FakeSender, FakeUnderstanding
from tests.fakes.prospects import add_prospect

TOKEN = "service-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CRM_SECRET = "crm-shared-secret-for-tests-0001"
CONV = "c-qualify"
URL = f"/api/v1/conversations/{CONV}/qualification"


@pytest.fixture
def crm_url(clock: FakeClock) -> Iterator[str]:
    stand_in = CrmStandIn([CRM_SECRET.encode()], now=lambda: clock.now().timestamp())
    with ServerThread(crm_app(stand_in)) as server:
        yield server.url + "/crm/events"


@pytest.fixture
def container(database_url: str, clock: FakeClock, tmp_path: Path, crm_url: str) -> Container:
    settings = load_settings(
        {
            "DATABASE_URL": database_url,
            "GANGWAY_PUBLIC_URL": "https://gangway.example.com",
            "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "TWILIO_AUTH_TOKEN": "test-auth-token-0123456789abcdef",
            "GANGWAY_SERVICE_TOKEN": TOKEN,
            "GANGWAY_STATE_DIR": str(tmp_path),
            "GANGWAY_CRM_URL": crm_url,
            "GANGWAY_CRM_SECRET": CRM_SECRET,
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
def prospect(container: Container, clock: FakeClock) -> str:
    """An English-speaking prospect with a German number, still qualifying."""
    with container.sessions.begin() as s:
        add_prospect(
            s,
            "whatsapp:+4930555010141",
            Conversation(id=CONV, created_at=clock.now(), language="en"),
        )
    return CONV


def say(client: TestClient, text: str, slot: str | None = None, intent: str | None = None) -> Any:
    resp = client.post(
        URL, json={"text": text, "intent": intent, "requested_slot": slot}, headers=AUTH
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def advisor(container: Container, clock: FakeClock, uid: int, products: list[str]) -> None:
    with container.sessions.begin() as s:
        s.add(
            User(
                id=uid,
                email=f"advisor{uid}@example.com",
                display_name=f"Advisor {uid}",
                role="advisor",
                password_hash="x",
                active=True,
                team="mortgages",
                countries=json.dumps(["*"]),
                products=json.dumps(products),
                languages=json.dumps(["en"]),
                available=True,
                created_at=clock.now(),
            )
        )


def test_answers_in_any_order_are_kept_and_the_next_question_named(
    client: TestClient, container: Container, prospect: str
) -> None:
    out = say(client, "a mortgage, and I live in Spain", slot="product")
    assert out == {
        "answers": {
            "product": "mortgage",
            "existing_client": None,
            "country": "ES",
            "language": None,
            "contact_time": None,
        },
        "changed": ["product", "country"],
        "next": "existing_client",
        "complete": False,
        "refused_skip": False,
    }
    got = client.get(URL, headers=AUTH).json()
    assert got == {"answers": out["answers"], "next": "existing_client", "complete": False}
    with chained(container.sessions)() as s:
        row = s.get_one(Qualification, prospect)
        assert "mortgage" not in row.answers  # sealed
        records = [r for r in audit_log.iter_records(s) if r.kind == "qualification_answered"]
    [record] = records
    payload = json.loads(record.payload)
    assert payload["slots"] == ["product", "country"]
    assert "mortgage" not in record.payload and "ES" not in json.dumps(payload["slots"])


def test_skip_of_a_required_question_is_refused_and_an_answer_can_change(
    client: TestClient, prospect: str
) -> None:
    assert say(client, "skip", slot="product")["refused_skip"] is True
    assert say(client, "savings", slot="product")["changed"] == ["product"]
    out = say(client, "actually a pension")
    assert (out["answers"]["product"], out["changed"]) == ("pension", ["product"])
    assert say(client, "rather not say", slot="existing_client")["answers"]["existing_client"] == (
        "skipped"
    )


def test_a_yes_confirms_the_numbers_country(client: TestClient, prospect: str) -> None:
    assert say(client, "no", slot="country")["answers"]["country"] is None
    assert say(client, "yes", slot="country")["answers"]["country"] == "DE"


def complete(client: TestClient) -> Any:
    say(client, "a mortgage", slot="product")
    say(client, "no", slot="existing_client")
    say(client, "yes", slot="country")
    say(client, "yes", slot="language")
    return say(client, "evenings", slot="contact_time")


def push(container: Container, crm_url: str, clock: FakeClock) -> list[dict[str, Any]]:
    webhook = CrmWebhook(crm_url, [CRM_SECRET.encode()], timeout=5.0)
    try:
        pusher = CrmPusher(container.sessions, clock, webhook, lease_seconds=60.0)
        while pusher.push_due():
            pass
    finally:
        webhook.close()
    events: list[dict[str, Any]] = httpx.get(crm_url).json()["events"]
    return events


def test_a_complete_qualification_reaches_the_crm_as_a_lead_and_again_when_changed(
    client: TestClient, container: Container, prospect: str, crm_url: str, clock: FakeClock
) -> None:
    out = complete(client)
    assert out["complete"] is True and out["next"] is None
    say(client, "mornings are better")
    leads = [e for e in push(container, crm_url, clock) if e["event"] == "lead.qualified"]
    assert [lead["payload"]["data"]["revision"] for lead in leads] == [5, 6]
    assert leads[0]["payload"]["data"] == {
        "conversation_id": prospect,
        "answers": {
            "product": "mortgage",
            "existing_client": "no",
            "country": "DE",
            "language": "en",
            "contact_time": "evening",
        },
        "language": "en",
        "revision": 5,
        "flow": "default",
    }
    assert leads[1]["payload"]["data"]["answers"]["contact_time"] == "morning"
    with container.sessions() as s:
        rows = s.scalars(select(CrmDelivery).where(CrmDelivery.event == "lead.qualified")).all()
        assert all(r.handoff_id is None for r in rows)


def test_the_handoff_goes_to_the_advisor_licensed_for_the_qualified_product(
    client: TestClient, container: Container, prospect: str, clock: FakeClock
) -> None:
    advisor(container, clock, 1, ["savings"])
    advisor(container, clock, 2, ["mortgage"])
    say(client, "I'm interested in a mortgage; I live in Austria; German please", slot="product")
    resp = client.post(
        "/api/v1/human-requests",
        json={"conversation_id": prospect, "text": "a person"},
        headers=AUTH,
    )
    assert resp.status_code == 201, resp.text
    with container.sessions() as s:
        [handoff] = s.scalars(select(Handoff)).all()
        assert (handoff.product, handoff.country, handoff.language) == ("mortgage", "AT", "de")
        assert (handoff.queue, handoff.assigned_to) == ("mortgages", 2)
        summary = json.loads(handoff.summary)
    assert summary["qualification"] == {
        "product": "mortgage",
        "country": "AT",
        "language": "de",
        "complete": False,
    }


def test_erasure_removes_the_answers_kept_in_clear_and_cancels_an_undelivered_lead(
    client: TestClient, container: Container, prospect: str, clock: FakeClock
) -> None:
    """The answers are sealed in their own row; the copies in the handoff's summary and in
    the CRM outbox are not, so erasing the conversation must remove them there too."""
    complete(client)
    resp = client.post(
        "/api/v1/human-requests",
        json={"conversation_id": prospect, "text": "a person"},
        headers=AUTH,
    )
    assert resp.status_code == 201, resp.text
    with container.sessions.begin() as s:
        assert erase_conversation(
            s, prospect, reason="DSAR-2026-7", cause="request", now=clock.now()
        )
    with container.sessions() as s:
        [handoff] = s.scalars(select(Handoff)).all()
        [lead] = s.scalars(select(CrmDelivery).where(CrmDelivery.event == "lead.qualified")).all()
    assert json.loads(handoff.summary)["qualification"] is None
    assert lead.status == "cancelled"
    assert json.loads(lead.payload)["data"]["answers"] is None
    assert "mortgage" not in lead.payload and "mortgage" not in handoff.summary


def test_the_questions_are_worded_by_the_nlg_in_the_prospects_language(
    client: TestClient, container: Container, prospect: str
) -> None:
    def nlg(name: str) -> str:
        resp = client.post(
            f"/nlg?token={TOKEN}", json={"response": name, "tracker": {"sender_id": prospect}}
        )
        assert resp.status_code == 200, resp.text
        text: str = resp.json()["text"]
        return text

    assert nlg("utter_ask_country").startswith("Your number is from this country: Germany.")
    assert nlg("utter_ask_language").startswith("Shall we continue in English")
    say(client, "afternoons")
    assert "contact you in the afternoon" in nlg("utter_qualification_done")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"text": "x" * 4097}, 422),
        ({"intent": "affirm"}, 422),
        ({"text": "yes", "requested_slot": "shoe_size"}, 422),
    ],
)
def test_a_bad_body_is_422(client: TestClient, prospect: str, body: Any, status: int) -> None:
    assert client.post(URL, json=body, headers=AUTH).status_code == status


def test_no_token_is_401_and_an_unknown_conversation_404(client: TestClient, prospect: str) -> None:
    assert client.post(URL, json={"text": "hi"}).status_code == 401
    assert client.get(URL, headers={"Authorization": "Bearer wrong"}).status_code == 401
    unknown = "/api/v1/conversations/c-nobody/qualification"
    assert client.post(unknown, json={"text": "hi"}, headers=AUTH).status_code == 404
    assert client.get(unknown, headers=AUTH).status_code == 404


@pytest.mark.parametrize("closed", ["opted_out", "erased"])
def test_an_opted_out_or_erased_conversation_is_409(
    client: TestClient, container: Container, prospect: str, clock: FakeClock, closed: str
) -> None:
    with container.sessions.begin() as s:
        conv = s.get_one(Conversation, prospect)
        if closed == "opted_out":
            conv.state = "opted_out"
        else:
            conv.erased_at = clock.now()
    resp = client.post(URL, json={"text": "a mortgage"}, headers=AUTH)
    assert resp.status_code == 409
    assert client.get(URL, headers=AUTH).status_code == 409
