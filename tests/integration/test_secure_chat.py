"""The built-in secure chat, through HTTP: the link opens it on one device, the session
ends when idle or too old, "new link" brings the prospect back without a second
handoff, both sides write and send files, and the advisor's messages reach the page."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory
from bot.adapters.tables import AuditLog, Handoff, SecureMessage, SecureSession
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock
from tests.integration.secure_chat_stack import (
    PDF,
    World,
    csrf_field,
    open_chat,
    post_text,
)
from tests.integration.test_protocol import _link


@pytest.fixture
def world(sessions: SessionFactory, clock: FakeClock) -> World:
    return World(sessions, clock)


def kinds(world: World) -> list[str]:
    with chained(world.container.sessions)() as s:
        return list(s.scalars(select(AuditLog.kind).order_by(AuditLog.seq)))


def handoffs(world: World) -> list[Handoff]:
    return world.stack.rows(Handoff)


def test_the_link_opens_the_chat_with_a_safe_cookie_bound_to_that_browser(world: World) -> None:
    link = world.to_secure_channel()
    browser, redeemed = open_chat(world, link)
    cookie = redeemed.headers["set-cookie"]
    assert cookie.startswith("gangway_secure=")
    for attribute in ("HttpOnly", "SameSite=strict", "Secure", "Path=/secure"):
        assert attribute.lower() in cookie.lower()
    page = browser.get("/secure/chat")
    assert page.status_code == 200
    assert "You're in the secure channel" in page.text.replace("&#39;", "'")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "noindex" in page.headers["x-robots-tag"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text  # no inline script
    for element in ("secure-messages", "secure-text", "secure-send", "secure-file"):
        assert f'id="{element}"' in page.text
    token = browser.cookies["gangway_secure"]
    with world.container.sessions() as s:
        stored = list(s.scalars(select(SecureSession.token_sha256)))
    assert len(stored) == 1 and token not in stored[0]
    assert world.stack.conversation().state == "handed_off"
    assert len(handoffs(world)) == 1

    # The link worked once; another device (no cookie) is refused with the way back.
    other = world.browser()
    assert other.post(link.removeprefix("https://gangway.example.com")).status_code == 410
    refused = other.get("/secure/chat")
    assert refused.status_code == 403
    assert "new link" in refused.text.replace("&#39;", "'")
    assert other.get("/secure/chat/messages").status_code == 403


def test_an_idle_session_and_an_old_one_end(world: World) -> None:
    link = world.to_secure_channel()
    browser, _ = open_chat(world, link)
    world.clock.advance(29 * 60)
    assert browser.get("/secure/chat/messages").status_code == 200
    world.clock.advance(30 * 60)
    ended = browser.get("/secure/chat")
    assert ended.status_code == 401
    assert "write 'new link' to us on WhatsApp" in ended.text.replace("&#39;", "'")
    assert "secure_session_ended" in kinds(world)

    # Polling keeps it alive, but never past the absolute limit (12 h).
    world.stack.say("new link")
    browser, _ = open_chat(world, _link(world.stack.sender.sent[-1].body))
    for _ in range(12 * 4):
        world.clock.advance(15 * 60)
        response = browser.get("/secure/chat/messages")
    assert response.status_code == 401


def test_the_page_is_in_the_conversations_language(world: World) -> None:
    world.stack.say("Hallo, ich habe eine Frage")
    world.stack.say("Meine Passnummer ist C01X00T47")
    [invite] = world.stack.say("ja")
    browser, _ = open_chat(world, _link(invite))
    page = browser.get("/secure/chat")
    assert '<html lang="de">' in page.text and "Sie sind im sicheren Kanal" in page.text
    world.clock.advance(31 * 60)
    assert "neuer Link" in browser.get("/secure/chat").text


def test_new_link_after_the_handoff_opens_a_new_session_without_a_second_handoff(
    world: World,
) -> None:
    link = world.to_secure_channel()
    first, _ = open_chat(world, link)
    [fresh] = world.stack.say("new link")
    assert "/secure/invite/" in fresh
    second, _ = open_chat(world, _link(fresh))
    assert second.get("/secure/chat").status_code == 200
    assert first.get("/secure/chat").status_code == 401  # the newest device only
    assert len(handoffs(world)) == 1
    assert world.stack.conversation().state == "handed_off"
    assert "secure_chat_reentered" in kinds(world)
    # The link is kept as a placeholder in the outbox, never in clear.
    from bot.adapters.tables import OutboxMessage
    from bot.service_layer.outbox import shown_body

    with world.container.sessions() as s:
        bodies = [shown_body(s, row) for row in s.scalars(select(OutboxMessage))]
    assert not any("/secure/invite/" in body for body in bodies)


def test_the_prospect_writes_and_sends_a_file_and_the_claiming_advisor_sees_and_answers(
    world: World,
) -> None:
    anna = world.add_user("anna@example.com")
    world.add_user("ben@example.com")
    link = world.to_secure_channel()
    browser, _ = open_chat(world, link)
    sent = post_text(browser, "My account is DE89 3704 0044 0532 0130 00")
    assert sent.status_code == 201, sent.text
    csrf = csrf_field(browser.get("/secure/chat").text)
    with_file = browser.post(
        "/secure/chat/messages",
        data={"text": "my statement"},
        files={"file": ("statement.pdf", PDF, "application/pdf")},
        headers={"Accept": "application/json", "X-CSRF-Token": csrf},
    )
    assert with_file.status_code == 201, with_file.text
    assert with_file.json()["file"]["name"] == "statement.pdf"

    [handoff] = handoffs(world)
    api = world.api("anna@example.com")
    listed = api.get(f"/api/v1/handoffs/{handoff.id}/secure-messages")
    assert listed.status_code == 200
    texts = [m["text"] for m in listed.json()["messages"]]
    assert texts == ["My account is DE89 3704 0044 0532 0130 00", "my statement"]
    file_url = listed.json()["messages"][1]["file"]["url"]
    got = api.get(file_url)
    assert got.content == PDF
    assert got.headers["content-disposition"].startswith("attachment")
    assert got.headers["x-content-type-options"] == "nosniff"

    # Writing needs the claim: Ben has not claimed it, nor has Anna yet.
    ben = world.api("ben@example.com")
    body = {"text": "Hello"}
    assert ben.post(f"/api/v1/handoffs/{handoff.id}/secure-messages", json=body).status_code == 403
    assert api.post(f"/api/v1/handoffs/{handoff.id}/secure-messages", json=body).status_code == 403
    assert api.post(f"/api/v1/console/handoffs/{handoff.id}/claim").status_code == 200
    reply = api.post(
        f"/api/v1/handoffs/{handoff.id}/secure-messages", json={"text": "Thanks, got it."}
    )
    assert reply.status_code == 201, reply.text
    # Once claimed, Ben no longer reads it; compliance reads it but may not write.
    assert ben.post(f"/api/v1/handoffs/{handoff.id}/secure-messages", json=body).status_code == 404
    world.add_user("clara@example.com", "compliance")
    clara = world.api("clara@example.com")
    assert clara.get(f"/api/v1/handoffs/{handoff.id}/secure-messages").status_code == 200
    refused = clara.post(f"/api/v1/handoffs/{handoff.id}/secure-messages", json=body)
    assert refused.status_code == 403

    # The advisor's answer reaches the prospect's poll, with the advisor's name, and is seen.
    after = with_file.json()["id"]
    polled = browser.get(f"/secure/chat/messages?after={after}").json()["messages"]
    assert [(m["author"], m["advisor"], m["text"]) for m in polled] == [
        ("advisor", "Anna", "Thanks, got it.")
    ]
    seen = api.get(f"/api/v1/handoffs/{handoff.id}/secure-messages").json()["messages"][-1]
    assert seen["seen"] is True
    the_file = browser.get(f"/secure/chat/files/{after}")
    assert the_file.content == PDF and the_file.headers["content-disposition"].startswith(
        "attachment"
    )

    # Every message is in the audit chain, its content sealed, and the chain verifies.
    assert kinds(world).count("secure_message_received") == 2
    assert kinds(world).count("secure_message_sent") == 1
    with chained(world.container.sessions)() as s:
        count, broken = audit_log.verify(s)
        assert broken is None and count > 0
        raw = [r.payload for r in s.scalars(select(AuditLog))]
        stored = [m.body for m in s.scalars(select(SecureMessage))]
    assert not any("DE89" in p for p in raw) and not any("DE89" in b for b in stored)
    assert anna


def test_a_post_without_the_csrf_token_is_refused(world: World) -> None:
    browser, _ = open_chat(world, world.to_secure_channel())
    refused = browser.post(
        "/secure/chat/messages", data={"text": "hi"}, headers={"Accept": "application/json"}
    )
    assert refused.status_code == 403
    wrong = post_text(browser, "hi", **{"X-CSRF-Token": "0" * 64})
    assert wrong.status_code == 403
    with world.container.sessions() as s:
        assert s.scalars(select(SecureMessage)).all() == []


def test_an_oversized_or_foreign_file_is_refused(world: World) -> None:
    browser, _ = open_chat(world, world.to_secure_channel())
    csrf = csrf_field(browser.get("/secure/chat").text)
    headers = {"Accept": "application/json", "X-CSRF-Token": csrf}
    big = PDF + b"0" * (10 * 1024 * 1024)
    too_big = browser.post(
        "/secure/chat/messages",
        files={"file": ("big.pdf", big, "application/pdf")},
        headers=headers,
    )
    assert too_big.status_code == 413
    script = browser.post(
        "/secure/chat/messages",
        files={"file": ("x.pdf", b"<script>alert(1)</script>", "application/pdf")},
        headers=headers,
    )
    assert script.status_code == 415
