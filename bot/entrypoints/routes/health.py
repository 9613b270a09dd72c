"""Liveness and readiness.

Both are unauthenticated (load balancers and orchestrators call them), so they say
only whether the service is usable: the reason a check failed goes to the log, never
into the answer, where a driver's message would show hosts, ports, users or paths.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from bot.adapters.migrate import current_revision
from bot.bootstrap import Container

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter()


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Ready to take webhooks: the database answers and its schema is current."""
    container: Container = request.app.state.container

    def check() -> dict[str, str]:
        # Reading the schema's revision is a query: it fails when the database cannot be used.
        return {"database": "ok", "schema": current_revision(container.engine) or "none"}

    try:
        checks = await run_in_threadpool(check)
    except Exception:
        log.exception("readiness check failed: the database cannot be used")
        return JSONResponse(
            {"status": "unavailable", "database": "database unavailable"}, status_code=503
        )
    return JSONResponse({"status": "ready", **checks})
