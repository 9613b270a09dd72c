"""The advisor console's pages: signing in and out, CSRF, the sign-in rate limit, who
sees which handoff, claiming and releasing, and replying below the threshold only."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.adapters import accounts, audit_log
from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH, FlowStore
from bot.adapters.routing_file import RoutingStore
from bot.adapters.tables import (
    Consent,
    Conversation,
    Handoff,
    InboxMessage,
    Invite,
    MessageClassification,
    OutboxMessage,
)
from bot.config import Settings, load_settings
from bot.entrypoints.routes import console, console_api, console_figures
from bot.service_layer import handoffs
from bot.service_layer.handoffs import Route
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock
from tests.fakes.prospects import add_prospect, opened, sealed

PASSWORD = "correct horse battery staple"
PASSPORT = "C01X00T47"


# -- a container for the console's routes -----------------------------------------------


class QueueRouter:
    """Every handoff goes to the general queue, nobody assigned."""

    def route(self, session: Session, handoff: Handoff, now: datetime) -> Route:
        return Route("general", None, "test", timedelta(minutes=15))

    def escalation_target(self, session: Session, handoff: Handoff) -> int | None:
        return None


@dataclass
class RecordedEvents:
    calls: list[tuple[str, int]] = field(default_factory=list)

    def record(self, session: Session, *, event: str, handoff: Handoff, now: datetime) -> None:
        self.calls.append((event, handoff.id))


@dataclass
class FakeContainer:
    sessions: SessionFactory
    clock: FakeClock
    settings: Settings
    flows: FlowStore
    handoff_router: QueueRouter = field(default_factory=QueueRouter)
    handoff_events: RecordedEvents = field(default_factory=RecordedEvents)
    routing: RoutingStore = field(default_factory=RoutingStore)


def make_container(
    sessions: SessionFactory, clock: FakeClock, public_url: str = "http://testserver"
) -> FakeContainer:
    return FakeContainer(
        sessions,
        clock,
        load_settings({"GANGWAY_PUBLIC_URL": public_url}),
        FlowStore(DEFAULT_FLOW_PATH, DEFAULT_DOMAIN_PATH),
    )


def make_app(container: Any) -> FastAPI:
    app = FastAPI()
    app.include_router(console.router)
    app.include_router(console_figures.router)
    app.include_router(console_api.router)
    app.state.container = container
    return app


# -- data -------------------------------------------------------------------------------


def add_user(
    sessions: SessionFactory,
    clock: FakeClock,
    email: str,
    role: str,
    team: str | None = None,
    *,
    countries: tuple[str, ...] = ("*",),
    products: tuple[str, ...] = ("*",),
    languages: tuple[str, ...] = (),
) -> int:
    """A user; an advisor is licensed for every country and product unless told."""
    licensed = role == "advisor"
    with sessions.begin() as s:
        user = accounts.create_user(
            s,
            email=email,
            display_name=email.split("@")[0].title(),
            role=role,
            password=PASSWORD,
            team=team,
            now=clock.now(),
            countries=countries if licensed else (),
            products=products if licensed else (),
            languages=languages,
        )
        return user.id


def add_handoff(
    container: FakeContainer,
    n: int,
    *,
    messages: tuple[tuple[str, str], ...] = (("hi", "public"),),
    level: str = "public",
    reason: str = "human_request",
) -> int:
    """A conversation with these (text, level) inbound messages and its open handoff."""
    now = container.clock.now()
    cid = f"conv-{n}"
    with container.sessions.begin() as s:
        add_prospect(
            s,
            f"whatsapp:+120255501{n:02d}",
            Conversation(
                id=cid,
                created_at=now,
                state="handoff_requested" if reason == "human_request" else "handed_off",
                level=level,
                language="en",
                # As receiving a message records it: WhatsApp's window is open.
                last_inbound_at=now + timedelta(seconds=len(messages) - 1),
            ),
        )
        s.flush()
        for i, (text, msg_level) in enumerate(messages):
            inbox = InboxMessage(
                message_sid=f"SM{n:02d}{i:030d}",
                conversation_id=cid,
                body=sealed(s, cid, "body", text),
                params=sealed(s, cid, "params", "{}"),
                received_at=now + timedelta(seconds=i),
                status="done",
                next_attempt_at=now,
            )
            s.add(inbox)
            s.flush()
            evidence = (
                []
                if msg_level == "public"
                else [
                    {
                        "source": "detector",
                        "name": "passport_number",
                        "level": msg_level,
                        "span": [22, 31],
                        "confidence": 1.0,
                    }
                ]
            )
            s.add(
                MessageClassification(
                    inbox_id=inbox.id,
                    conversation_id=cid,
                    level=msg_level,
                    evidence=json.dumps(evidence),
                    language="en",
                    forwarded=msg_level == "public",
                    classified_at=now,
                )
            )
            if msg_level != "public":
                shown = "Our terms ... Do you agree?"
                consent = Consent(
                    conversation_id=cid,
                    terms_version="2026-01",
                    terms_url="https://example.com/terms/2026-01",
                    language="en",
                    shown_text=sealed(s, cid, "consent_text", shown),
                    shown_sha256=hashlib.sha256(shown.encode()).hexdigest(),
                    offered_at=now,
                    trigger_inbox_id=inbox.id,
                    decision="agreed",
                    decided_at=now,
                )
                s.add(consent)
                s.flush()
                s.add(
                    Invite(
                        conversation_id=cid,
                        consent_id=consent.id,
                        provider="builtin",
                        token_sha256=hashlib.sha256(cid.encode()).hexdigest(),
                        issued_at=now,
                        expires_at=now + timedelta(days=1),
                        status="used",
                    )
                )
        s.flush()
        handoff = handoffs.open_handoff(
            s,
            conversation_id=cid,
            reason=reason,
            now=now,
            router=container.handoff_router,
            events=container.handoff_events,
            public_url=container.settings.gangway_public_url,
        )
        return handoff.id


def claim_as(container: FakeContainer, user_id: int, handoff_id: int) -> None:
    with container.sessions.begin() as s:
        from bot.adapters.tables import User

        actor = handoffs.actor_of(s.get_one(User, user_id), container.routing.current())
        handoffs.claim(s, actor, handoff_id, container.clock.now(), container.handoff_events)


def handoff_status(container: FakeContainer, handoff_id: int) -> tuple[str, int | None]:
    with container.sessions.begin() as s:
        h = s.get_one(Handoff, handoff_id)
        return h.status, h.claimed_by


def outbox(container: FakeContainer) -> list[tuple[str, str, str]]:
    with container.sessions.begin() as s:
        rows = s.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars()
        return [
            (
                o.kind,
                opened(s, o.conversation_id, "outbox_body", o.body),
                opened(s, o.conversation_id, "to_number", o.to_number),
            )
            for o in rows
        ]


# -- the browser's side -----------------------------------------------------------------


def hidden_csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> Response:
    form = client.get("/console/sign-in")
    data = {"email": email, "password": password, "csrf": hidden_csrf(form.text)}
    return client.post("/console/sign-in", data=data, follow_redirects=False)


def signed_in(app: FastAPI, email: str) -> TestClient:
    client = TestClient(app)
    assert sign_in(client, email).status_code == 303
    return client


def post_form(client: TestClient, path: str, **data: str) -> Response:
    csrf = hidden_csrf(client.get("/console/").text)
    return client.post(path, data={"csrf": csrf, **data}, follow_redirects=False)


def queue_ids(client: TestClient) -> list[int]:
    response = client.get("/console/queue.json")
    assert response.status_code == 200
    return [h["id"] for h in response.json()["handoffs"]]


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
        "carl": add_user(s, c, "carl@example.com", "advisor", "madrid"),
        "sara": add_user(s, c, "sara@example.com", "supervisor", "berlin"),
        "clara": add_user(s, c, "clara@example.com", "compliance"),
        "ada": add_user(s, c, "ada@example.com", "admin"),
    }


@pytest.fixture
def anna(app: FastAPI, people: dict[str, int]) -> Iterator[TestClient]:
    with signed_in(app, "anna@example.com") as client:
        yield client


# -- signing in and out -----------------------------------------------------------------


def test_signing_in_sets_a_safe_cookie_and_opens_the_queue(
    app: FastAPI, people: dict[str, int]
) -> None:
    """The right password leads to the queue; the cookie is HttpOnly and SameSite=Lax."""
    client = TestClient(app)
    response = sign_in(client, "anna@example.com")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("gangway_console=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    page = client.get("/console/")
    assert page.status_code == 200
    assert 'data-testid="signed-in-as"' in page.text and "Anna" in page.text


def test_the_cookie_is_secure_when_the_public_url_is_https(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Behind https the session cookie is marked Secure."""
    container = make_container(sessions, clock, "https://gangway.example.com")
    add_user(sessions, clock, "anna@example.com", "advisor")
    client = TestClient(make_app(container), base_url="https://testserver")
    response = sign_in(client, "anna@example.com")
    assert response.status_code == 303
    cookies = response.headers.get_list("set-cookie")
    assert any(c.startswith("gangway_console=") and "Secure" in c for c in cookies)


def test_a_wrong_password_and_an_unknown_email_get_the_same_plain_answer(
    app: FastAPI, people: dict[str, int]
) -> None:
    """Neither answer hints whether the email exists; neither signs in."""
    client = TestClient(app)
    wrong = sign_in(client, "anna@example.com", "not the password at all")
    unknown = sign_in(client, "nobody@example.com", "not the password at all")
    for response in (wrong, unknown):
        assert response.status_code == 400
        assert console.SIGN_IN_FAILED in response.text
    assert client.get("/console/", follow_redirects=False).status_code == 303


def test_pages_without_a_session_send_to_the_sign_in_page(app: FastAPI) -> None:
    """The queue and a handoff page redirect to sign-in; the poll answers 401."""
    client = TestClient(app)
    for path in ("/console/", "/console/handoffs/1"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/console/sign-in"
    assert client.get("/console/queue.json").status_code == 401


def test_signing_out_ends_the_session_even_for_a_copied_cookie(
    app: FastAPI, anna: TestClient
) -> None:
    """After sign-out the old cookie value no longer opens the queue."""
    token = anna.cookies.get("gangway_console")
    assert token
    response = post_form(anna, "/console/sign-out")
    assert response.status_code == 303 and response.headers["location"] == "/console/sign-in"
    replay = TestClient(app)
    replay.cookies.set("gangway_console", token, path="/console")
    assert replay.get("/console/", follow_redirects=False).status_code == 303


def test_an_idle_session_ends_after_thirty_minutes(
    anna: TestClient, container: FakeContainer
) -> None:
    """Untouched for 30 minutes, the session is over and the page says so."""
    container.clock.advance(29 * 60)
    assert anna.get("/console/").status_code == 200
    container.clock.advance(30 * 60)
    response = anna.get("/console/", follow_redirects=False)
    assert response.headers["location"] == "/console/sign-in?ended=1"
    assert 'data-testid="session-ended"' in anna.get(response.headers["location"]).text


# -- CSRF and the rate limit ------------------------------------------------------------


def test_a_post_without_the_sessions_csrf_token_is_refused(
    anna: TestClient, container: FakeContainer, people: dict[str, int]
) -> None:
    """Claim with no token or another's token gets 403 and changes nothing."""
    hid = add_handoff(container, 1)
    missing = anna.post(f"/console/handoffs/{hid}/claim", data={}, follow_redirects=False)
    forged = anna.post(
        f"/console/handoffs/{hid}/claim", data={"csrf": "0" * 64}, follow_redirects=False
    )
    for response in (missing, forged):
        assert response.status_code == 403
        assert console.CSRF_REFUSED in response.text
    assert handoff_status(container, hid) == ("queued", None)


def test_the_sign_in_form_needs_its_own_csrf_token(app: FastAPI, people: dict[str, int]) -> None:
    """A sign-in posted from elsewhere (no matching form token) does not sign in."""
    client = TestClient(app)
    client.get("/console/sign-in")
    response = client.post(
        "/console/sign-in",
        data={"email": "anna@example.com", "password": PASSWORD, "csrf": "forged"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "gangway_console" not in client.cookies


def test_five_failed_sign_ins_lock_that_account_for_15_minutes(
    app: FastAPI, container: FakeContainer, people: dict[str, int]
) -> None:
    """The sixth try is 429 even with the right password; another account is unaffected;
    15 minutes later the right password works again (more: test_sign_in_throttle.py)."""
    client = TestClient(app)
    for _ in range(5):
        assert sign_in(client, "anna@example.com", "wrong password guess").status_code == 400
    locked = sign_in(client, "anna@example.com")
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.text
    with signed_in(app, "ben@example.com"):
        pass
    container.clock.advance(15 * 60)
    assert sign_in(client, "anna@example.com").status_code == 303


# -- who sees what ----------------------------------------------------------------------


def test_an_advisor_cannot_read_another_advisors_handoff(
    app: FastAPI, container: FakeContainer, people: dict[str, int]
) -> None:
    """Ben sees the queued handoff, but once Anna claims it his page and actions are 404."""
    hid = add_handoff(container, 1)
    with signed_in(app, "ben@example.com") as ben:
        assert queue_ids(ben) == [hid]
        claim_as(container, people["anna"], hid)
        assert queue_ids(ben) == []
        page = ben.get(f"/console/handoffs/{hid}")
        assert page.status_code == 404
        assert "hi" not in page.text.split('data-testid="error"')[1]
        assert post_form(ben, f"/console/handoffs/{hid}/release").status_code == 404
    assert handoff_status(container, hid) == ("claimed", people["anna"])


def test_compliance_reads_everything_but_cannot_claim_or_reply(
    app: FastAPI, container: FakeContainer, people: dict[str, int]
) -> None:
    """Clara sees every handoff and its transcript; claim and reply are 403, nothing sent."""
    mine, queued = add_handoff(container, 1), add_handoff(container, 2)
    claim_as(container, people["anna"], mine)
    with signed_in(app, "clara@example.com") as clara:
        assert sorted(queue_ids(clara)) == sorted([mine, queued])
        page = clara.get(f"/console/handoffs/{mine}")
        assert page.status_code == 200
        assert 'data-testid="reply-form"' not in page.text
        assert "can read this conversation but not change it" in page.text
        assert 'data-testid="claim"' not in clara.get("/console/").text
        assert post_form(clara, f"/console/handoffs/{queued}/claim").status_code == 403
        reply = post_form(clara, f"/console/handoffs/{mine}/reply", text="Hello from compliance")
        assert reply.status_code == 403
    assert handoff_status(container, queued) == ("queued", None)
    assert outbox(container) == []


def test_a_supervisor_sees_their_teams_handoffs_not_other_teams(
    app: FastAPI, container: FakeContainer, people: dict[str, int]
) -> None:
    """Sara (berlin) sees Anna's claimed handoff, not Carl's (madrid)."""
    annas, carls = add_handoff(container, 1), add_handoff(container, 2)
    claim_as(container, people["anna"], annas)
    claim_as(container, people["carl"], carls)
    with signed_in(app, "sara@example.com") as sara:
        assert queue_ids(sara) == [annas]
        assert sara.get(f"/console/handoffs/{annas}").status_code == 200
        assert sara.get(f"/console/handoffs/{carls}").status_code == 404


def test_an_admin_reads_no_conversation(
    app: FastAPI, container: FakeContainer, people: dict[str, int]
) -> None:
    """Ada manages accounts: her queue is empty with a note, a handoff page is 404."""
    hid = add_handoff(container, 1)
    with signed_in(app, "ada@example.com") as ada:
        page = ada.get("/console/")
        assert "reads no conversations" in page.text
        assert queue_ids(ada) == []
        assert ada.get(f"/console/handoffs/{hid}").status_code == 404


# -- acting on a handoff ----------------------------------------------------------------


def test_claim_and_release_from_the_queue(
    anna: TestClient, container: FakeContainer, people: dict[str, int]
) -> None:
    """Claim makes it Anna's (the queue shows her name); release puts it back in the queue."""
    hid = add_handoff(container, 1)
    assert 'data-testid="claim"' in anna.get("/console/").text
    response = post_form(anna, f"/console/handoffs/{hid}/claim", back="queue")
    assert (response.status_code, response.headers["location"]) == (303, "/console/")
    assert handoff_status(container, hid) == ("claimed", people["anna"])
    row = anna.get("/console/queue.json").json()["handoffs"][0]
    assert (row["status"], row["assignee"], row["can_act"]) == ("claimed", "Anna", True)
    response = post_form(anna, f"/console/handoffs/{hid}/release", back="handoff")
    assert response.headers["location"] == f"/console/handoffs/{hid}"
    assert handoff_status(container, hid) == ("queued", None)
    events = [e for e, _ in container.handoff_events.calls]
    assert events == ["handoff.created", "handoff.claimed", "handoff.released"]


def test_the_poll_shows_a_handoff_created_after_the_page_loaded(
    anna: TestClient, container: FakeContainer
) -> None:
    """queue.json lists a new handoff with its waiting time and the server's time."""
    assert queue_ids(anna) == []
    hid = add_handoff(container, 1)
    container.clock.advance(90)
    data = anna.get("/console/queue.json").json()
    assert [h["id"] for h in data["handoffs"]] == [hid]
    assert data["handoffs"][0]["waiting_seconds"] == 90
    assert data["updated_at"].startswith(container.clock.now().isoformat()[:19])


def test_the_handoff_page_shows_summary_evidence_names_and_levels_per_message(
    anna: TestClient, container: FakeContainer
) -> None:
    """The summary names the rule that fired, the consent reference and the invite status,
    never the value; the transcript marks each inbound message's level."""
    messages = (("hi", "public"), (f"My passport number is {PASSPORT}", "identity"))
    hid = add_handoff(container, 1, messages=messages, level="identity", reason="threshold")
    page = anna.get(f"/console/handoffs/{hid}")
    assert page.status_code == 200
    summary = page.text.split('data-testid="summary"')[1].split("</section>")[0]
    assert "passport_number" in summary and PASSPORT not in summary
    assert "consent record #" in summary and "2026-01" in summary
    assert re.search(r'data-testid="summary-invite">\s*used', summary)
    levels = re.findall(r'data-testid="message-level"[^>]*>([^<]+)<', page.text)
    assert levels == ["public", "identity"]


def test_a_reply_below_the_threshold_is_queued_for_whatsapp_and_shown(
    anna: TestClient, container: FakeContainer
) -> None:
    """The reply becomes an outbox row of kind advisor and appears in the transcript."""
    hid = add_handoff(container, 1)
    post_form(anna, f"/console/handoffs/{hid}/claim")
    response = post_form(anna, f"/console/handoffs/{hid}/reply", text="Hello, this is Anna.")
    assert response.status_code == 303
    assert outbox(container) == [("advisor", "Hello, this is Anna.", "whatsapp:+12025550101")]
    page = anna.get(f"/console/handoffs/{hid}").text
    assert "Hello, this is Anna." in page and "Advisor" in page


def test_at_the_threshold_the_console_points_to_the_secure_channel_and_refuses_replies(
    anna: TestClient, container: FakeContainer
) -> None:
    """No reply box, a plain note; a reply posted anyway is 409 and nothing is queued."""
    messages = (("hi", "public"), (f"My passport number is {PASSPORT}", "identity"))
    hid = add_handoff(container, 1, messages=messages, level="identity", reason="threshold")
    post_form(anna, f"/console/handoffs/{hid}/claim")
    page = anna.get(f"/console/handoffs/{hid}").text
    assert 'data-testid="reply-form"' not in page
    assert "continue in the secure channel" in page
    refused = post_form(anna, f"/console/handoffs/{hid}/reply", text="Can you confirm?")
    assert refused.status_code == 409
    assert "secure channel" in refused.text
    assert outbox(container) == []


def test_the_summarys_transcript_link_opens_the_handoff(
    anna: TestClient, container: FakeContainer
) -> None:
    """/console/conversations/<id> leads to the conversation's handoff page."""
    hid = add_handoff(container, 1)
    response = anna.get("/console/conversations/conv-1", follow_redirects=False)
    assert response.headers["location"] == f"/console/handoffs/{hid}"
    assert anna.get("/console/conversations/conv-9").status_code == 404


def test_sign_in_and_failures_are_in_the_audit_log_without_the_password(
    app: FastAPI, container: FakeContainer, people: dict[str, int]
) -> None:
    """sign_in and sign_in_failed are recorded; no record holds a password typed."""
    client = TestClient(app)
    sign_in(client, "anna@example.com", "a mistyped passw0rd")
    sign_in(client, "anna@example.com")
    with chained(container.sessions).begin() as s:
        records = list(audit_log.iter_records(s))
    kinds = [r.kind for r in records]
    assert "sign_in_failed" in kinds and "sign_in" in kinds
    assert not [r for r in records if PASSWORD in r.payload or "passw0rd" in r.payload]
