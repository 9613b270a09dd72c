"""Rasa's action server for gangway's custom actions, answering Rasa and nobody else.

The custom actions hold gangway's service token, and rasa_sdk 3.6's own server
(``rasa run actions``) listens on every interface (``SANIC_HOST``, default 0.0.0.0)
and runs an action for whoever asks. This launcher builds the same Sanic application
(``rasa_sdk.endpoint.create_app``, unchanged) and adds two things:

- it listens on 127.0.0.1 unless ``--host`` says otherwise;
- every request but ``GET /health`` must carry the shared secret in the
  ``X-Gangway-Action-Secret`` header (compared in constant time), else 401. Rasa sends
  it: bot/rasa/endpoints.yml sets that header on the action endpoint.

Run from the repository root, in Rasa's virtual environment::

    GANGWAY_ACTION_SECRET=... python -m actions.server --port 5055

Environment:
    GANGWAY_ACTION_SECRET  the shared secret (at least 16 characters; `gangway up`
                           makes one per run when it is not set)
    GANGWAY_URL, GANGWAY_SERVICE_TOKEN  what the actions need (actions/actions.py)

This module imports rasa_sdk only when it runs, so its checks can be tested without it.
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
import sys
from typing import Any, List, Optional

SECRET_ENV = "GANGWAY_ACTION_SECRET"
SECRET_HEADER = "X-Gangway-Action-Secret"
MIN_SECRET_LENGTH = 16
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5055
# Readiness checks (`gangway up`, `gangway doctor`) need no secret: the answer is {"status": "ok"}.
OPEN_PATHS = frozenset({"/health"})

logger = logging.getLogger(__name__)


def is_authorised(path: str, presented: Optional[str], secret: str) -> bool:
    """Whether a request for ``path`` presenting ``presented`` may be answered."""
    if path in OPEN_PATHS:
        return True
    if not presented:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), secret.encode("utf-8"))


def secret_problem(secret: Optional[str]) -> Optional[str]:
    """Why ``secret`` cannot protect the server, or None when it can."""
    if not secret:
        return f"{SECRET_ENV} is not set: the action server answers only callers that know it."
    if len(secret) < MIN_SECRET_LENGTH:
        return f"{SECRET_ENV} is shorter than {MIN_SECRET_LENGTH} characters."
    return None


def build_app(secret: str, package: str = "actions") -> Any:
    """rasa_sdk's action server application for ``package``, refusing unknown callers."""
    from rasa_sdk.endpoint import create_app
    from sanic import response

    # No CORS origins: no browser page has any business calling the action server.
    app = create_app(package, cors_origins="")

    @app.middleware("request")
    async def require_secret(request: Any) -> Any:
        if is_authorised(request.path, request.headers.get(SECRET_HEADER), secret):
            return None
        logger.warning("refused %s %s: no valid %s", request.method, request.path, SECRET_HEADER)
        return response.json({"error": "unauthorised"}, status=401)

    return app


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="gangway's Rasa action server")
    parser.add_argument("--host", default=DEFAULT_HOST, help="interface to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--actions", default="actions", help="package holding the actions")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    secret = os.environ.get(SECRET_ENV, "")
    problem = secret_problem(secret)
    if problem:
        print(f"The action server will not start: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = build_app(secret, args.actions)
    logger.info("action server listening on %s:%s", args.host, args.port)
    app.run(host=args.host, port=args.port, workers=1, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
