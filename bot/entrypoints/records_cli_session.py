"""The database as a command that records audited steps opens it, with plain exits.

Shared by the commands an operator or a compliance user runs against the records
(failed work, flow versions): exit 2 when the database cannot be used, exit 1 with the
use case's own message for a refused step, and the step's audit records chained before
the command returns rather than waiting for a running service to chain them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy.exc import SQLAlchemyError

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory
from bot.config import MissingConfiguration, load_settings
from bot.records_setup import open_records
from bot.service_layer.ports import Clock

__all__ = ["fail", "records"]


def fail(message: str, code: int) -> typer.Exit:
    """``error: message`` on stderr, and the exit to raise with ``code``."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def records(clock: Clock, refused: type[Exception]) -> Iterator[SessionFactory]:
    """The records' sessions; ``refused`` (the use case's error) exits 1 with its message."""
    try:
        engine, sessions = open_records(load_settings(), clock.now())
    except MissingConfiguration as exc:
        raise fail(str(exc), 2) from exc
    except SQLAlchemyError as exc:
        raise fail(f"the database could not be used: {exc}", 2) from exc
    try:
        yield sessions
        audit_log.chain_all(sessions, clock.now)
    except refused as exc:
        raise fail(str(exc), 1) from exc
    except SQLAlchemyError as exc:
        raise fail(f"the database could not be used: {exc}", 2) from exc
    finally:
        engine.dispose()
