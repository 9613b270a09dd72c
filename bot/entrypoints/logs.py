"""gangway's log lines on stderr: human-readable text, or one JSON object per line
(GANGWAY_LOG_FORMAT=json) for a deployment's log collector.

Every line carries the request id and, when known, the conversation id of the unit of
work that wrote it (bot.service_layer.log_context), so a request, a turn of a
conversation or a timer can be followed across lines. uvicorn's own lines (its access
log, its errors) go through the same handler: the service runs uvicorn without a
logging configuration of its own, and its loggers pass their lines up to the root.

No line holds a phone number or a message's text. The code logs ids, never content;
what it cannot choose (an exception's text in a traceback, a request's query string
in the access log) is cut here: tracebacks go through the same redaction as stored
error texts, and the access log keeps the path without the query.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from bot.domain.redaction import redact
from bot.service_layer.log_context import current_conversation_id, current_request_id

__all__ = [
    "ContextFilter",
    "JsonFormatter",
    "LogFormat",
    "TextFormatter",
    "configure_logging",
    "log_handler",
]

LogFormat = Literal["json", "text"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"
# A path whose last segment is a credential: the secure-channel invite link's token
# (bot.entrypoints.routes.secure_channel.INVITE_PATH), good until used or expired.
_SECRET_PATH = re.compile(r"^(/secure/invite/)[^/?]+")
# Loggers whose INFO lines name URLs with a number in their query (a Twilio message
# lookup filters by number); kept at WARNING at least.
_URL_LOGGERS = ("httpx", "httpcore")


class ContextFilter(logging.Filter):
    """Puts the unit of work's ids on each record (a record that already carries them
    keeps its own), and drops the query string from uvicorn's access lines."""

    def __init__(self, instance: str | None = None) -> None:
        super().__init__()
        self.instance = instance

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = getattr(record, "request_id", None) or current_request_id()
        conversation_id = getattr(record, "conversation_id", None) or current_conversation_id()
        record.request_id, record.conversation_id = request_id, conversation_id
        record.instance = self.instance
        ids = [i for i in (request_id, conversation_id) if i]
        record.context = f" [{' '.join(ids)}]" if ids else ""
        if record.name == "uvicorn.access":
            _drop_query(record)
        return True


def _drop_query(record: logging.LogRecord) -> None:
    """uvicorn's access line is '%s - "%s %s HTTP/%s" %d' (client, method, path with
    its query, version, status): the query may carry a number or a sign-in code, the
    path alone is kept, an invite link's token cut from it."""
    args = record.args
    if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
        path = _SECRET_PATH.sub(r"\1…", args[2].split("?", 1)[0])
        record.args = (args[0], args[1], path, args[3], args[4])


class TextFormatter(logging.Formatter):
    """``2026-01-05 10:00:00,123 INFO bot.x [turn-1a2b3c4d c-…]: message``."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "context"):
            record.context = ""
        return super().format(record)

    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message,
    request_id, conversation_id when known, instance and pid, exc_info when there is
    an exception (its traceback as one redacted string)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        conversation_id = getattr(record, "conversation_id", None)
        if conversation_id:
            line["conversation_id"] = conversation_id
        line["instance"] = getattr(record, "instance", None)
        line["pid"] = record.process
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)

    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))


def log_handler(
    log_format: LogFormat, instance: str | None = None, stream: Any = None
) -> logging.Handler:
    """A handler writing gangway's lines in ``log_format`` to ``stream`` (stderr)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter(instance))
    return handler


def configure_logging(
    level: str, log_format: LogFormat = "text", instance: str | None = None
) -> None:
    """gangway's log lines on stderr, at ``level``, in ``log_format``; ``instance`` names
    this process in each JSON line (with its pid). As `logging.basicConfig`, it leaves a
    root logger that already has a handler alone."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level.upper(), handlers=[log_handler(log_format, instance)])
        # Python's warnings too, or they would be lines of another format on stderr.
        logging.captureWarnings(True)
    for name in _URL_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
