"""POST /nlg, Rasa's NLG endpoint: wording from flows/ in the conversation's language."""

from __future__ import annotations

import itertools
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH, FlowStore
from bot.adapters.tables import Conversation
from bot.config import Settings, load_settings
from bot.entrypoints.routes import nlg
from tests.fakes.prospects import add_prospect

TOKEN = "nlg-test-token"
PHONE_SUFFIXES = itertools.count(101)  # 555-0101, 555-0102, ...: fictional numbers
GREETING = {
    "en": "Hi! I'm the virtual assistant of Example Bank.",
    "de": "Hallo! Ich bin der virtuelle Assistent der Example Bank.",
    "fr": "Bonjour ! Je suis l'assistant virtuel d'Example Bank.",
}


@dataclass
class FakeContainer:
    settings: Settings
    sessions: SessionFactory
    flows: FlowStore


@pytest.fixture
def flow_file(tmp_path: Path) -> Path:
    """A copy of the shipped flow, so a test may edit it as marketing would."""
    path = tmp_path / "flow.yml"
    shutil.copy(DEFAULT_FLOW_PATH, path)
    return path


def make_client(sessions: SessionFactory, flow_file: Path, token: str | None = TOKEN) -> TestClient:
    app = FastAPI()
    app.include_router(nlg.router)
    settings = load_settings({"GANGWAY_SERVICE_TOKEN": token} if token else {})
    app.state.container = FakeContainer(
        settings, sessions, FlowStore(flow_file, DEFAULT_DOMAIN_PATH)
    )
    return TestClient(app)


@pytest.fixture
def client(sessions: SessionFactory, flow_file: Path) -> TestClient:
    return make_client(sessions, flow_file)


def add_conversation(sessions: SessionFactory, conversation_id: str, language: str | None) -> None:
    with sessions.begin() as s:
        add_prospect(
            s,
            f"whatsapp:+12025550{next(PHONE_SUFFIXES)}",
            Conversation(
                id=conversation_id,
                created_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
                language=language,
            ),
        )


def rasa_body(response: str, sender: str) -> dict[str, Any]:
    """The request Rasa 3.6's callback NLG sends (tracker shortened)."""
    return {
        "response": response,
        "id": None,
        "arguments": {},
        "tracker": {
            "sender_id": sender,
            "slots": {},
            "latest_message": {"text": "hallo", "intent": {"name": "greet"}},
            "events": [{"event": "user", "text": "hallo"}],
            "paused": False,
            "latest_input_channel": "rest",
        },
        "channel": {"name": "rest"},
    }


def ask(client: TestClient, response: str, sender: str, token: str | None = TOKEN) -> Any:
    params = {"token": token} if token is not None else {}
    return client.post("/nlg", params=params, json=rasa_body(response, sender))


def test_wording_in_the_conversations_language(
    client: TestClient, sessions: SessionFactory
) -> None:
    """A German conversation gets the German greeting from the flow, as Rasa expects it."""
    add_conversation(sessions, "conv-de", "de")
    add_conversation(sessions, "conv-fr", "fr")
    de = ask(client, "utter_greet", "conv-de")
    assert de.status_code == 200
    assert de.json()["text"].startswith(GREETING["de"])
    assert set(de.json()) == {"text"}
    assert ask(client, "utter_greet", "conv-fr").json()["text"].startswith(GREETING["fr"])


@pytest.mark.parametrize("known", [False, True], ids=["unknown sender", "language not known yet"])
def test_default_language_when_none_is_known(
    client: TestClient, sessions: SessionFactory, known: bool
) -> None:
    """A sender gangway does not know, or a conversation without a language, gets English."""
    if known:
        add_conversation(sessions, "conv-new", None)
    reply = ask(client, "utter_greet", "conv-new")
    assert reply.status_code == 200
    assert reply.json()["text"].startswith(GREETING["en"])


def test_edited_wording_is_served_without_restart(
    client: TestClient, sessions: SessionFactory, flow_file: Path
) -> None:
    """Marketing edits the German greeting; the next request gets the new text."""
    add_conversation(sessions, "conv-de", "de")
    assert ask(client, "utter_greet", "conv-de").json()["text"].startswith(GREETING["de"])
    text = flow_file.read_text(encoding="utf-8")
    assert GREETING["de"] in text
    flow_file.write_text(text.replace(GREETING["de"], "Guten Tag, hier ist Example Bank."))
    assert ask(client, "utter_greet", "conv-de").json()["text"].startswith("Guten Tag, hier ist")


@pytest.mark.parametrize("token", [None, "", "wrong-token"], ids=["missing", "empty", "wrong"])
def test_wrong_or_missing_token_is_refused(client: TestClient, token: str | None) -> None:
    """Without the service token nobody reads wordings: 401."""
    reply = ask(client, "utter_greet", "conv-x", token=token)
    assert reply.status_code == 401
    assert "token" in reply.json()["detail"]


def test_no_token_configured_refuses_everyone(sessions: SessionFactory, flow_file: Path) -> None:
    """A service without GANGWAY_SERVICE_TOKEN answers 503 saying what to set."""
    client = make_client(sessions, flow_file, token=None)
    reply = ask(client, "utter_greet", "conv-x", token="anything")
    assert reply.status_code == 503
    assert "GANGWAY_SERVICE_TOKEN" in reply.json()["detail"]


def test_unknown_response_is_404_with_a_plain_reason(client: TestClient) -> None:
    """A response the flow does not word is refused, naming it, rather than made up."""
    reply = ask(client, "utter_no_such_thing", "conv-x")
    assert reply.status_code == 404
    assert "no wording for 'utter_no_such_thing'" in reply.json()["detail"]


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b'{"response": "utter_greet"}',
        b'{"response": "", "tracker": {"sender_id": "a"}}',
    ],
    ids=["not json", "no tracker", "empty response name"],
)
def test_malformed_body_is_422(client: TestClient, content: bytes) -> None:
    """A body that is not Rasa's NLG request is refused with 422."""
    reply = client.post(
        "/nlg",
        params={"token": TOKEN},
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == 422


def test_token_is_checked_before_the_body(client: TestClient) -> None:
    """An unauthenticated caller gets 401 whatever it sends, learning nothing of the format."""
    reply = client.post("/nlg", content=b"not json", headers={"Content-Type": "application/json"})
    assert reply.status_code == 401
