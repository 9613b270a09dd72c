"""Console accounts: users, password hashes, sign-in sessions and per-user API tokens.

Passwords are hashed with argon2id (``bot.adapters.passwords``); an older scrypt hash
is replaced at the account's next successful sign-in. Session cookies and API tokens
are random; the database keeps only their SHA-256, so a copy of the database signs
nobody in. API tokens expire, and each can be revoked on its own.

Every function works in the caller's unit of work and writes its audit records there.
A refused request raises ``AccountError`` whose message is plain words for a person.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.adapters import audit_log, passwords
from bot.adapters.tables import ApiToken, User, UserSession
from bot.domain.access import Role

__all__ = [
    "API_TOKEN_PREFIX",
    "DEFAULT_TOKEN_LIFETIME",
    "MAX_TOKEN_LIFETIME",
    "MIN_PASSWORD_LENGTH",
    "AccountError",
    "SessionPolicy",
    "authenticate",
    "create_api_token",
    "create_user",
    "disable_user",
    "find_user",
    "hash_password",
    "issue_api_token",
    "list_api_tokens",
    "list_users",
    "new_session",
    "revoke_api_token",
    "revoke_session",
    "session_user",
    "token_user",
    "verify_password",
]

MIN_PASSWORD_LENGTH = 12
# Long enough for any passphrase; the bound keeps a megabyte "password" from costing CPU.
MAX_PASSWORD_LENGTH = 1024
API_TOKEN_PREFIX = "gw_"
DEFAULT_TOKEN_LIFETIME = timedelta(days=90)
# A token is a bearer credential: a year at most, then a new one.
MAX_TOKEN_LIFETIME = timedelta(days=366)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AccountError(ValueError):
    """A refused account operation; the message says what to change."""


@dataclass(frozen=True)
class SessionPolicy:
    """A session ends after ``idle`` without use, and ``absolute`` after sign-in at most."""

    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)


# -- passwords --------------------------------------------------------------------------


def hash_password(password: str) -> str:
    """A new argon2id hash (``bot.adapters.passwords``)."""
    return passwords.hash_password(password)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; False (never an error) for a malformed hash."""
    return passwords.verify(password, stored)


_dummy_hash: str | None = None


def _dummy() -> str:
    """A hash to check against when there is no such user, so the answer takes as long."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password(secrets.token_urlsafe(16))
    return _dummy_hash


# -- users ------------------------------------------------------------------------------


def _normalise_email(email: str) -> str:
    return email.strip().lower()


def _codes(
    values: Iterable[str], what: str, pattern: str, example: str, case: Callable[[str], str]
) -> list[str]:
    codes = set()
    for value in values:
        code = value.strip()
        if not code:
            continue
        if code == "*":  # covers every one (see flows/routing.yml)
            codes.add(code)
            continue
        if not re.fullmatch(pattern, code):
            raise AccountError(f"{value!r} is not a {what} (for example {example}, or * for all)")
        codes.add(case(code))
    return sorted(codes)


def find_user(session: Session, email: str) -> User | None:
    return session.execute(
        select(User).where(User.email == _normalise_email(email))
    ).scalar_one_or_none()


def create_user(
    session: Session,
    *,
    email: str,
    display_name: str,
    role: str,
    password: str,
    now: datetime,
    team: str | None = None,
    countries: Iterable[str] = (),
    products: Iterable[str] = (),
    languages: Iterable[str] = (),
) -> User:
    address = _normalise_email(email)
    if not _EMAIL.match(address) or len(address) > 320:
        raise AccountError(f"{email!r} does not look like an email address (name@example.com)")
    name = display_name.strip()
    if not name or len(name) > 200:
        raise AccountError("the display name must be 1 to 200 characters")
    try:
        chosen = Role(role.strip().lower())
    except ValueError:
        raise AccountError(
            f"unknown role {role!r}: use one of {', '.join(r.value for r in Role)}"
        ) from None
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"the password must be at most {MAX_PASSWORD_LENGTH} characters")
    if find_user(session, address) is not None:
        raise AccountError(f"there is already a user {address}")
    user = User(
        email=address,
        display_name=name,
        role=chosen.value,
        password_hash=hash_password(password),
        active=True,
        team=(team or "").strip() or None,
        countries=json.dumps(_codes(countries, "country code", "[A-Za-z]{2}", "DE", str.upper)),
        products=json.dumps(
            _codes(products, "product name", r"[\w.-]{1,64}", "savings", str.lower)
        ),
        languages=json.dumps(_codes(languages, "language code", "[A-Za-z]{2}", "en", str.lower)),
        available=True,
        created_at=now,
    )
    session.add(user)
    session.flush()
    _audit(session, "user_created", now, user_id=user.id, email=address, role=chosen.value)
    return user


def list_users(session: Session) -> list[User]:
    return list(session.execute(select(User).order_by(User.email)).scalars())


def disable_user(session: Session, email: str, now: datetime) -> User:
    """Disable the account and end its sessions and API tokens at once."""
    user = find_user(session, email)
    if user is None:
        raise AccountError(f"there is no user {_normalise_email(email)}")
    if not user.active:
        return user
    user.active = False
    user.available = False
    user.disabled_at = now
    session.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    _audit(session, "user_disabled", now, user_id=user.id, email=user.email)
    return user


def _audit(session: Session, kind: str, now: datetime, **payload: Any) -> None:
    audit_log.append(session, kind=kind, conversation_id=None, payload=payload, now=now)


def authenticate(
    session: Session, email: str, password: str, now: datetime, *, source: str | None = None
) -> User | None:
    """The active user with this email and password, else None; both answers take as long.

    ``source`` (the client's address) goes into the audit record. A failure for an
    unknown email records only the address's SHA-256: people type passwords into the
    email field, and the audit log must never hold one.
    """
    user = find_user(session, email)
    ok = verify_password(password[:MAX_PASSWORD_LENGTH], user.password_hash if user else _dummy())
    if user is not None and ok and user.active:
        _audit(session, "sign_in", now, user_id=user.id, source=source)
        if passwords.needs_rehash(user.password_hash):
            # The only moment the password is in hand: bring its hash up to today's cost.
            user.password_hash = hash_password(password[:MAX_PASSWORD_LENGTH])
            _audit(session, "password_rehashed", now, user_id=user.id)
        return user
    if user is None:
        digest = hashlib.sha256(_normalise_email(email).encode()).hexdigest()
        _audit(session, "sign_in_failed", now, reason="unknown", email_sha256=digest, source=source)
    else:
        reason = "disabled" if not user.active else "password"
        _audit(session, "sign_in_failed", now, reason=reason, user_id=user.id, source=source)
    return None


# -- sessions and API tokens ------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_session(
    session: Session, user: User, now: datetime, policy: SessionPolicy | None = None
) -> str:
    """A new sign-in session for ``user``; the raw token (for the cookie) is returned only."""
    policy = policy or SessionPolicy()
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            token_sha256=_digest(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + policy.absolute,
            last_seen_at=now,
        )
    )
    session.flush()
    return token


def session_user(
    session: Session,
    token: str,
    now: datetime,
    policy: SessionPolicy | None = None,
    *,
    touch: bool = True,
) -> User | None:
    """The user signed in with ``token``, or None if it is unknown, ended or the user is
    disabled. With ``touch`` the idle timeout starts again from ``now``."""
    if not token:
        return None
    policy = policy or SessionPolicy()
    row = session.execute(
        select(UserSession).where(UserSession.token_sha256 == _digest(token))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if now >= row.expires_at or now - row.last_seen_at >= policy.idle:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    if touch:
        row.last_seen_at = now
    return user


def revoke_session(session: Session, token: str, now: datetime) -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.token_sha256 == _digest(token), UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def create_api_token(
    session: Session,
    user: User,
    name: str,
    now: datetime,
    lifetime: timedelta = DEFAULT_TOKEN_LIFETIME,
) -> str:
    """A new API token for ``user`` that works for ``lifetime``; the raw token is
    returned here and never again."""
    return issue_api_token(session, user, name, now, lifetime)[1]


def issue_api_token(
    session: Session,
    user: User,
    name: str,
    now: datetime,
    lifetime: timedelta = DEFAULT_TOKEN_LIFETIME,
) -> tuple[ApiToken, str]:
    """As ``create_api_token``, with the stored row (its id revokes it)."""
    label = name.strip()
    if not label or len(label) > 100:
        raise AccountError("the token name must be 1 to 100 characters")
    if not user.active:
        raise AccountError(f"{user.email} is disabled")
    if lifetime <= timedelta(0) or lifetime > MAX_TOKEN_LIFETIME:
        raise AccountError(f"a token works for 1 to {MAX_TOKEN_LIFETIME.days} days")
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        token_sha256=_digest(token),
        user_id=user.id,
        name=label,
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    session.flush()
    _audit(
        session,
        "api_token_created",
        now,
        user_id=user.id,
        token_id=row.id,
        name=label,
        expires_at=row.expires_at.isoformat(),
    )
    return row, token


def list_api_tokens(session: Session, user: User) -> list[ApiToken]:
    """``user``'s API tokens, newest first, revoked and expired ones included."""
    return list(
        session.execute(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        ).scalars()
    )


def revoke_api_token(session: Session, token_id: int, now: datetime) -> ApiToken:
    """End one API token at once; revoking it again changes nothing."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise AccountError(f"there is no API token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
        _audit(session, "api_token_revoked", now, user_id=row.user_id, token_id=row.id)
    return row


def token_user(session: Session, token: str, now: datetime) -> User | None:
    """The active user an unexpired, unrevoked API token belongs to, else None."""
    if not token.startswith(API_TOKEN_PREFIX):
        return None
    row = session.execute(
        select(ApiToken).where(ApiToken.token_sha256 == _digest(token))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or now >= row.expires_at:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    row.last_used_at = now
    return user
