"""The sign-in throttle: failures counted per account and per client address in the
database, shared by every service process, with 429 and Retry-After on lockout."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from bot.adapters.db import SessionFactory, make_engine, make_session_factory
from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH, FlowStore
from bot.adapters.sign_in_throttle import SignInThrottle
from bot.config import load_settings
from tests.fakes.clock import FakeClock
from tests.fakes.keys import fake_vault
from tests.integration.test_console import FakeContainer, add_user, make_app, sign_in

WRONG = "not the password at all"
PROXY = "10.0.0.5"


def app_on(sessions: SessionFactory, clock: FakeClock, **env: str) -> FastAPI:
    """One service process's console, on the shared database."""
    settings = load_settings({"GANGWAY_PUBLIC_URL": "http://testserver", **env})
    flows = FlowStore(DEFAULT_FLOW_PATH, DEFAULT_DOMAIN_PATH)
    return make_app(FakeContainer(sessions, clock, settings, flows))


@pytest.fixture
def second_engine(database_url: str) -> Iterator[Engine]:
    """A second connection pool on the same database: another process's view."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def people(sessions: SessionFactory, clock: FakeClock) -> None:
    for name in ("anna", "ben", "carl"):
        add_user(sessions, clock, f"{name}@example.com", "advisor")


# -- the throttle itself ----------------------------------------------------------------


def test_five_failures_lock_an_account_from_any_address_until_the_window_slides(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Failures from five addresses lock the account (any case of the email) everywhere;
    the lock lifts when the oldest failure is 15 minutes old."""
    throttle = SignInThrottle()
    for n in range(5):
        with sessions.begin() as s:
            assert throttle.retry_after(s, "anna@example.com", f"192.0.2.{n}", clock.now()) is None
            throttle.failed(s, "Anna@Example.com", f"192.0.2.{n}", clock.now())
        clock.advance(60)
    with sessions.begin() as s:
        wait = throttle.retry_after(s, "anna@example.com", "198.51.100.1", clock.now())
        assert wait == timedelta(minutes=10)  # the first failure was 5 minutes ago
        assert throttle.retry_after(s, "ben@example.com", "198.51.100.1", clock.now()) is None
    clock.advance(10 * 60)
    with sessions.begin() as s:
        assert throttle.retry_after(s, "anna@example.com", "198.51.100.1", clock.now()) is None


def test_twenty_failures_lock_an_address_whatever_account_it_tries(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """One address trying one password on many accounts is stopped at 20."""
    throttle = SignInThrottle()
    with sessions.begin() as s:
        for n in range(20):
            throttle.failed(s, f"user{n}@example.com", "192.0.2.7", clock.now())
    with sessions.begin() as s:
        assert throttle.retry_after(s, "new@example.com", "192.0.2.7", clock.now()) is not None
        assert throttle.retry_after(s, "new@example.com", "192.0.2.8", clock.now()) is None


def test_a_success_clears_the_accounts_failures_but_not_the_addresss(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    throttle = SignInThrottle(account_limit=2, address_limit=2)
    with sessions.begin() as s:
        throttle.failed(s, "anna@example.com", "192.0.2.7", clock.now())
        throttle.succeeded(s, "anna@example.com")
        throttle.failed(s, "anna@example.com", "192.0.2.8", clock.now())
        assert throttle.retry_after(s, "anna@example.com", "192.0.2.9", clock.now()) is None
        throttle.failed(s, "ben@example.com", "192.0.2.7", clock.now())
        assert throttle.retry_after(s, "carl@example.com", "192.0.2.7", clock.now()) is not None


# -- through the console ----------------------------------------------------------------


def test_the_lockout_holds_across_two_service_processes_on_one_database(
    sessions: SessionFactory, second_engine: Engine, clock: FakeClock, people: None
) -> None:
    """Three failures on one process and two on another lock the account on both;
    the lockout answers 429 with Retry-After, the same for an unknown email."""
    first = TestClient(app_on(sessions, clock))
    second = TestClient(app_on(make_session_factory(second_engine, fake_vault()), clock))
    for client in (first, first, first, second, second):
        assert sign_in(client, "anna@example.com", WRONG).status_code == 400
    for client in (first, second):
        locked = sign_in(client, "anna@example.com")
        assert locked.status_code == 429
        assert locked.headers["retry-after"] == "900"
        assert "Too many failed sign-ins. Try again in 15 minutes." in locked.text
    for _ in range(5):
        sign_in(second, "nobody@example.com", WRONG)
    unknown = sign_in(first, "nobody@example.com", WRONG)
    assert (unknown.status_code, unknown.headers["retry-after"]) == (429, "900")
    clock.advance(15 * 60)
    assert sign_in(second, "anna@example.com").status_code == 303


def test_behind_a_trusted_proxy_each_advisor_is_counted_by_their_own_address(
    sessions: SessionFactory, clock: FakeClock, people: None
) -> None:
    """Twenty failures from one advisor's address behind the proxy lock that address
    only; another advisor behind the same proxy still signs in."""
    app = app_on(
        sessions,
        clock,
        GANGWAY_TRUSTED_PROXIES=PROXY,
        GANGWAY_SIGN_IN_ACCOUNT_LIMIT="50",
    )
    attacker = TestClient(app, client=(PROXY, 40000), headers={"X-Forwarded-For": "203.0.113.9"})
    colleague = TestClient(app, client=(PROXY, 40001), headers={"X-Forwarded-For": "203.0.113.10"})
    for n in range(20):
        assert sign_in(attacker, ["anna", "ben"][n % 2] + "@example.com", WRONG).status_code == 400
    assert sign_in(attacker, "carl@example.com").status_code == 429
    assert sign_in(colleague, "carl@example.com").status_code == 303


def test_an_untrusted_peer_cannot_escape_the_count_by_sending_x_forwarded_for(
    sessions: SessionFactory, clock: FakeClock, people: None
) -> None:
    """Without trusted proxies a new X-Forwarded-For on each try changes nothing."""
    app = app_on(sessions, clock, GANGWAY_SIGN_IN_ADDRESS_LIMIT="3")
    client = TestClient(app, client=("198.51.100.7", 40000))
    for n in range(3):
        client.headers["X-Forwarded-For"] = f"192.0.2.{n}"
        assert sign_in(client, f"user{n}@example.com", WRONG).status_code == 400
    client.headers["X-Forwarded-For"] = "192.0.2.99"
    assert sign_in(client, "anna@example.com").status_code == 429
