"""The HTTP application."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from bot.bootstrap import Container
from bot.config import Settings
from bot.entrypoints.body_limit import BodyLimitMiddleware, BodyLimits
from bot.entrypoints.request_id import RequestIdMiddleware
from bot.entrypoints.routes import (
    api,
    channel_callbacks,
    console,
    console_api,
    console_failed_work,
    console_figures,
    console_flow_changes,
    console_oidc,
    figures,
    health,
    metrics,
    nlg,
    qualification_api,
    secure_channel,
    secure_chat,
    secure_chat_api,
    twilio_webhooks,
)
from bot.entrypoints.tracing import Tracing
from bot.entrypoints.validation_errors import invalid_request

__all__ = ["create_app"]


def create_app(
    make_container: Callable[[], Container],
    *,
    api_docs: bool = True,
    tracing: Tracing | None = None,
) -> FastAPI:
    """The app; `make_container` runs at startup (in the lifespan), not at import.

    ``api_docs`` False removes /docs, /redoc and /openapi.json: in production they only
    map the attack surface for a visitor (`Settings.api_docs_enabled` decides).
    ``tracing`` traces the requests, and the container's queries and outside calls.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = make_container()
        app.state.container = container
        if tracing is not None:
            tracing.instrument_container(container)
        container.worker.start()
        for scheduler in container.background:
            scheduler.start()
        try:
            yield
        finally:
            container.close()
            if tracing is not None:
                tracing.close()

    app = FastAPI(
        title="gangway",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs" if api_docs else None,
        redoc_url="/redoc" if api_docs else None,
        openapi_url="/openapi.json" if api_docs else None,
    )

    def body_limits() -> BodyLimits:
        # Before the lifespan has built the container (an app served without it, as the
        # documentation pages can be), the settings' own defaults hold.
        container = getattr(app.state, "container", None)
        if container is None:
            fields = Settings.model_fields
            return BodyLimits(
                fields["gangway_max_body_bytes"].default,
                fields["gangway_max_upload_bytes"].default,
                fields["gangway_max_tracker_bytes"].default,
            )
        settings = container.settings
        return BodyLimits(
            settings.gangway_max_body_bytes,
            settings.gangway_max_upload_bytes,
            settings.gangway_max_tracker_bytes,
        )

    app.add_middleware(BodyLimitMiddleware, limits=body_limits)
    if tracing is not None:
        tracing.instrument_app(app)
    # Added last, so it runs first: a request refused for its size has an id too.
    app.add_middleware(RequestIdMiddleware)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.include_router(health.router)
    app.include_router(twilio_webhooks.router)
    app.include_router(api.router)
    app.include_router(qualification_api.router)
    app.include_router(secure_channel.router)
    app.include_router(secure_chat.router)
    app.include_router(nlg.router)
    app.include_router(channel_callbacks.router)
    app.include_router(console.router)
    app.include_router(console_failed_work.router)
    app.include_router(console_figures.router)
    app.include_router(console_flow_changes.router)
    app.include_router(console_oidc.router)
    app.include_router(console_api.router)
    app.include_router(secure_chat_api.router)
    app.include_router(figures.router)
    app.include_router(metrics.router)
    return app
