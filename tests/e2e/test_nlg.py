"""The real Rasa server takes every bot wording from gangway's NLG endpoint (flows/),
in the language of the conversation, instead of the texts in its trained domain."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.adapters.flow_files import DEFAULT_FLOW_PATH, load_flow
from bot.adapters.tables import Conversation
from bot.service_layer import flow_governance
from tests.e2e.conftest import Rasa, Stack
from tests.e2e.processes import wait_until
from tests.fakes.prospects import add_prospect

pytestmark = pytest.mark.e2e


def add_conversation(stack: Stack, conversation_id: str, number: str, language: str) -> None:
    sessions = stack.sessions()
    try:
        with sessions.begin() as s:
            add_prospect(
                s,
                number,
                Conversation(id=conversation_id, created_at=datetime.now(UTC), language=language),
            )
    finally:
        sessions.kw["bind"].dispose()


def talk_to_rasa(rasa: Rasa, sender: str, text: str) -> list[dict[str, Any]]:
    """One turn through Rasa's REST channel, as gangway's worker sends it."""
    reply = httpx.post(
        f"{rasa.url}/webhooks/rest/webhook",
        params={"token": rasa.token},
        json={"sender": sender, "message": text},
        timeout=60.0,
    )
    reply.raise_for_status()
    messages: list[dict[str, Any]] = reply.json()
    return messages


def test_rasa_greets_a_german_conversation_in_german(stack: Stack, rasa: Rasa) -> None:
    """Rasa's greeting for a conversation gangway knows as German is the flow's German text."""
    flow = load_flow(DEFAULT_FLOW_PATH)
    german, english = flow.response("utter_greet", "de"), flow.response("utter_greet", "en")
    assert german and english and german != english
    add_conversation(stack, "nlg-e2e-de", "whatsapp:+12025550131", "de")

    messages = talk_to_rasa(rasa, "nlg-e2e-de", "hi")

    # The greeting, then the first qualification question, both worded in German.
    question = flow.qualification.wording("utter_ask_product", "de") if flow.qualification else None
    assert [m.get("text") for m in messages] == [german, question]


def test_rasa_uses_the_default_language_for_an_unknown_sender(stack: Stack, rasa: Rasa) -> None:
    """A sender gangway has no conversation for gets the flow's default language."""
    flow = load_flow(DEFAULT_FLOW_PATH)
    messages = talk_to_rasa(rasa, "nlg-e2e-nobody", "hi")
    assert messages[0].get("text") == flow.response("utter_greet", None)


def test_a_wording_edit_reaches_rasa_without_retraining(
    stack: Stack, rasa: Rasa, tmp_path: Path
) -> None:
    """Marketing edits the German greeting; once compliance approves it, the running Rasa
    sends the new text, without a restart or retraining."""
    flow_file = tmp_path / "flow.yml"
    shutil.copy(DEFAULT_FLOW_PATH, flow_file)
    assert stack.service is not None
    stack.service.stop()
    stack.env["GANGWAY_FLOW"] = str(flow_file)
    stack.start_service()
    add_conversation(stack, "nlg-e2e-edit", "whatsapp:+12025550132", "de")
    german = load_flow(flow_file).response("utter_greet", "de")
    assert german and talk_to_rasa(rasa, "nlg-e2e-edit", "hi")[0].get("text") == german

    edited = "Guten Tag! Hier schreibt der Assistent der Example Bank. Worum geht es heute?"
    flow_file.write_text(flow_file.read_text(encoding="utf-8").replace(german, edited))

    # The service proposes the saved file; it is not in force until compliance approves.
    sessions = stack.sessions()
    try:
        wait_until(
            lambda: bool(flow_governance.pending_changes(sessions)), 30, "the edit is pending"
        )
        assert talk_to_rasa(rasa, "nlg-e2e-edit", "hallo")[0].get("text") == german
        [change] = flow_governance.pending_changes(sessions)
        flow_governance.approve(
            sessions, change.version.ref, "clara (compliance)", None, datetime.now(UTC)
        )
    finally:
        sessions.kw["bind"].dispose()
    wait_until(
        lambda: talk_to_rasa(rasa, "nlg-e2e-edit", "hallo")[0].get("text") == edited,
        30,
        "the approved wording reaches Rasa",
        interval=0.5,
    )
