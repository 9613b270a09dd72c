"""Advisors and WhatsApp's 24-hour window, in the console's pages and its JSON API: a
free-form reply after the window closed is refused in plain words (when it closed, that
only a template may go), and the flow's follow-up template is offered and sent instead."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH, FlowStore
from bot.adapters.tables import OutboxMessage
from bot.config import load_settings
from bot.domain.flows import Flow
from bot.service_layer.receiving import record_status
from tests.fakes.clock import FakeClock
from tests.fakes.prospects import opened
from tests.integration.test_console import (
    PASSPORT,
    FakeContainer,
    add_handoff,
    add_user,
    make_app,
    make_container,
    outbox,
    post_form,
    signed_in,
)
from tests.integration.test_console_api import api_client

BASE = "/api/v1/console"
LATER = timedelta(hours=25)


@pytest.fixture
def container(sessions: SessionFactory, clock: FakeClock) -> FakeContainer:
    container = make_container(sessions, clock)
    add_user(sessions, clock, "anna@example.com", "advisor", "berlin")
    add_user(sessions, clock, "clara@example.com", "compliance")
    return container


@pytest.fixture
def app(container: FakeContainer) -> FastAPI:
    return make_app(container)


@pytest.fixture
def flow(container: FakeContainer) -> Flow:
    return container.flows.current()


def templates_sent(container: FakeContainer) -> list[tuple[str | None, dict[str, str]]]:
    with container.sessions.begin() as s:
        rows = s.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars()
        return [
            (
                o.content_sid,
                json.loads(
                    opened(s, o.conversation_id, "content_variables", o.content_variables or "")
                    or "{}"
                ),
            )
            for o in rows
        ]


# -- the JSON API -----------------------------------------------------------------------


def test_inside_the_window_the_api_replies_as_before_and_says_when_it_closes(
    app: FastAPI, container: FakeContainer
) -> None:
    """23 hours after the prospect wrote, a reply is queued as free-form text."""
    hid = add_handoff(container, 1)
    container.clock.advance(timedelta(hours=23).total_seconds())
    anna = api_client(app, container, "anna@example.com")
    anna.post(f"{BASE}/handoffs/{hid}/claim").raise_for_status()
    detail = anna.get(f"{BASE}/handoffs/{hid}").json()
    assert (detail["can_reply"], detail["reply_refusal"], detail["follow_up"]) == (
        True,
        None,
        None,
    )
    assert detail["window_closes_at"].startswith("2026-11-23T08:55")  # 24 h, less the margin
    sent = anna.post(f"{BASE}/handoffs/{hid}/reply", json={"text": "Still with you"})
    assert sent.status_code == 201
    assert templates_sent(container) == [(None, {})]


def test_after_the_window_the_api_refuses_a_reply_and_sends_the_follow_up_template(
    app: FastAPI, container: FakeContainer, flow: Flow
) -> None:
    """409 with when the window closed; the detail offers the template's text, and
    POST /follow-up queues it as the flow's approved template with the advisor's name."""
    hid = add_handoff(container, 1)
    container.clock.advance(LATER.total_seconds())
    anna = api_client(app, container, "anna@example.com")
    anna.post(f"{BASE}/handoffs/{hid}/claim").raise_for_status()
    refused = anna.post(f"{BASE}/handoffs/{hid}/reply", json={"text": "Are you still there?"})
    assert refused.status_code == 409
    reason = refused.json()["detail"]
    assert "24-hour window" in reason and "closed at 2026-11-23 08:55 UTC" in reason
    assert "only an approved template" in reason
    assert outbox(container) == []

    detail = anna.get(f"{BASE}/handoffs/{hid}").json()
    wording = flow.text("advisor_follow_up", "en", advisor="Anna")
    assert (detail["can_reply"], detail["reply_refusal"]) == (False, reason)
    assert detail["follow_up"] == wording

    sent = anna.post(f"{BASE}/handoffs/{hid}/follow-up")
    assert sent.status_code == 201
    assert sent.json()["text"] == wording and sent.json()["status"] == "pending"
    assert outbox(container) == [("advisor", wording, "whatsapp:+12025550101")]
    assert templates_sent(container) == [(flow.templates["advisor_follow_up"]["en"], {"1": "Anna"})]


def test_the_follow_up_is_refused_where_a_reply_would_be(
    app: FastAPI, container: FakeContainer
) -> None:
    """Read-only roles get 403; a conversation at the threshold gets 409: the secure channel."""
    mine = add_handoff(container, 1)
    above = add_handoff(
        container, 2, messages=((PASSPORT, "identity"),), level="identity", reason="threshold"
    )
    container.clock.advance(LATER.total_seconds())
    clara = api_client(app, container, "clara@example.com")
    assert clara.post(f"{BASE}/handoffs/{mine}/follow-up").status_code == 403
    anna = api_client(app, container, "anna@example.com")
    anna.post(f"{BASE}/handoffs/{above}/claim").raise_for_status()
    at_threshold = anna.post(f"{BASE}/handoffs/{above}/follow-up")
    assert at_threshold.status_code == 409 and "secure channel" in at_threshold.json()["detail"]
    assert anna.get(f"{BASE}/handoffs/{above}").json()["follow_up"] is None
    assert outbox(container) == []


def test_without_a_follow_up_template_nothing_is_offered(
    sessions: SessionFactory, clock: FakeClock, tmp_path: Path
) -> None:
    """A flow without `templates.advisor_follow_up`: the detail offers nothing and the
    follow-up answers 409 saying the flow has none."""
    text = DEFAULT_FLOW_PATH.read_text(encoding="utf-8")
    start = text.index("  advisor_follow_up:\n    en: HX")
    end = text.index("\n\n", start)
    path = tmp_path / "flow.yml"
    path.write_text(text[:start] + text[end + 1 :], encoding="utf-8")
    container = FakeContainer(
        sessions,
        clock,
        load_settings({"GANGWAY_PUBLIC_URL": "http://testserver"}),
        FlowStore(path, DEFAULT_DOMAIN_PATH),
    )
    assert "advisor_follow_up" not in container.flows.current().templates
    add_user(sessions, clock, "anna@example.com", "advisor", "berlin")
    app = make_app(container)
    hid = add_handoff(container, 1)
    clock.advance(LATER.total_seconds())
    anna = api_client(app, container, "anna@example.com")
    anna.post(f"{BASE}/handoffs/{hid}/claim").raise_for_status()
    assert anna.get(f"{BASE}/handoffs/{hid}").json()["follow_up"] is None
    refused = anna.post(f"{BASE}/handoffs/{hid}/follow-up")
    assert refused.status_code == 409 and "advisor_follow_up" in refused.json()["detail"]


def test_the_openapi_document_lists_the_follow_up(app: FastAPI) -> None:
    """The follow-up is a documented operation with bearer auth and its 409."""
    operation = app.openapi()["paths"][f"{BASE}/handoffs/{{handoff_id}}/follow-up"]["post"]
    assert operation["security"] == [{"HTTPBearer": []}]
    assert {"201", "403", "404", "409"} <= set(operation["responses"])


# -- the console's pages ----------------------------------------------------------------


def test_after_the_window_the_page_explains_and_offers_the_template_instead(
    app: FastAPI, container: FakeContainer, flow: Flow
) -> None:
    """No reply box but the reason and a follow-up button; a reply posted anyway is 409 with
    the reason; the button queues the template, which then shows in the transcript."""
    hid = add_handoff(container, 1)
    container.clock.advance(LATER.total_seconds())
    with signed_in(app, "anna@example.com") as anna:
        post_form(anna, f"/console/handoffs/{hid}/claim")
        page = anna.get(f"/console/handoffs/{hid}").text
        wording = flow.text("advisor_follow_up", "en", advisor="Anna")
        assert 'data-testid="reply-form"' not in page
        assert "closed at 2026-11-23 08:55 UTC" in page
        assert 'data-testid="follow-up-form"' in page and wording in page

        refused = post_form(anna, f"/console/handoffs/{hid}/reply", text="Hello again")
        assert refused.status_code == 409
        assert "only an approved template" in refused.text
        assert 'data-testid="follow-up-form"' in refused.text
        assert outbox(container) == []

        sent = post_form(anna, f"/console/handoffs/{hid}/follow-up")
        assert sent.status_code == 303
        assert outbox(container) == [("advisor", wording, "whatsapp:+12025550101")]
        assert templates_sent(container)[0][0] == flow.templates["advisor_follow_up"]["en"]
        assert wording in anna.get(f"/console/handoffs/{hid}").text


def test_inside_the_window_the_page_has_the_reply_box_and_no_follow_up(
    app: FastAPI, container: FakeContainer
) -> None:
    """While the prospect wrote less than a day ago the console works as it always did."""
    hid = add_handoff(container, 1)
    with signed_in(app, "anna@example.com") as anna:
        post_form(anna, f"/console/handoffs/{hid}/claim")
        page = anna.get(f"/console/handoffs/{hid}").text
        assert 'data-testid="reply-form"' in page
        assert 'data-testid="follow-up-form"' not in page


def test_a_failed_message_shows_why_in_the_transcript(
    app: FastAPI, container: FakeContainer
) -> None:
    """A reply WhatsApp refused with 63016 is marked failed with the plain reason."""
    hid = add_handoff(container, 1)
    with signed_in(app, "anna@example.com") as anna:
        post_form(anna, f"/console/handoffs/{hid}/claim")
        post_form(anna, f"/console/handoffs/{hid}/reply", text="Hello")
        sid = "SM" + "1" * 32
        with container.sessions.begin() as s:  # the worker sent it; Twilio took it
            row = s.execute(select(OutboxMessage)).scalar_one()
            row.status, row.provider_sid = "queued", sid
        with container.sessions.begin() as s:  # then its status callback
            record_status(
                s, sid=sid, status="failed", error_code="63016", now=container.clock.now()
            )
        page = anna.get(f"/console/handoffs/{hid}").text
        assert 'data-testid="message-error"' in page and "Twilio error 63016" in page
