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

import os

from fastapi import FastAPI

from bot.config import Settings, load_settings
from bot.entrypoints.logs import configure_logging

__all__ = ["configure_logging", "create", "logging_of", "process_settings"]


def logging_of(settings: Settings) -> None:
    """gangway's log lines as ``settings`` ask: level, format, this process's instance."""
    configure_logging(settings.gangway_log_level, settings.gangway_log_format, settings.instance_id)


def process_settings(settings: Settings, pid: int) -> Settings:
    """``settings`` for the worker process ``pid``: its own instance id."""
    return settings.model_copy(update={"gangway_instance_id": f"{settings.instance_id}:{pid}"})


def create() -> FastAPI:
    """The app of one worker process (uvicorn's factory)."""
    from bot.bootstrap import build
    from bot.entrypoints.app import create_app
    from bot.entrypoints.tracing import start_tracing

    settings = process_settings(load_settings(), os.getpid())
    logging_of(settings)
    return create_app(
        lambda: build(settings, migrate=False),
        api_docs=settings.api_docs_enabled,
        tracing=start_tracing(settings),
    )
