"""Accounts of people who sign in through the firm's identity provider.

The provider is the authority on who someone is and which groups they are in, so
each sign-in brings the gangway account up to date: made on the first sign-in,
display name, role and team refreshed on each one after. Such an account has no
password (its stored hash can never verify), so it signs in only through the
provider. An account an administrator disabled in gangway stays disabled.

While the browser is at the provider, what its return must match (state, nonce, PKCE
verifier) waits in ``pending_oidc_sign_ins``, found by the SHA-256 of a random cookie
value: every service process can finish a sign-in another one started, and each
pending sign-in is used once.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.adapters import accounts, audit_log
from bot.adapters.accounts import AccountError
from bot.adapters.tables import PendingOidcSignIn, User
from bot.domain.access import Role

__all__ = ["NO_PASSWORD", "PENDING_LIFETIME", "provision", "start_pending", "take_pending"]

# Not a hash any password can match: federated accounts sign in through the provider.
NO_PASSWORD = "!federated"
# Time to sign in at the provider before the attempt must start again.
PENDING_LIFETIME = timedelta(minutes=10)


def _digest(cookie: str) -> str:
    return hashlib.sha256(cookie.encode("utf-8")).hexdigest()


def start_pending(session: Session, data: dict[str, Any], now: datetime) -> str:
    """Keep ``data`` for the browser's return; the cookie value to give it is returned."""
    session.execute(delete(PendingOidcSignIn).where(PendingOidcSignIn.expires_at <= now))
    cookie = secrets.token_urlsafe(32)
    session.add(
        PendingOidcSignIn(
            cookie_sha256=_digest(cookie),
            data=json.dumps(data),
            expires_at=now + PENDING_LIFETIME,
        )
    )
    session.flush()
    return cookie


def take_pending(session: Session, cookie: str, now: datetime) -> dict[str, Any] | None:
    """The data kept for this cookie, once (it is removed), or None if unknown or stale."""
    if not cookie:
        return None
    row = session.execute(
        select(PendingOidcSignIn).where(PendingOidcSignIn.cookie_sha256 == _digest(cookie))
    ).scalar_one_or_none()
    if row is None:
        return None
    session.delete(row)
    if now >= row.expires_at:
        return None
    data = json.loads(row.data)
    return data if isinstance(data, dict) else None


def provision(
    session: Session,
    *,
    email: str,
    display_name: str,
    role: Role,
    team: str | None,
    issuer: str,
    now: datetime,
) -> User:
    """The account for ``email`` as the provider describes it, made or updated now."""
    user = accounts.find_user(session, email)
    name = (display_name.strip() or email.split("@")[0])[:200]
    if user is None:
        user = accounts.create_user(
            session,
            email=email,
            display_name=name,
            role=role.value,
            # create_user insists on a password; it is replaced at once.
            password=secrets.token_urlsafe(32),
            team=team,
            now=now,
        )
        user.password_hash = NO_PASSWORD
        _audit(session, "user_provisioned", now, user_id=user.id, issuer=issuer, role=role.value)
        return user
    if not user.active:
        raise AccountError(f"{user.email} is disabled in gangway")
    team = (team or "").strip() or None
    if (user.role, user.team, user.display_name) != (role.value, team, name):
        before = {"role": user.role, "team": user.team}
        user.role, user.team, user.display_name = role.value, team, name
        _audit(
            session,
            "user_updated_from_provider",
            now,
            user_id=user.id,
            issuer=issuer,
            before=before,
            after={"role": role.value, "team": team},
        )
    return user


def _audit(session: Session, kind: str, now: datetime, **payload: Any) -> None:
    audit_log.append(session, kind=kind, conversation_id=None, payload=payload, now=now)
