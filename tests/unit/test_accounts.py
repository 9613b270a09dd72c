"""Console accounts: password hashing, sign-in, sessions that expire, and API tokens
(the throttle: tests/integration/test_sign_in_throttle.py)."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.adapters import accounts, audit_log
from bot.adapters.accounts import AccountError, SessionPolicy
from bot.adapters.db import SessionFactory
from bot.adapters.tables import Base, User
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock

PASSWORD = "correct horse battery staple"


def add(sessions: SessionFactory, clock: FakeClock, email: str = "anna@example.com") -> int:
    with sessions.begin() as s:
        return accounts.create_user(
            s,
            email=email,
            display_name="Anna Example",
            role="advisor",
            password=PASSWORD,
            team="berlin",
            countries=["de", "AT"],
            languages=["EN", "de"],
            products=["savings"],
            now=clock.now(),
        ).id


def audit(sessions: SessionFactory) -> list[tuple[str, dict[str, object]]]:
    with chained(sessions).begin() as s:
        return [(r.kind, json.loads(r.payload)) for r in audit_log.iter_records(s)]


# -- passwords --------------------------------------------------------------------------


def test_a_password_hash_is_salted_argon2id_at_owasp_cost() -> None:
    """$argon2id$v=19$m=19456,t=2,p=1$...; the same password hashes differently each time."""
    first, second = accounts.hash_password(PASSWORD), accounts.hash_password(PASSWORD)
    assert first.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert first != second
    assert accounts.verify_password(PASSWORD, first)
    assert not accounts.verify_password(PASSWORD + "!", first)


@pytest.mark.parametrize(
    "stored",
    ["", "bcrypt$x", "scrypt$a$b$c$d$e", "scrypt$16384$8$1$!$!", "$argon2id$v=19$m=1$x$y"],
)
def test_a_malformed_stored_hash_never_verifies(stored: str) -> None:
    assert not accounts.verify_password(PASSWORD, stored)


# -- users ------------------------------------------------------------------------------


def test_a_new_user_is_stored_normalised_and_audited(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Email lower-cased, codes normalised, no password anywhere but as its hash."""
    add(sessions, clock, "Anna@Example.com")
    with sessions.begin() as s:
        user = s.execute(select(User)).scalar_one()
        assert user.email == "anna@example.com"
        assert json.loads(user.countries) == ["AT", "DE"]
        assert json.loads(user.languages) == ["de", "en"]
        assert accounts.verify_password(PASSWORD, user.password_hash)
    (kind, payload), *_ = audit(sessions)
    assert kind == "user_created" and payload["email"] == "anna@example.com"
    assert PASSWORD not in json.dumps(payload)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"role": "boss"}, "unknown role 'boss': use one of advisor, supervisor"),
        ({"email": "anna.example.com"}, "does not look like an email address"),
        ({"password": "short pass"}, "at least 12 characters"),
        ({"display_name": " "}, "display name must be"),
        ({"countries": ["Germany"]}, "'Germany' is not a country code"),
    ],
)
def test_invalid_accounts_are_refused_in_plain_words(
    sessions: SessionFactory, clock: FakeClock, changes: dict[str, object], reason: str
) -> None:
    fields: dict[str, object] = {
        "email": "anna@example.com",
        "display_name": "Anna",
        "role": "advisor",
        "password": PASSWORD,
        **changes,
    }
    with pytest.raises(AccountError, match=reason), sessions.begin() as s:
        accounts.create_user(s, now=clock.now(), **fields)  # type: ignore[arg-type]


def test_the_same_email_cannot_be_added_twice(sessions: SessionFactory, clock: FakeClock) -> None:
    add(sessions, clock)
    with pytest.raises(AccountError, match=r"already a user anna@example\.com"):
        add(sessions, clock, "ANNA@example.com")


# -- signing in -------------------------------------------------------------------------


def sign_in(sessions: SessionFactory, clock: FakeClock, email: str, password: str) -> User | None:
    with sessions.begin() as s:
        return accounts.authenticate(s, email, password, clock.now(), source="192.0.2.7")


def test_authenticate_accepts_only_the_right_password_of_an_active_user(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Right password: the user; wrong, unknown email or disabled: None."""
    add(sessions, clock)
    user = sign_in(sessions, clock, "ANNA@example.com", PASSWORD)
    assert user is not None and user.email == "anna@example.com"
    assert sign_in(sessions, clock, "anna@example.com", "wrong password!") is None
    assert sign_in(sessions, clock, "nobody@example.com", PASSWORD) is None
    with sessions.begin() as s:
        accounts.disable_user(s, "anna@example.com", clock.now())
    assert sign_in(sessions, clock, "anna@example.com", PASSWORD) is None
    reasons = [p.get("reason") for k, p in audit(sessions) if k == "sign_in_failed"]
    assert reasons == ["password", "unknown", "disabled"]


def test_the_audit_log_never_holds_a_typed_password_even_in_the_email_field(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A password typed as the email is recorded only as a hash."""
    add(sessions, clock)
    sign_in(sessions, clock, PASSWORD, "x")
    sign_in(sessions, clock, "anna@example.com", "my other secret")
    dumped = json.dumps(audit(sessions))
    assert PASSWORD not in dumped and "my other secret" not in dumped


def test_an_unknown_email_takes_as_long_as_a_wrong_password(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Both run the password hash, so timing does not tell whether an account exists."""
    add(sessions, clock)
    sign_in(sessions, clock, "nobody@example.com", "warm up the dummy hash")

    def fastest(email: str) -> float:
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            sign_in(sessions, clock, email, "wrong password!")
            runs.append(time.perf_counter() - start)
        return min(runs)

    known, unknown = fastest("anna@example.com"), fastest("nobody@example.com")
    assert unknown > known * 0.5


# -- sessions ---------------------------------------------------------------------------


def start(sessions: SessionFactory, clock: FakeClock, policy: SessionPolicy | None = None) -> str:
    with sessions.begin() as s:
        user = s.execute(select(User)).scalar_one()
        return accounts.new_session(s, user, clock.now(), policy)


def who(sessions: SessionFactory, clock: FakeClock, token: str, **kwargs: object) -> str | None:
    with sessions.begin() as s:
        user = accounts.session_user(s, token, clock.now(), **kwargs)  # type: ignore[arg-type]
        return None if user is None else user.email


def test_a_session_ends_after_30_idle_minutes_and_use_keeps_it_alive(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    add(sessions, clock)
    token = start(sessions, clock)
    for _ in range(3):  # used every 29 minutes: still signed in after 87 minutes
        clock.advance(29 * 60)
        assert who(sessions, clock, token) == "anna@example.com"
    clock.advance(30 * 60)
    assert who(sessions, clock, token) is None


def test_a_look_without_touch_does_not_keep_the_session_alive(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """The queue's polling reads the session but is not activity."""
    add(sessions, clock)
    token = start(sessions, clock)
    clock.advance(20 * 60)
    assert who(sessions, clock, token, touch=False) == "anna@example.com"
    clock.advance(10 * 60)
    assert who(sessions, clock, token) is None


def test_a_session_ends_12_hours_after_sign_in_however_busy(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    add(sessions, clock)
    token = start(sessions, clock)
    for _ in range(47):
        clock.advance(15 * 60)
        assert who(sessions, clock, token) is not None
    clock.advance(15 * 60)
    assert who(sessions, clock, token) is None


def test_the_policy_sets_other_timeouts(sessions: SessionFactory, clock: FakeClock) -> None:
    add(sessions, clock)
    policy = SessionPolicy(idle=timedelta(minutes=5), absolute=timedelta(hours=1))
    token = start(sessions, clock, policy)
    clock.advance(4 * 60)
    assert who(sessions, clock, token, policy=policy) is not None
    clock.advance(5 * 60)
    assert who(sessions, clock, token, policy=policy) is None


def test_revoked_sessions_and_disabled_users_sign_nobody_in(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    add(sessions, clock)
    revoked, kept = start(sessions, clock), start(sessions, clock)
    with sessions.begin() as s:
        accounts.revoke_session(s, revoked, clock.now())
    assert who(sessions, clock, revoked) is None
    assert who(sessions, clock, kept) == "anna@example.com"
    with sessions.begin() as s:
        accounts.disable_user(s, "anna@example.com", clock.now())
    assert who(sessions, clock, kept) is None
    assert who(sessions, clock, "") is None and who(sessions, clock, "made-up") is None


def test_no_table_holds_a_session_or_api_token_only_their_hashes(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    add(sessions, clock)
    session_token = start(sessions, clock)
    with sessions.begin() as s:
        user = s.execute(select(User)).scalar_one()
        api_token = accounts.create_api_token(s, user, "crm-sync", clock.now())
    dumped: list[str] = []
    with sessions.begin() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)).all():
                dumped.extend(str(value) for value in row)
    assert not [v for v in dumped if session_token in v or api_token in v]


# -- API tokens -------------------------------------------------------------------------


def test_an_api_token_identifies_its_user_until_the_user_is_disabled(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """gw_-prefixed; creation audited without the token; disabling revokes it."""
    add(sessions, clock)
    with sessions.begin() as s:
        user = s.execute(select(User)).scalar_one()
        token = accounts.create_api_token(s, user, "crm-sync", clock.now())
    assert token.startswith("gw_") and len(token) > 40
    with sessions.begin() as s:
        found = accounts.token_user(s, token, clock.now())
        assert found is not None and found.email == "anna@example.com"
        assert accounts.token_user(s, token + "x", clock.now()) is None
        assert accounts.token_user(s, "not-a-token", clock.now()) is None
    created = [p for k, p in audit(sessions) if k == "api_token_created"]
    expires = (clock.now() + timedelta(days=90)).isoformat()
    assert created == [{"user_id": 1, "token_id": 1, "name": "crm-sync", "expires_at": expires}]
    with sessions.begin() as s:
        accounts.disable_user(s, "anna@example.com", clock.now())
    with sessions.begin() as s:
        assert accounts.token_user(s, token, clock.now()) is None


def test_disabling_is_audited_and_unknown_users_are_named(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    add(sessions, clock)
    with sessions.begin() as s:
        accounts.disable_user(s, "anna@example.com", clock.now())
    assert [k for k, _ in audit(sessions)][-1] == "user_disabled"
    with pytest.raises(AccountError, match=r"no user nobody@example\.com"), sessions.begin() as s:
        accounts.disable_user(s, "nobody@example.com", clock.now())


def test_an_api_token_stops_working_when_it_expires(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """A 30-day token works on day 29 and is refused from day 30."""
    add(sessions, clock)
    with sessions.begin() as s:
        user = s.execute(select(User)).scalar_one()
        token = accounts.create_api_token(s, user, "crm-sync", clock.now(), timedelta(days=30))
    clock.advance(29 * 86400)
    with sessions.begin() as s:
        assert accounts.token_user(s, token, clock.now()) is not None
    clock.advance(86400)
    with sessions.begin() as s:
        assert accounts.token_user(s, token, clock.now()) is None


def test_revoking_one_api_token_leaves_the_others_working(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """Revoked is refused at once and audited; the user's other token still works."""
    add(sessions, clock)
    with sessions.begin() as s:
        user = s.execute(select(User)).scalar_one()
        first, first_raw = accounts.issue_api_token(s, user, "crm-sync", clock.now())
        second_raw = accounts.create_api_token(s, user, "reporting", clock.now())
        first_id = first.id
    with sessions.begin() as s:
        accounts.revoke_api_token(s, first_id, clock.now())
    with sessions.begin() as s:
        assert accounts.token_user(s, first_raw, clock.now()) is None
        assert accounts.token_user(s, second_raw, clock.now()) is not None
    assert ("api_token_revoked", {"user_id": 1, "token_id": first_id}) in audit(sessions)
    with pytest.raises(AccountError, match="no API token 99"), sessions.begin() as s:
        accounts.revoke_api_token(s, 99, clock.now())


@pytest.mark.parametrize("days", [0, -1, 400])
def test_an_api_token_lifetime_outside_one_day_to_a_year_is_refused(
    sessions: SessionFactory, clock: FakeClock, days: int
) -> None:
    add(sessions, clock)
    with pytest.raises(AccountError, match="1 to 366 days"), sessions.begin() as s:
        user = s.execute(select(User)).scalar_one()
        accounts.create_api_token(s, user, "crm-sync", clock.now(), timedelta(days=days))


def test_an_old_scrypt_hash_is_upgraded_to_argon2id_at_the_next_sign_in(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """The stored hash becomes argon2id after signing in, and the password still works."""
    add(sessions, clock)
    old = (
        "scrypt$16384$8$1$AAECAwQFBgcICQoLDA0ODw==$"
        + base64.b64encode(
            hashlib.scrypt(PASSWORD.encode(), salt=bytes(range(16)), n=2**14, r=8, p=1, dklen=32)
        ).decode()
    )
    with sessions.begin() as s:
        s.execute(select(User)).scalar_one().password_hash = old
    with sessions.begin() as s:
        assert accounts.authenticate(s, "anna@example.com", PASSWORD, clock.now()) is not None
    with sessions.begin() as s:
        stored = s.execute(select(User)).scalar_one().password_hash
    assert stored.startswith("$argon2id$")
    assert "password_rehashed" in [k for k, _ in audit(sessions)]
    with sessions.begin() as s:
        assert accounts.authenticate(s, "anna@example.com", PASSWORD, clock.now()) is not None
        assert accounts.authenticate(s, "anna@example.com", "wrong password!!", clock.now()) is None
    with sessions.begin() as s:
        assert s.execute(select(User)).scalar_one().password_hash == stored
