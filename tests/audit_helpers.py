"""Reading the audit log in tests: records wait to be chained after the transaction
that appended them commits (bot.adapters.audit_log), as they do in the service until
its chainer runs."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.adapters.audit_log import chain_all
from bot.adapters.db import SessionFactory

__all__ = ["chained"]


def chained(sessions: SessionFactory) -> SessionFactory:
    """Chain every waiting record, as the service's chainer would; ``sessions`` back,
    so that a test reads the log with ``with chained(sessions)() as s:``."""
    chain_all(sessions, lambda: datetime.now(UTC))
    return sessions
