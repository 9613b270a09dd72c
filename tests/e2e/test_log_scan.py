"""The service's log of a journey through the threshold, as `gangway serve` writes it
with GANGWAY_LOG_FORMAT=json (the harness always runs the service so): every line is
a JSON object with a request id, the lines about the conversation name it, and no line
holds the prospect's number, in any of its forms, or anything said either way.

The prospect types in the sandbox, which signs and posts the webhooks as Twilio does;
the real Rasa answers below the threshold; the service's own log file is read after
it stopped.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.adapters.tables import Conversation, InboxMessage, OutboxMessage
from bot.adapters.vault import vault_of
from tests.e2e.conftest import Stack
from tests.e2e.processes import wait_until
from tests.log_scan import json_lines, leaks, number_forms, text_fragments

pytestmark = pytest.mark.e2e

NUMBER = "whatsapp:+447700900456"  # Ofcom's range for drama
SAID = [
    "Good morning, what are your opening hours please?",
    "My passport number is C01X00T47",
    "yes",
]


def conversation_id(stack: Stack) -> str | None:
    with stack.sessions()() as s:
        return s.execute(
            select(Conversation.id).where(Conversation.number_hmac == vault_of(s).lookup(NUMBER))
        ).scalar_one_or_none()


def settled(stack: Stack, sid: str) -> bool:
    """The message is answered (or withheld) and nothing is left to send."""
    with stack.sessions()() as s:
        status = s.execute(
            select(InboxMessage.status).where(InboxMessage.message_sid == sid)
        ).scalar_one_or_none()
        unsent = s.execute(
            select(OutboxMessage.id).where(OutboxMessage.status.in_(("pending", "sending")))
        ).first()
    return status not in (None, "pending") and unsent is None


def test_the_service_log_of_a_journey_has_ids_and_nothing_said(stack: Stack) -> None:
    for text in SAID:
        typed = stack.http.post(
            f"{stack.sandbox_url}/sandbox/api/inbound", json={"from": NUMBER, "body": text}
        )
        assert typed.status_code < 300 and typed.json()["webhook_status"] == 200, typed.text
        sid = typed.json()["message_sid"]
        wait_until(lambda sid=sid: settled(stack, sid), 90, f"{text!r} to be answered")
    replies = [m["body"] for m in stack.received(NUMBER)]
    assert any("http" in body for body in replies[-1:]), replies  # the secure-channel link
    conversation = conversation_id(stack)
    assert conversation is not None
    assert stack.service is not None and stack.sandbox is not None
    stack.service.stop()  # everything it wrote is in its file now

    lines = json_lines(stack.service.log_path.read_text())
    about = [line for line in lines if line.get("conversation_id") == conversation]
    # Each message classified and answered or withheld, each reply sent.
    assert len(about) >= len(SAID) + len(replies), lines
    assert all(line["request_id"] for line in about)
    sids = {w for line in about for w in line["message"].split() if w.startswith("SM")}
    naming = [line for line in lines if any(sid in line["message"] for sid in sids)]
    assert all(line.get("conversation_id") == conversation for line in naming), naming
    # uvicorn's access lines are there, each with the id the request went by.
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert any("POST /webhooks/twilio/whatsapp" in line["message"] for line in access), lines
    assert all(line["request_id"] for line in access)

    forbidden = number_forms(NUMBER) + text_fragments([*SAID, *replies])
    assert leaks(lines, forbidden) == []
    sandbox_lines = json_lines(stack.sandbox.log_path.read_text())
    assert leaks(sandbox_lines, text_fragments([*SAID, *replies])) == []
