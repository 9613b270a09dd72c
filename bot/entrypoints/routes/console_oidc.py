"""Signing in to the console through the firm's OpenID Connect identity provider.

On only when GANGWAY_OIDC_ISSUER, _CLIENT_ID, _CLIENT_SECRET and _ROLE_GROUPS are set;
the sign-in page then offers "Sign in with <GANGWAY_OIDC_NAME>". The flow is the
authorization code flow with PKCE, through authlib's Starlette client: ``/start``
sends the browser to the provider with a fresh state, nonce and code challenge;
``/callback`` checks the state against what this browser was given, exchanges the
code (with the verifier), and checks the ID token's signature against the provider's
published keys (JWKS), its issuer, audience, expiry and nonce. Only then are the
person's groups read and mapped to a role (``bot.domain.group_roles``); no mapped
group, no access. The redirect URI is built from GANGWAY_PUBLIC_URL, never from the
request's Host header.

authlib keeps a flow's secrets in ``request.session``; here that "session" is a dict
loaded from and saved to the database (``federated_accounts``), found through an
HttpOnly cookie, so no signing key is needed and any process can finish the flow.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import httpx
from authlib.common.errors import AuthlibBaseError
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from joserfc.errors import JoseError
from starlette.concurrency import run_in_threadpool

from bot.adapters import accounts, audit_log, federated_accounts
from bot.adapters.accounts import AccountError
from bot.config import Settings
from bot.entrypoints.routes.console import (
    SESSION_COOKIE,
    session_policy,
    sign_in_page,
    signed_in_response,
)
from bot.entrypoints.routes.console_api import container_of

if TYPE_CHECKING:
    from authlib.integrations.starlette_client import StarletteOAuth2App

__all__ = ["CALLBACK_PATH", "PENDING_COOKIE", "router"]

router = APIRouter(prefix="/console/oidc", include_in_schema=False)

CALLBACK_PATH = "/console/oidc/callback"
PENDING_COOKIE = "gangway_console_oidc"
# What can go wrong between the provider and us: its answers, its keys, its tokens.
_PROVIDER_ERRORS = (AuthlibBaseError, JoseError, httpx.HTTPError, KeyError, ValueError)


def _client(request: Request, settings: Settings) -> StarletteOAuth2App:
    """This app's authlib client for the provider (made once; it caches the metadata).
    Imported here: a service without a provider never loads authlib's HTTP client."""
    from authlib.deprecate import AuthlibDeprecationWarning

    with warnings.catch_warnings():
        # authlib nudges towards httpx2 on import; httpx is what gangway ships.
        warnings.filterwarnings("ignore", "The httpx module", AuthlibDeprecationWarning)
        from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App

    client = getattr(request.app.state, "oidc_client", None)
    if client is None:
        if not settings.oidc_configured:
            raise HTTPException(404, "sign-in through an identity provider is not set up")
        assert settings.gangway_oidc_issuer and settings.gangway_oidc_client_secret
        oauth = OAuth()
        client = oauth.register(
            name="firm",
            client_id=settings.gangway_oidc_client_id,
            client_secret=settings.gangway_oidc_client_secret.get_secret_value(),
            server_metadata_url=(
                settings.gangway_oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"
            ),
            client_kwargs={
                "scope": "openid email profile",
                "code_challenge_method": "S256",
                "timeout": 10.0,
            },
        )
        request.app.state.oidc_client = client
    assert isinstance(client, StarletteOAuth2App)
    return client


def _refused(request: Request, status: int, message: str) -> Response:
    """The sign-in page with ``message``; the pending sign-in's cookie goes."""
    response = sign_in_page(request, status, message)
    response.delete_cookie(PENDING_COOKIE, path="/console/oidc")
    return response


@router.get("/start")
async def start(request: Request) -> Response:
    """To the provider's sign-in page, with this browser's state, nonce and challenge."""
    container = container_of(request)
    settings = container.settings
    client = _client(request, settings)
    state: dict[str, Any] = {}
    request.scope["session"] = state
    redirect_uri = settings.gangway_public_url.rstrip("/") + CALLBACK_PATH
    try:
        response = await client.authorize_redirect(request, redirect_uri)
    except _PROVIDER_ERRORS:
        return _refused(request, 502, _unreachable(settings))

    def keep() -> str:
        with container.sessions.begin() as s:
            return federated_accounts.start_pending(s, state, container.clock.now())

    cookie = await run_in_threadpool(keep)
    response.set_cookie(
        PENDING_COOKIE,
        cookie,
        max_age=int(federated_accounts.PENDING_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back, not on posts
        secure=settings.gangway_public_url.lower().startswith("https://"),
        path="/console/oidc",
    )
    return response


@router.get("/callback")
async def callback(request: Request) -> Response:
    """Back from the provider: verify everything, then sign in with the mapped role."""
    container = container_of(request)
    settings = container.settings
    client = _client(request, settings)
    firm = settings.gangway_oidc_name
    cookie = request.cookies.get(PENDING_COOKIE, "")

    def take() -> dict[str, Any] | None:
        with container.sessions.begin() as s:
            return federated_accounts.take_pending(s, cookie, container.clock.now())

    pending = await run_in_threadpool(take)
    if pending is None:
        return _refused(
            request, 400, "This sign-in expired or was not started here. Please start again."
        )
    request.scope["session"] = pending
    try:
        token = await client.authorize_access_token(request)
    except _PROVIDER_ERRORS as exc:
        await run_in_threadpool(_audit_failure, request, "not_verified", type(exc).__name__)
        return _refused(request, 403, f"The sign-in with {firm} could not be verified.")
    claims = token.get("userinfo")
    if not isinstance(claims, dict) or not isinstance(claims.get("email"), str):
        await run_in_threadpool(_audit_failure, request, "no_email", None)
        return _refused(request, 403, f"{firm} did not tell gangway who you are (no email).")
    if claims.get("email_verified") is False:
        await run_in_threadpool(_audit_failure, request, "email_unverified", None)
        return _refused(request, 403, f"Your email at {firm} is not verified.")
    groups = claims.get(settings.gangway_oidc_groups_claim) or []
    if isinstance(groups, str):
        groups = [groups]
    role = settings.oidc_role_groups.role_for(g for g in groups if isinstance(g, str))
    if role is None:
        await run_in_threadpool(_audit_failure, request, "no_group", None)
        return _refused(
            request,
            403,
            f"Your account at {firm} is not in a group that may use gangway. "
            "Ask your administrator to add you to one.",
        )
    team_claim = settings.gangway_oidc_team_claim
    team = claims.get(team_claim) if team_claim else None

    def sign_in() -> tuple[str | None, str | None]:
        """The new session's token, or why there is none."""
        now = container.clock.now()
        with container.sessions.begin() as s:
            try:
                user = federated_accounts.provision(
                    s,
                    email=claims["email"],
                    display_name=str(claims.get("name") or ""),
                    role=role,
                    team=team[:100] if isinstance(team, str) else None,
                    issuer=str(claims.get("iss", "")),
                    now=now,
                )
            except AccountError as exc:
                return None, f"gangway cannot use this account: {exc}."
            audit_log.append(
                s,
                kind="sign_in",
                conversation_id=None,
                payload={"user_id": user.id, "via": "oidc", "role": role.value},
                now=now,
            )
            token = accounts.new_session(s, user, now, session_policy(container))
            old = request.cookies.get(SESSION_COOKIE)
            if old:
                accounts.revoke_session(s, old, now)
            return token, None

    session_token, refusal = await run_in_threadpool(sign_in)
    if session_token is None:
        return _refused(request, 403, refusal or "gangway cannot use this account.")
    response = signed_in_response(container, session_token)
    response.delete_cookie(PENDING_COOKIE, path="/console/oidc")
    return response


def _unreachable(settings: Settings) -> str:
    return f"{settings.gangway_oidc_name} cannot be reached just now. Please try again shortly."


def _audit_failure(request: Request, reason: str, error: str | None) -> None:
    """A refused provider sign-in, with the check that refused it, in the audit log."""
    container = container_of(request)
    with container.sessions.begin() as s:
        audit_log.append(
            s,
            kind="sign_in_failed",
            conversation_id=None,
            payload={"via": "oidc", "reason": reason, "error": error},
            now=container.clock.now(),
        )
