"""Who is signed in to the console or its API, and signing in and out with a password.

A console session is a random token in a cookie, an API token a bearer token; the
database keeps only their digests (``bot.adapters.accounts``). Each person is seen by
the access rules as an ``Actor`` under the routing rules in force. Failed sign-ins are
throttled per account and per client address (``bot.adapters.sign_in_throttle``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.adapters import accounts
from bot.adapters.accounts import SessionPolicy
from bot.adapters.db import SessionFactory
from bot.adapters.sign_in_throttle import SignInThrottle
from bot.domain.access import Actor
from bot.domain.routing import RoutingRules
from bot.service_layer.handoff_access import actor_of

__all__ = ["SignIn", "SignedIn", "api_actor", "console_user", "sign_in", "sign_out"]


@dataclass(frozen=True)
class SignedIn:
    """A person with a live console session."""

    actor: Actor
    name: str
    email: str


@dataclass(frozen=True)
class SignIn:
    """A sign-in's result: a new session's token, or how long to wait, or neither (the
    email or password is not right)."""

    token: str | None = None
    wait: timedelta | None = None


def api_actor(
    sessions: SessionFactory, token: str, now: datetime, rules: RoutingRules
) -> Actor | None:
    """The owner of a live API token; None for an unknown, expired or revoked one."""
    with sessions.begin() as s:
        user = accounts.token_user(s, token, now)
        return None if user is None else actor_of(user, rules)


def console_user(
    sessions: SessionFactory,
    token: str,
    now: datetime,
    policy: SessionPolicy,
    rules: RoutingRules,
    *,
    touch: bool = True,
) -> SignedIn | None:
    """The person whose console session ``token`` is, if it is live; with ``touch`` the
    request counts as activity and keeps the session alive."""
    with sessions.begin() as s:
        user = accounts.session_user(s, token, now, policy, touch=touch)
        if user is None:
            return None
        return SignedIn(actor_of(user, rules), user.display_name, user.email)


def sign_in(
    sessions: SessionFactory,
    email: str,
    password: str,
    *,
    source: str,
    now: datetime,
    policy: SessionPolicy,
    throttle: SignInThrottle,
    previous: str | None = None,
) -> SignIn:
    """Sign in from the client address ``source``; a session token ``previous`` held by
    the same browser ends, so every sign-in gets a fresh one."""
    with sessions.begin() as s:
        wait = throttle.retry_after(s, email, source, now)
        if wait is not None:
            return SignIn(wait=wait)
        user = accounts.authenticate(s, email, password, now, source=source)
        if user is None:
            throttle.failed(s, email, source, now)
            return SignIn()
        throttle.succeeded(s, email)
        token = accounts.new_session(s, user, now, policy)
        if previous:
            accounts.revoke_session(s, previous, now)
        return SignIn(token=token)


def sign_out(sessions: SessionFactory, token: str, now: datetime) -> None:
    with sessions.begin() as s:
        accounts.revoke_session(s, token, now)
