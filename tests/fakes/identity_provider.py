"""A stand-in OpenID Connect identity provider, served over real HTTP on loopback.

Just enough of a provider for the console's sign-in: discovery, an authorization
endpoint that approves at once and redirects back with a code, a token endpoint that
checks the client's secret and the PKCE verifier and returns an RS256 ID token, and
the key set. What it says about the person (email, groups) and how it misbehaves
(a wrong nonce, a signature by a key it does not publish) are set by the test.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "gangway-console"
CLIENT_SECRET = "stand-in-client-secret"


@dataclass
class StandInProvider:
    """The provider's state; tests change ``person`` and ``misbehave`` between sign-ins."""

    issuer: str = ""
    person: dict[str, Any] = field(
        default_factory=lambda: {
            "sub": "u-1001",
            "email": "anna@example.com",
            "email_verified": True,
            "name": "Anna Example",
            "groups": ["gw-advisors"],
        }
    )
    # None, "wrong_nonce", "foreign_key" (signed by a key not in the key set)
    misbehave: str | None = None
    key: RSAKey = field(
        default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "stand-in-1"})
    )
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    token_requests: int = 0

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/jwks", self.jwks),
            ]
        )

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("code_challenge_method") != "S256":
            return JSONResponse({"error": "invalid_request"}, 400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "nonce": q.get("nonce", ""),
            "challenge": q.get("code_challenge", ""),
            "redirect_uri": q.get("redirect_uri", ""),
        }
        back = urlencode({"code": code, "state": q.get("state", "")})
        return RedirectResponse(f"{q['redirect_uri']}?{back}", 302)

    async def token(self, request: Request) -> Response:
        self.token_requests += 1
        form = await request.form()
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return JSONResponse({"error": "invalid_client"}, 401)
        grant = self.codes.pop(str(form.get("code")), None)
        if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, 400)
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if challenge.rstrip(b"=").decode() != grant["challenge"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, 400)
        now = int(time.time())
        nonce = "not-the-nonce-sent" if self.misbehave == "wrong_nonce" else grant["nonce"]
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            **self.person,
        }
        key = self.key
        if self.misbehave == "foreign_key":
            key = RSAKey.generate_key(2048, parameters={"kid": "stand-in-1"})
        id_token = jwt.encode({"alg": "RS256", "kid": "stand-in-1"}, claims, key)
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "id_token": id_token,
            }
        )

    async def jwks(self, request: Request) -> Response:
        public = self.key.as_dict(private=False)
        return JSONResponse({"keys": [{**public, "use": "sig", "alg": "RS256"}]})


@contextmanager
def running_provider() -> Iterator[StandInProvider]:
    """The stand-in provider served by uvicorn in a thread on a free loopback port.

    The socket listens before the server thread starts, so a request made at once
    waits in the backlog instead of being refused: nothing to poll for.
    """
    provider = StandInProvider()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    provider.issuer = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(provider.app(), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
