"""The secure chat beyond the page: the WhatsApp notice of an advisor's message (once,
only when the prospect is away, as a template outside the 24-hour window), the
redirect notice with a link back, the console's pane, evidence and erasure."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.adapters.db import SessionFactory
from bot.adapters.tables import Handoff, OutboxMessage
from bot.service_layer.erasure import erase_conversation
from tests.fakes.clock import FakeClock
from tests.integration.secure_chat_stack import PDF, World, csrf_field, open_chat, post_text
from tests.integration.test_protocol import IBAN, _link

NOTICE = "You have a new message in your secure channel: "


@pytest.fixture
def world(sessions: SessionFactory, clock: FakeClock) -> World:
    world = World(sessions, clock)
    world.add_user("anna@example.com")
    return world


def claimed(world: World) -> tuple[int, TestClient]:
    [handoff] = world.stack.rows(Handoff)
    api = world.api("anna@example.com")
    assert api.post(f"/api/v1/console/handoffs/{handoff.id}/claim").status_code == 200
    return handoff.id, api


def write(api: TestClient, handoff_id: int, text: str) -> None:
    response = api.post(f"/api/v1/handoffs/{handoff_id}/secure-messages", json={"text": text})
    assert response.status_code == 201, response.text


def delivered(world: World) -> list[str]:
    """What reaches the prospect on WhatsApp now."""
    return world.stack.wait(timedelta(0))


def test_one_notice_while_the_prospect_is_away_none_while_present(world: World) -> None:
    browser, _ = open_chat(world, world.to_secure_channel())
    handoff_id, api = claimed(world)
    browser.get("/secure/chat/messages")  # on the page now
    write(api, handoff_id, "Hello, I am Anna.")
    assert delivered(world) == []

    world.clock.advance(60)  # the page was closed
    write(api, handoff_id, "Are you there?")
    write(api, handoff_id, "I sent you the form.")
    [notice] = delivered(world)
    assert notice.startswith(NOTICE) and "/secure/invite/" in notice
    assert "Anna" not in notice and "form" not in notice

    # After the prospect looked again, the next absence brings one more notice.
    fresh, _ = open_chat(world, _link(notice))
    fresh.get("/secure/chat/messages")
    world.clock.advance(60)
    write(api, handoff_id, "One more thing.")
    assert [m.startswith(NOTICE) for m in delivered(world)] == [True]
    assert len(world.stack.rows(Handoff)) == 1


def test_a_page_that_says_it_was_hidden_is_away_at_once(world: World) -> None:
    """The prospect switches to another app: the page's beacon makes them away, so the
    advisor's next message brings the notice without waiting for the polls to stop."""
    browser, _ = open_chat(world, world.to_secure_channel())
    handoff_id, api = claimed(world)
    csrf = csrf_field(browser.get("/secure/chat").text)
    browser.get("/secure/chat/messages")
    assert browser.post("/secure/chat/leave", data={}).status_code == 403  # no CSRF token
    assert browser.post("/secure/chat/leave", data={"csrf": csrf}).status_code == 204
    write(api, handoff_id, "Hello, I am Anna.")
    [notice] = delivered(world)
    assert notice.startswith(NOTICE)

    # Back on the page a moment later (a poll), present again: no notice.
    world.clock.advance(5)
    browser.get("/secure/chat/messages")
    write(api, handoff_id, "Take your time.")
    assert delivered(world) == []


def test_outside_whatsapps_window_the_notice_goes_as_the_approved_template(world: World) -> None:
    open_chat(world, world.to_secure_channel())
    handoff_id, api = claimed(world)
    world.clock.advance(25 * 3600)
    write(api, handoff_id, "Your documents are ready.")
    [notice] = delivered(world)
    body, sid, variables = world.stack.sender.templates[-1]
    flow = world.stack.flows.current()
    assert sid == flow.templates["secure_message_notice"]["en"]
    assert notice == body and variables["1"] in body and "/secure/invite/" in variables["1"]


def test_the_redirect_notice_after_the_move_carries_a_link_back(world: World) -> None:
    open_chat(world, world.to_secure_channel())
    [notice] = world.stack.say(IBAN)
    flow = world.stack.flows.current()
    link = _link(notice)
    assert notice == flow.text("redirect_notice_secure", "en", link=link)
    browser, _ = open_chat(world, link)
    assert browser.get("/secure/chat").status_code == 200
    assert len(world.stack.rows(Handoff)) == 1
    # A public question still goes to the bot.
    world.stack.say("What are your opening hours?")
    assert world.stack.dialogue.calls[-1][1] == "What are your opening hours?"


def test_the_console_shows_the_chat_beside_the_transcript_and_the_claimer_writes(
    world: World,
) -> None:
    browser, _ = open_chat(world, world.to_secure_channel())
    assert post_text(browser, "Here is my question").status_code == 201
    world.add_user("ben@example.com")
    [handoff] = world.stack.rows(Handoff)
    ben = world.console("ben@example.com")
    page = ben.get(f"/console/handoffs/{handoff.id}")
    assert 'id="secure-pane"' in page.text and "Here is my question" in page.text
    assert 'id="secure-reply-text"' not in page.text  # not claimed by him: read only

    anna = world.console("anna@example.com")
    page = anna.get(f"/console/handoffs/{handoff.id}")
    anna.post(
        f"/console/handoffs/{handoff.id}/claim",
        data={"csrf": csrf_field(page.text), "back": "handoff"},
    )
    page = anna.get(f"/console/handoffs/{handoff.id}")
    for element in ("secure-reply-text", "secure-reply-send", "secure-reply-file"):
        assert f'id="{element}"' in page.text
    sent = anna.post(
        f"/console/handoffs/{handoff.id}/secure-messages",
        data={"csrf": csrf_field(page.text), "text": "Please sign this"},
        files={"file": ("form.pdf", PDF, "application/pdf")},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    polled = browser.get("/secure/chat/messages").json()["messages"]
    assert polled[-1]["text"] == "Please sign this" and polled[-1]["file"]["name"] == "form.pdf"
    assert browser.get(f"/secure/chat/files/{polled[-1]['id']}").content == PDF
    # Ben no longer reads it once Anna claimed it; a forged post is refused.
    forged = ben.post(
        f"/console/handoffs/{handoff.id}/secure-messages",
        data={"csrf": "forged", "text": "x"},
        follow_redirects=False,
    )
    assert forged.status_code == 403


def test_the_evidence_bundle_holds_the_secure_chat(world: World) -> None:
    browser, _ = open_chat(world, world.to_secure_channel())
    csrf = csrf_field(browser.get("/secure/chat").text)
    browser.post(
        "/secure/chat/messages",
        data={"text": "my statement"},
        files={"file": ("statement.pdf", PDF, "application/pdf")},
        headers={"Accept": "application/json", "X-CSRF-Token": csrf},
    )
    handoff_id, api = claimed(world)
    write(api, handoff_id, "Thank you")
    world.add_user("clara@example.com", "compliance")
    bundle = world.api("clara@example.com").get(f"/api/v1/console/handoffs/{handoff_id}/evidence")
    assert bundle.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(bundle.content))
    folder = f"evidence-{world.stack.conversation_id}/"

    def read(name: str) -> bytes:
        return archive.read(folder + name)

    secure = json.loads(read("secure_transcript.json"))
    assert [(m["author"], m["text"]) for m in secure] == [
        ("prospect", "my statement"),
        ("advisor", "Thank you"),
    ]
    name = secure[0]["attachment"]["file"]
    assert read(name) == PDF
    manifest = json.loads(read("manifest.json"))
    assert name in manifest["files"] and manifest["chain"]["intact"] is True
    assert "Thank you" in read("transcript.html").decode()
    events = json.loads(read("events.json"))
    sent = [e for e in events if e["kind"] == "secure_message_sent"]
    assert sent and sent[0]["content"]["text"] == "Thank you"
    assert sent[0]["content_matches_digest"] is True


def test_an_erased_conversations_chat_shows_erased_and_refuses(world: World) -> None:
    browser, _ = open_chat(world, world.to_secure_channel())
    assert post_text(browser, "my secret").status_code == 201
    handoff_id, _ = claimed(world)
    with world.container.sessions.begin() as s:
        assert erase_conversation(
            s, world.stack.conversation_id, reason="request", cause="request", now=world.clock.now()
        )
    assert browser.get("/secure/chat").status_code == 401
    world.add_user("clara@example.com", "compliance")
    clara = world.api("clara@example.com")
    chat = clara.get(f"/api/v1/handoffs/{handoff_id}/secure-messages").json()
    assert chat["erased"] is True and [m["text"] for m in chat["messages"]] == ["[erased]"]
    with world.container.sessions() as s:
        rows = s.scalars(select(OutboxMessage)).all()
    assert all(not re.search("secret", r.body) for r in rows)
