"""`gangway users`: add, list, disable and token, with plain errors and non-zero exits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.adapters import accounts
from bot.adapters.db import make_engine, make_session_factory
from bot.adapters.vault import Vault
from bot.entrypoints.users_cli import users_app
from tests.fakes.clock import FakeClock
from tests.fakes.keys import fake_keyring, keys_env
from tests.integration.test_console import make_app, make_container

# One set of keys for the commands and the checks of this module.
KEYRING = fake_keyring()

PASSWORD = "correct horse battery staple"


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'users.db'}"


def run(database: str, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(
        users_app, list(args), input=stdin, env={"DATABASE_URL": database, **keys_env(KEYRING)}
    )
    return result.exit_code, result.stdout, result.stderr


def add(database: str, email: str = "anna@example.com", *extra: str) -> tuple[int, str, str]:
    return run(
        database,
        "add",
        email,
        "--name",
        "Anna Example",
        "--role",
        "advisor",
        "--password-stdin",
        *extra,
        stdin=PASSWORD + "\n",
    )


def signs_in(database: str, email: str, password: str = PASSWORD) -> bool:
    engine = make_engine(database)
    try:
        with make_session_factory(engine, Vault(KEYRING)).begin() as s:
            return accounts.authenticate(s, email, password, FakeClock().now()) is not None
    finally:
        engine.dispose()


def test_add_with_the_password_on_stdin_creates_an_account_that_signs_in(database: str) -> None:
    code, out, _ = add(database, "anna@example.com", "--team", "berlin", "--country", "DE")
    assert (code, out.strip()) == (0, "added anna@example.com (advisor)")
    assert signs_in(database, "anna@example.com")


def test_a_marketing_account_can_be_added_and_signs_in(database: str) -> None:
    """`--role marketing` makes an account for the figures, which signs in like any other."""
    code, out, _ = run(
        database,
        "add",
        "mark@example.com",
        "--name",
        "Mark Example",
        "--role",
        "marketing",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert (code, out.strip()) == (0, "added mark@example.com (marketing)")
    assert signs_in(database, "mark@example.com")


def test_add_asks_for_the_password_twice_hidden(database: str) -> None:
    """A mismatch asks again; the password is never echoed."""
    stdin = f"{PASSWORD}\nsomething else!!\n{PASSWORD}\n{PASSWORD}\n"
    code, out, _ = run(
        database, "add", "ben@example.com", "--name", "Ben", "--role", "supervisor", stdin=stdin
    )
    assert code == 0, out
    assert "do not match" in out
    assert PASSWORD not in out
    assert signs_in(database, "ben@example.com")


@pytest.mark.parametrize(
    ("args", "password", "reason"),
    [
        (("--role", "boss"), PASSWORD, "unknown role 'boss'"),
        (("--role", "advisor"), "too short", "at least 12 characters"),
        (("--role", "advisor", "--country", "Germany"), PASSWORD, "not a country code"),
    ],
)
def test_add_refuses_bad_input_with_exit_1_and_the_reason(
    database: str, args: tuple[str, ...], password: str, reason: str
) -> None:
    code, out, err = run(
        database,
        "add",
        "anna@example.com",
        "--name",
        "Anna",
        *args,
        "--password-stdin",
        stdin=password + "\n",
    )
    assert code == 1 and reason in err and out == ""


def test_an_existing_email_or_an_empty_stdin_password_is_refused(database: str) -> None:
    assert add(database)[0] == 0
    code, _, err = add(database, "ANNA@example.com")
    assert code == 1 and "already a user anna@example.com" in err
    code, _, err = run(
        database, "add", "x@example.com", "--name", "X", "--role", "admin", "--password-stdin"
    )
    assert code == 1 and "no password" in err


def test_list_shows_a_table_of_accounts(database: str) -> None:
    code, out, _ = run(database, "list")
    assert code == 0 and "no users yet" in out
    add(database, "anna@example.com", "--team", "berlin", "--language", "de", "--language", "en")
    add(database, "ben@example.com")
    code, out, _ = run(database, "list")
    header, first, second = out.strip().splitlines()
    assert header.split() == [
        "EMAIL",
        "NAME",
        "ROLE",
        "TEAM",
        "STATUS",
        "COUNTRIES",
        "LANGUAGES",
        "PRODUCTS",
    ]
    assert first.startswith("anna@example.com") and "berlin" in first and "de,en" in first
    assert second.startswith("ben@example.com") and "active" in second


def test_disable_stops_sign_in_and_unknown_emails_exit_1(database: str) -> None:
    add(database)
    code, out, _ = run(database, "disable", "anna@example.com")
    assert code == 0 and "disabled anna@example.com" in out
    assert not signs_in(database, "anna@example.com")
    assert "disabled" in run(database, "list")[1]
    code, _, err = run(database, "disable", "nobody@example.com")
    assert code == 1 and "there is no user nobody@example.com" in err


def test_token_prints_a_working_token_once(database: str) -> None:
    """The token alone on stdout (scriptable); the note on stderr; unknown user exits 1."""
    add(database)
    code, out, err = run(database, "token", "anna@example.com", "--name", "crm-sync")
    assert code == 0 and "shown once" in err
    token = out.strip()
    assert token.startswith("gw_")
    engine = make_engine(database)
    try:
        with make_session_factory(engine, Vault(KEYRING)).begin() as s:
            user = accounts.token_user(s, token, FakeClock().now())
            assert user is not None and user.email == "anna@example.com"
    finally:
        engine.dispose()
    code, _, err = run(database, "token", "nobody@example.com", "--name", "x")
    assert code == 1 and "no user" in err


def api_status(database: str, token: str, days_later: float = 0) -> int:
    """What the console's JSON API answers this token, ``days_later`` from now."""
    engine = make_engine(database)
    try:
        start = datetime.now(UTC) + timedelta(days=days_later)
        container = make_container(make_session_factory(engine, Vault(KEYRING)), FakeClock(start))
        client = TestClient(make_app(container))
        headers = {"Authorization": f"Bearer {token}"}
        return client.get("/api/v1/console/handoffs", headers=headers).status_code
    finally:
        engine.dispose()


def test_a_token_expires_after_the_default_ninety_days_or_its_days(database: str) -> None:
    """Accepted by the API until it expires, 401 after; --days sets the lifetime."""
    add(database)
    code, out, err = run(database, "token", "anna@example.com", "--name", "crm-sync")
    assert code == 0 and "API token 1, valid until" in err
    default = out.strip()
    code, out, _ = run(database, "token", "anna@example.com", "--name", "ci", "--days", "7")
    short = out.strip()
    assert api_status(database, default) == 200 and api_status(database, short) == 200
    assert api_status(database, short, days_later=7.01) == 401
    assert api_status(database, default, days_later=89.9) == 200
    assert api_status(database, default, days_later=90.01) == 401
    code, _, err = run(database, "token", "anna@example.com", "--name", "x", "--days", "0")
    assert code == 1 and "1 to 366 days" in err


def test_tokens_are_listed_and_revoked_one_by_one(database: str) -> None:
    """--list shows id, name, created, expires, last used and status; --revoke ID ends
    that token only, through the API at once."""
    add(database)
    first = run(database, "token", "anna@example.com", "--name", "crm-sync")[1].strip()
    second = run(database, "token", "anna@example.com", "--name", "reporting")[1].strip()
    assert api_status(database, first) == 200
    code, out, _ = run(database, "token", "anna@example.com", "--list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == [
        "ID", "NAME", "CREATED", "EXPIRES", "LAST", "USED", "STATUS"
    ]  # fmt: skip
    assert lines[1].split()[:2] == ["2", "reporting"] and lines[1].endswith("active")
    assert lines[2].split()[:2] == ["1", "crm-sync"] and " - " not in lines[2]  # used once
    code, out, _ = run(database, "token", "--revoke", "1")
    assert (code, out.strip()) == (0, "revoked API token 1; it no longer works")
    assert api_status(database, first) == 401
    assert api_status(database, second) == 200
    assert (
        run(database, "token", "anna@example.com", "--list")[1].splitlines()[2].endswith("revoked")
    )
    code, _, err = run(database, "token", "--revoke", "99")
    assert code == 1 and "there is no API token 99" in err
