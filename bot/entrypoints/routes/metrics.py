"""``GET /metrics``: gangway's figures in Prometheus' text format.

Prometheus usually scrapes from inside the network, so the page is open unless
``GANGWAY_METRICS_TOKEN`` is set; then it asks for ``Authorization: Bearer <token>``.
The figures hold no number, body or conversation id, only counts, timings and the
sizes of queues, but keep the page off the public proxy all the same.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from bot.bootstrap import Container

__all__ = ["router"]

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    container: Container = request.app.state.container
    token = container.settings.gangway_metrics_token
    if token is not None:
        given = request.headers.get("authorization", "")
        expected = "Bearer " + token.get_secret_value()
        # Header values arrive decoded as Latin-1; bytes keep compare_digest total.
        if not hmac.compare_digest(given.encode("latin-1"), expected.encode()):
            raise HTTPException(
                401, "a valid metrics token is required", headers={"WWW-Authenticate": "Bearer"}
            )
    if container.metrics is None:
        raise HTTPException(404, "this service keeps no figures")
    # The database's figures are read at each scrape: off the event loop.
    body, content_type = await run_in_threadpool(container.metrics.exposition)
    return Response(body, media_type=content_type)
