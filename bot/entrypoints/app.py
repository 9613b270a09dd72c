"""The HTTP application."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from bot.bootstrap import Container
from bot.entrypoints.routes import (
    api,
    channel_callbacks,
    console,
    console_api,
    health,
    nlg,
    qualification_api,
    secure_channel,
    secure_chat,
    secure_chat_api,
    twilio_webhooks,
)
from bot.entrypoints.validation_errors import invalid_request

__all__ = ["create_app"]


def create_app(make_container: Callable[[], Container]) -> FastAPI:
    """The app; `make_container` runs at startup (in the lifespan), not at import."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = make_container()
        app.state.container = container
        container.worker.start()
        for scheduler in container.background:
            scheduler.start()
        try:
            yield
        finally:
            container.close()

    app = FastAPI(title="gangway", version="0.1.0", lifespan=lifespan)
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
    app.include_router(console_api.router)
    app.include_router(secure_chat_api.router)
    return app
