"""Signing in to the console through the firm's OpenID Connect provider, against a
stand-in provider over real HTTP on loopback: the group decides the role, and a
token with a wrong nonce or signature, or a person in no mapped group, is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from bot.adapters import accounts, audit_log
from bot.adapters.db import SessionFactory
from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH, FlowStore
from bot.adapters.tables import User
from bot.config import load_settings
from bot.entrypoints.routes import console_oidc
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock
from tests.fakes.identity_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    StandInProvider,
    running_provider,
)
from tests.integration.test_console import FakeContainer, add_user, make_app

ROLE_GROUPS = "supervisor=gw-supervisors,advisor=gw-advisors,compliance=gw-compliance"


@pytest.fixture(scope="module")
def provider() -> Iterator[StandInProvider]:
    with running_provider() as idp:
        yield idp


@pytest.fixture(autouse=True)
def fresh_provider(provider: StandInProvider) -> None:
    """Each test starts with Anna, an advisor, and a well-behaved provider."""
    provider.misbehave = None
    provider.person = {
        "sub": "u-1001",
        "email": "anna@example.com",
        "email_verified": True,
        "name": "Anna Example",
        "groups": ["gw-advisors"],
        "department": "berlin",
    }


def oidc_app(sessions: SessionFactory, clock: FakeClock, provider: StandInProvider) -> FastAPI:
    settings = load_settings(
        {
            "GANGWAY_PUBLIC_URL": "http://testserver",
            "GANGWAY_OIDC_ISSUER": provider.issuer,
            "GANGWAY_OIDC_CLIENT_ID": CLIENT_ID,
            "GANGWAY_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "GANGWAY_OIDC_ROLE_GROUPS": ROLE_GROUPS,
            "GANGWAY_OIDC_TEAM_CLAIM": "department",
            "GANGWAY_OIDC_NAME": "Example Bank",
        }
    )
    flows = FlowStore(DEFAULT_FLOW_PATH, DEFAULT_DOMAIN_PATH)
    app = make_app(FakeContainer(sessions, clock, settings, flows))
    app.include_router(console_oidc.router)
    return app


def sign_in_through_provider(console: TestClient) -> Response:
    """Click "Sign in with ...", then follow every redirect: the console's to the
    TestClient, the provider's over real HTTP, until a page answers."""
    page = console.get("/console/sign-in")
    assert 'data-testid="sign-in-oidc"' in page.text
    response = console.get("/console/oidc/start", follow_redirects=False)
    with httpx.Client() as browser:
        for _ in range(10):
            if response.status_code not in (302, 303):
                return response
            target = urlsplit(response.headers["location"])
            if target.netloc in ("", "testserver"):
                path = target.path + (f"?{target.query}" if target.query else "")
                response = console.get(path, follow_redirects=False)
            else:
                response = browser.get(target.geturl(), follow_redirects=False)
    raise AssertionError("too many redirects")


def user_row(sessions: SessionFactory, email: str) -> tuple[str, str | None] | None:
    with sessions.begin() as s:
        user = s.execute(select(User).where(User.email == email)).scalar_one_or_none()
        return None if user is None else (user.role, user.team)


def test_a_person_in_the_advisors_group_is_signed_in_as_an_advisor(
    sessions: SessionFactory, clock: FakeClock, provider: StandInProvider
) -> None:
    """First sign-in makes the account with the role and team from the provider; the
    queue opens; a later sign-in in the supervisors group makes them a supervisor."""
    console = TestClient(oidc_app(sessions, clock, provider))
    response = sign_in_through_provider(console)
    assert response.status_code == 200, response.text
    assert 'data-testid="signed-in-as"' in response.text and "Anna Example" in response.text
    assert "(advisor)" in response.text
    assert user_row(sessions, "anna@example.com") == ("advisor", "berlin")
    provider.person["groups"] = ["gw-advisors", "gw-supervisors"]  # first listed pair wins
    again = TestClient(oidc_app(sessions, clock, provider))
    assert "(supervisor)" in sign_in_through_provider(again).text
    assert user_row(sessions, "anna@example.com") == ("supervisor", "berlin")
    with chained(sessions).begin() as s:
        kinds = [r.kind for r in audit_log.iter_records(s)]
    assert kinds.count("sign_in") == 2 and "user_updated_from_provider" in kinds


def test_a_person_in_no_mapped_group_is_refused_with_a_plain_page(
    sessions: SessionFactory, clock: FakeClock, provider: StandInProvider
) -> None:
    provider.person["groups"] = ["marketing-everyone"]
    console = TestClient(oidc_app(sessions, clock, provider))
    response = sign_in_through_provider(console)
    assert response.status_code == 403
    assert "not in a group that may use gangway" in response.text
    assert "gangway_console" not in console.cookies
    assert user_row(sessions, "anna@example.com") is None


@pytest.mark.parametrize("misbehave", ["wrong_nonce", "foreign_key"])
def test_an_id_token_with_a_wrong_nonce_or_signature_is_refused(
    sessions: SessionFactory, clock: FakeClock, provider: StandInProvider, misbehave: str
) -> None:
    """The token endpoint answered, but its ID token does not verify: no sign-in."""
    provider.misbehave = misbehave
    before = provider.token_requests
    console = TestClient(oidc_app(sessions, clock, provider))
    response = sign_in_through_provider(console)
    assert provider.token_requests == before + 1  # the check is on the token, not earlier
    assert response.status_code == 403
    assert "The sign-in with Example Bank could not be verified." in response.text
    assert "gangway_console" not in console.cookies
    assert user_row(sessions, "anna@example.com") is None
    with chained(sessions).begin() as s:
        failed = [json.loads(r.payload) for r in audit_log.iter_records(s)]
    expected = {"wrong_nonce": "InvalidClaimError", "foreign_key": "BadSignatureError"}
    assert failed[-1] == {"via": "oidc", "reason": "not_verified", "error": expected[misbehave]}


def test_a_return_from_the_provider_without_this_browsers_start_is_refused(
    sessions: SessionFactory, clock: FakeClock, provider: StandInProvider
) -> None:
    """A callback carried to another browser (no pending cookie), or replayed, fails."""
    console = TestClient(oidc_app(sessions, clock, provider))
    start = console.get("/console/oidc/start", follow_redirects=False)
    with httpx.Client() as browser:
        back = browser.get(start.headers["location"], follow_redirects=False)
    callback = back.headers["location"].removeprefix("http://testserver")
    other = TestClient(oidc_app(sessions, clock, provider))
    refused = other.get(callback, follow_redirects=False)
    assert refused.status_code == 400 and "Please start again" in refused.text
    assert console.get(callback, follow_redirects=False).status_code == 303
    replay = console.get(callback, follow_redirects=False)
    assert replay.status_code == 400


def test_a_disabled_account_stays_out_even_if_the_provider_vouches_for_it(
    sessions: SessionFactory, clock: FakeClock, provider: StandInProvider
) -> None:
    add_user(sessions, clock, "anna@example.com", "advisor")
    with sessions.begin() as s:
        accounts.disable_user(s, "anna@example.com", clock.now())
    response = sign_in_through_provider(TestClient(oidc_app(sessions, clock, provider)))
    assert response.status_code == 403
    assert "anna@example.com is disabled in gangway" in response.text


def test_without_a_provider_configured_there_is_no_button_and_no_flow(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    settings = load_settings({"GANGWAY_PUBLIC_URL": "http://testserver"})
    flows = FlowStore(DEFAULT_FLOW_PATH, DEFAULT_DOMAIN_PATH)
    app = make_app(FakeContainer(sessions, clock, settings, flows))
    app.include_router(console_oidc.router)
    console = TestClient(app)
    assert 'data-testid="sign-in-oidc"' not in console.get("/console/sign-in").text
    assert console.get("/console/oidc/start", follow_redirects=False).status_code == 404


def test_an_unknown_role_in_the_group_map_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="unknown role 'boss'"):
        load_settings({"GANGWAY_OIDC_ROLE_GROUPS": "boss=gw-bosses"})


def test_an_email_gangway_cannot_use_is_refused_with_the_reason(
    sessions: SessionFactory, clock: FakeClock, provider: StandInProvider
) -> None:
    provider.person["email"] = "anna at example"
    response = sign_in_through_provider(TestClient(oidc_app(sessions, clock, provider)))
    assert response.status_code == 403
    assert "does not look like an email address" in response.text
