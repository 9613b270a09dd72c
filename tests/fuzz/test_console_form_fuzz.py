"""The advisor console's form posts under generated input: the sign-in form, and
claim, release, close, reply and follow-up with right and wrong CSRF tokens and
any ids and fields. Never a server error; a refused post changes nothing."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.adapters.tables import Handoff, OutboxMessage, SecureMessage, UserSession
from bot.entrypoints.routes.path_params import MAX_ROW_ID
from tests.fuzz.conftest import FUZZ, PASSWORD, TEXT, FuzzStack

pytestmark = pytest.mark.fuzz

ACTIONS = st.sampled_from(["claim", "release", "close", "reply", "follow-up", "secure-messages"])


def client(stack: FuzzStack) -> TestClient:
    # https, as the public URL: the console's cookies are Secure there.
    return TestClient(stack.asgi, base_url="https://testserver", raise_server_exceptions=False)


def page_csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def state(stack: FuzzStack) -> tuple[object, ...]:
    """What a console post can change: sessions, outbox, secure messages, handoffs."""
    with stack.container.sessions.begin() as s:
        return (
            s.execute(select(func.count()).select_from(UserSession)).scalar_one(),
            s.execute(select(func.count()).select_from(OutboxMessage)).scalar_one(),
            s.execute(select(func.count()).select_from(SecureMessage)).scalar_one(),
            tuple(
                s.execute(
                    select(Handoff.id, Handoff.status, Handoff.claimed_by).order_by(Handoff.id)
                ).all()
            ),
        )


@given(
    email=st.one_of(TEXT, st.emails().map(str), st.just("admin@example.com")),
    password=TEXT,
    csrf=st.one_of(st.none(), TEXT),
)
@FUZZ
def test_generated_sign_in_posts_never_fail_and_open_no_session(
    fuzz_stack: FuzzStack, advisor: TestClient, email: str, password: str, csrf: str | None
) -> None:
    """Any email, password and CSRF value (or the form's own) gets a page below 500 and,
    without the right password, no session.

    The advisor the later tests use signs in first (``advisor``): the failed sign-ins
    generated here soon close the console's sign-in for a while (429), as they would
    for an attacker."""
    before = state(fuzz_stack)
    with client(fuzz_stack) as http:
        form = http.get("/console/sign-in")
        token = page_csrf(form.text) if csrf is None else csrf
        response = http.post(
            "/console/sign-in",
            data={"email": email, "password": password, "csrf": token},
            follow_redirects=False,
        )
    assert response.status_code in (400, 403, 422, 429), (email, response.status_code)
    assert state(fuzz_stack) == before


@pytest.fixture(scope="module")
def advisor(fuzz_stack: FuzzStack) -> TestClient:
    """The seeded advisor, signed in to the console once for the whole module."""
    http = client(fuzz_stack)
    form = http.get("/console/sign-in")
    response = http.post(
        "/console/sign-in",
        data={"email": "advisor@example.com", "password": PASSWORD, "csrf": page_csrf(form.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    return http


@given(
    action=ACTIONS,
    handoff=st.one_of(st.just(None), st.integers(-(2**70), 2**70)),
    right_csrf=st.booleans(),
    csrf=TEXT,
    fields=st.dictionaries(st.sampled_from(["text", "back", "file", "extra"]), TEXT, max_size=3),
)
@FUZZ
def test_generated_console_posts_never_fail_and_wrong_csrf_changes_nothing(
    fuzz_stack: FuzzStack,
    advisor: TestClient,
    action: str,
    handoff: int | None,
    right_csrf: bool,
    csrf: str,
    fields: dict[str, str],
) -> None:
    """Claim, release, close, reply, follow-up and secure messages with any id and fields
    get an answer below 500; with a wrong CSRF token they are refused and change nothing."""
    handoff_id = fuzz_stack.handoff_id if handoff is None else handoff
    token = page_csrf(advisor.get("/console/").text) if right_csrf else csrf
    before = state(fuzz_stack)
    response = advisor.post(
        f"/console/handoffs/{handoff_id}/{action}",
        data={**fields, "csrf": token},
        follow_redirects=False,
    )
    assert response.status_code < 500, (action, handoff_id, fields, response.text[:300])
    if not right_csrf or not 1 <= handoff_id <= MAX_ROW_ID:
        assert 400 <= response.status_code < 500
        assert state(fuzz_stack) == before


SEGMENTS = st.one_of(
    st.integers(-(2**70), 2**70).map(str), TEXT.filter(lambda t: t not in ("", ".", ".."))
)
PAGES = st.sampled_from(
    [
        "/console/handoffs/{}",
        "/console/handoffs/{}/evidence.zip",
        "/console/handoffs/{}/secure.json",
        "/console/handoffs/1/secure-files/{}",
        "/console/conversations/{}",
        "/console/static/{}",
        "/secure/chat/files/{}",
        "/secure/static/{}",
    ]
)


@given(page=PAGES, segment=SEGMENTS, query=st.dictionaries(TEXT, TEXT, max_size=3))
@FUZZ
def test_generated_page_addresses_never_fail(
    fuzz_stack: FuzzStack, advisor: TestClient, page: str, segment: str, query: dict[str, str]
) -> None:
    """The console's pages as the signed-in advisor, and the secure chat's without a
    chat session, answer any id, name or query below 500 and change nothing."""
    path = page.format(quote(segment, safe=""))
    before = state(fuzz_stack)
    response = advisor.get(path, params=query, follow_redirects=False)
    assert response.status_code < 500, (path, response.text[:300])
    secure = client(fuzz_stack).post("/secure/chat/messages", data={"text": segment})
    assert 400 <= secure.status_code < 500
    assert state(fuzz_stack) == before
