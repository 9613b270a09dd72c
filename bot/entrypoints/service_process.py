"""One of several service processes started by `gangway serve --workers N`.

uvicorn starts each worker process afresh and builds its app by calling `create`
(it is named by its import path, ``bot.entrypoints.service_process:create``): each
worker reads the settings itself, from the same environment as its parent. The
parent has already brought the database schema to head before any worker started,
so the workers never migrate. Each process has its own instance id (the configured
one and its process id): leases on conversations and timers say which process holds
them, so two processes must never share one.
"""

from __future__ import annotations

import logging
import os
import sys

from fastapi import FastAPI

from bot.config import Settings, load_settings

__all__ = ["configure_logging", "create", "process_settings"]


def configure_logging(level: str) -> None:
    """gangway's log format on stderr, at ``level``."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # httpx logs every request's URL at INFO, and a Twilio message lookup carries the
    # prospect's number in its query: gangway's logs never hold a number.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))


def process_settings(settings: Settings, pid: int) -> Settings:
    """``settings`` for the worker process ``pid``: its own instance id."""
    return settings.model_copy(update={"gangway_instance_id": f"{settings.instance_id}:{pid}"})


def create() -> FastAPI:
    """The app of one worker process (uvicorn's factory)."""
    from bot.bootstrap import build
    from bot.entrypoints.app import create_app
    from bot.entrypoints.tracing import start_tracing

    settings = process_settings(load_settings(), os.getpid())
    configure_logging(settings.gangway_log_level)
    return create_app(
        lambda: build(settings, migrate=False),
        api_docs=settings.api_docs_enabled,
        tracing=start_tracing(settings),
    )
