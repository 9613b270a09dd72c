"""Who may do what, role by route, through real HTTP: the JSON API and the console.

One handoff waits in the ``german`` queue (team dach) for a prospect in Germany asking
about savings; in the second table Anna has claimed it. The people:

    anna   advisor, team dach, licensed for DE / savings   (licensed, in the queue's team)
    ulla   advisor, team dach, licensed for FR / pension   (same team, not licensed)
    otto   advisor, team mortgages, licensed for everything (licensed, another team)
    sara   supervisor, team dach                           (the queue's team)
    sam    supervisor, team mortgages                      (another team)
    clara  compliance
    ada    admin
    mark   marketing

In the tables, ``ok`` is success (200, 201 or the console's 303), a number the status
of a refusal. A handoff someone may not read is 404 whatever the reason; one they may
read but not change that way is 403; the evidence bundle is 403 for all but compliance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session

from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH, FlowStore
from bot.adapters.secure_chat_tables import SecureChat
from bot.adapters.tables import Handoff
from bot.config import load_settings
from bot.entrypoints.routes import figures, secure_chat_api
from bot.service_layer.handoffs import Route
from tests.fakes.clock import FakeClock
from tests.integration.test_console import (
    FakeContainer,
    QueueRouter,
    add_handoff,
    add_user,
    claim_as,
    make_app,
    post_form,
    queue_ids,
    signed_in,
)
from tests.integration.test_console_api import api_client

ROLES = ("anna", "ulla", "otto", "sara", "sam", "clara", "ada", "mark")
PEOPLE: dict[str, tuple[str, str | None, tuple[str, ...], tuple[str, ...]]] = {
    "anna": ("advisor", "dach", ("DE",), ("savings",)),
    "ulla": ("advisor", "dach", ("FR",), ("pension",)),
    "otto": ("advisor", "mortgages", ("*",), ("*",)),
    "sara": ("supervisor", "dach", (), ()),
    "sam": ("supervisor", "mortgages", (), ()),
    "clara": ("compliance", None, (), ()),
    "ada": ("admin", None, (), ()),
    "mark": ("marketing", None, (), ()),
}
MARKER = "I would like to open a savings account"  # the transcript; never in a refusal
PDF = b"%PDF-1.4\n% a test statement\n%%EOF\n"
Outcome = str | int

# fmt: off
#                     anna   ulla  otto  sara   sam   clara  ada   mark
WAITING: dict[str, tuple[Outcome, ...]] = {
    "read":          ("ok",  404,  404,  "ok",  404,  "ok",  404,  404),
    "secure read":   ("ok",  404,  404,  "ok",  404,  "ok",  404,  404),
    "secure send":   (403,   404,  404,  403,   404,  403,   404,  404),
    "attachment":    (403,   404,  404,  403,   404,  403,   404,  404),
    "claim":         ("ok",  404,  404,  "ok",  404,  403,   404,  404),
    "reply":         (403,   404,  404,  403,   404,  403,   404,  404),
    "release":       (403,   404,  404,  403,   404,  403,   404,  404),
    "close":         (403,   404,  404,  "ok",  404,  403,   404,  404),
    "evidence":      (403,   403,  403,  403,   403,  "ok",  403,  403),
    "listed":        ("ok",  404,  404,  "ok",  404,  "ok",  404,  404),
    "figures":       (403,   403,  403,  "ok",  "ok", "ok",  403,  "ok"),
}
CLAIMED_BY_ANNA: dict[str, tuple[Outcome, ...]] = {
    "read":          ("ok",  404,  404,  "ok",  404,  "ok",  404,  404),
    "secure read":   ("ok",  404,  404,  "ok",  404,  "ok",  404,  404),
    "secure send":   ("ok",  404,  404,  403,   404,  403,   404,  404),
    "attachment":    ("ok",  404,  404,  403,   404,  403,   404,  404),
    "claim":         ("ok",  404,  404,  400,   404,  403,   404,  404),
    "reply":         ("ok",  404,  404,  403,   404,  403,   404,  404),
    "release":       ("ok",  404,  404,  "ok",  404,  403,   404,  404),
    "close":         ("ok",  404,  404,  "ok",  404,  403,   404,  404),
    "evidence":      (403,   403,  403,  403,   403,  "ok",  403,  403),
    "listed":        ("ok",  404,  404,  "ok",  404,  "ok",  404,  404),
    "figures":       (403,   403,  403,  "ok",  "ok", "ok",  403,  "ok"),
}
# fmt: on
TABLES = {"waiting": WAITING, "claimed by anna": CLAIMED_BY_ANNA}


class GermanQueue(QueueRouter):
    """Every handoff waits in the german queue (team dach in flows/routing.yml)."""

    def route(self, session: Session, handoff: Handoff, now: datetime) -> Route:
        return Route("german", None, "test", timedelta(minutes=15))


@dataclass
class MatrixContainer(FakeContainer):
    invite_secret: bytes = b"an invented invite secret for these tests"


@dataclass(frozen=True)
class Case:
    """One handoff made for one route, and what was asked of it."""

    handoff_id: int
    conversation_id: str


@pytest.fixture
def container(sessions: SessionFactory, clock: FakeClock) -> MatrixContainer:
    return MatrixContainer(
        sessions,
        clock,
        load_settings({"GANGWAY_PUBLIC_URL": "http://testserver"}),
        FlowStore(DEFAULT_FLOW_PATH, DEFAULT_DOMAIN_PATH),
        handoff_router=GermanQueue(),
    )


@pytest.fixture
def app(container: MatrixContainer) -> FastAPI:
    app = make_app(container)
    app.include_router(secure_chat_api.router)
    app.include_router(figures.router)
    return app


@pytest.fixture
def people(container: MatrixContainer) -> dict[str, int]:
    return {
        name: add_user(
            container.sessions,
            container.clock,
            f"{name}@example.com",
            role,
            team,
            countries=countries,
            products=products,
        )
        for name, (role, team, countries, products) in PEOPLE.items()
    }


def new_case(container: MatrixContainer, people: dict[str, int], n: int, state: str) -> Case:
    """A German savings prospect's handoff in the german queue, with the secure chat open
    and the prospect looking at it; claimed by Anna in the second table."""
    hid = add_handoff(container, n, messages=((MARKER, "public"),))
    now = container.clock.now()
    with container.sessions.begin() as s:
        handoff = s.get_one(Handoff, hid)
        handoff.country, handoff.product, handoff.language = "DE", "savings", "de"
        s.add(SecureChat(conversation_id=handoff.conversation_id, opened_at=now))
        s.get_one(SecureChat, handoff.conversation_id).last_prospect_seen_at = now
        cid = handoff.conversation_id
    if state == "claimed by anna":
        claim_as(container, people["anna"], hid)
    return Case(hid, cid)


def expected(outcome: Outcome, success: int) -> int:
    return success if outcome == "ok" else int(outcome)


# -- the JSON API -----------------------------------------------------------------------

API = "/api/v1/console/handoffs"
Call = Callable[[TestClient, Case], Response]
API_ROUTES: dict[str, tuple[int, Call]] = {
    "read": (200, lambda c, h: c.get(f"{API}/{h.handoff_id}")),
    "secure read": (200, lambda c, h: c.get(f"/api/v1/handoffs/{h.handoff_id}/secure-messages")),
    "secure send": (
        201,
        lambda c, h: c.post(
            f"/api/v1/handoffs/{h.handoff_id}/secure-messages", json={"text": "Hello"}
        ),
    ),
    "attachment": (
        201,
        lambda c, h: c.post(
            f"/api/v1/handoffs/{h.handoff_id}/secure-messages/attachments",
            files={"file": ("statement.pdf", PDF, "application/pdf")},
        ),
    ),
    "claim": (200, lambda c, h: c.post(f"{API}/{h.handoff_id}/claim")),
    "reply": (201, lambda c, h: c.post(f"{API}/{h.handoff_id}/reply", json={"text": "Hello"})),
    "release": (200, lambda c, h: c.post(f"{API}/{h.handoff_id}/release")),
    "close": (200, lambda c, h: c.post(f"{API}/{h.handoff_id}/close")),
    "evidence": (200, lambda c, h: c.get(f"{API}/{h.handoff_id}/evidence")),
    "figures": (200, lambda c, h: c.get("/api/v1/figures")),
}


def api_listed(client: TestClient, case: Case) -> int:
    listing = client.get(API)
    assert listing.status_code == 200
    return 200 if case.handoff_id in [h["id"] for h in listing.json()["handoffs"]] else 404


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("state", list(TABLES))
def test_the_api_lets_each_role_do_what_the_table_says(
    app: FastAPI, container: MatrixContainer, people: dict[str, int], state: str, role: str
) -> None:
    """Every API route answers each role as its row in the table says, and no refusal
    carries the transcript."""
    client = api_client(app, container, f"{role}@example.com")
    table, column = TABLES[state], ROLES.index(role)
    wrong = []
    for n, (route, outcomes) in enumerate(table.items(), start=1):
        case = new_case(container, people, n, state)
        if route == "listed":
            got, want = api_listed(client, case), expected(outcomes[column], 200)
        else:
            success, call = API_ROUTES[route]
            response = call(client, case)
            got, want = response.status_code, expected(outcomes[column], success)
            if got >= 400:
                assert MARKER not in response.text, (route, response.text)
        if got != want:
            wrong.append(f"{route}: {got}, expected {want}")
    assert wrong == [], f"{role} on a {state} handoff"


# -- the console ------------------------------------------------------------------------

PAGES = "/console/handoffs"
CONSOLE_ROUTES: dict[str, tuple[int, Call]] = {
    "read": (200, lambda c, h: c.get(f"{PAGES}/{h.handoff_id}")),
    "secure read": (200, lambda c, h: c.get(f"{PAGES}/{h.handoff_id}/secure.json")),
    "secure send": (
        303,
        lambda c, h: post_form(c, f"{PAGES}/{h.handoff_id}/secure-messages", text="Hello"),
    ),
    "claim": (303, lambda c, h: post_form(c, f"{PAGES}/{h.handoff_id}/claim")),
    "reply": (303, lambda c, h: post_form(c, f"{PAGES}/{h.handoff_id}/reply", text="Hello")),
    "release": (303, lambda c, h: post_form(c, f"{PAGES}/{h.handoff_id}/release")),
    "close": (303, lambda c, h: post_form(c, f"{PAGES}/{h.handoff_id}/close")),
    "evidence": (200, lambda c, h: c.get(f"{PAGES}/{h.handoff_id}/evidence.zip")),
    "figures": (200, lambda c, h: c.get("/console/figures")),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("state", list(TABLES))
def test_the_console_lets_each_role_do_what_the_table_says(
    app: FastAPI, container: MatrixContainer, people: dict[str, int], state: str, role: str
) -> None:
    """The console's pages and forms answer as the same table says (the attachment is
    the secure send's file field, so it has no route of its own here); the transcript
    link leads to the handoff exactly when it may be read."""
    table, column = TABLES[state], ROLES.index(role)
    wrong = []
    with signed_in(app, f"{role}@example.com") as client:
        for n, (route, outcomes) in enumerate(table.items(), start=1):
            if route == "attachment":
                continue
            case = new_case(container, people, n, state)
            if route == "listed":
                listed = case.handoff_id in queue_ids(client)
                got, want = (200 if listed else 404), expected(outcomes[column], 200)
            else:
                success, call = CONSOLE_ROUTES[route]
                response = call(client, case)
                got, want = response.status_code, expected(outcomes[column], success)
                if got == 404:  # a 403 re-renders the handoff page its reader may see
                    assert MARKER not in response.text, (route, response.text)
            if got != want:
                wrong.append(f"{route}: {got}, expected {want}")
        case = new_case(container, people, 99, state)
        link = client.get(f"/console/conversations/{case.conversation_id}", follow_redirects=False)
        readable = table["read"][column] == "ok"
        if link.status_code != (303 if readable else 404):
            wrong.append(f"transcript link: {link.status_code}")
    assert wrong == [], f"{role} on a {state} handoff"


def test_marketing_lands_on_the_figures_and_never_sees_a_transcript(
    app: FastAPI, container: MatrixContainer, people: dict[str, int]
) -> None:
    """Mark's console opens on the figures: counts and the flow in force, no phone
    number or message; the queue he polls is empty."""
    case = new_case(container, people, 1, "waiting")
    with signed_in(app, "mark@example.com") as mark:
        home = mark.get("/console/", follow_redirects=False)
        assert (home.status_code, home.headers["location"]) == (303, "/console/figures")
        page = mark.get("/console/figures")
        assert 'data-testid="versions"' in page.text and "default.yml" in page.text
        assert MARKER not in page.text and "+120255501" not in page.text
        assert queue_ids(mark) == []
    numbers = api_client(app, container, "mark@example.com").get("/api/v1/figures").json()
    assert numbers["handoffs_by_status"] == {"queued": 1}
    assert numbers["open_handoffs_by_queue"] == {"german": 1}
    assert numbers["flow"]["file"] == "default.yml" and len(numbers["flow"]["sha256"]) == 64
    assert numbers["routing"]["file"] == "routing.yml"
    assert case.conversation_id not in str(numbers)
