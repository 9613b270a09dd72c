"""var/stack.json: how local tools reach the stack `gangway up` is running.

`gangway up` makes the secrets that were not configured (the service token, Rasa's
auth token, the action server's secret, the sandbox's throwaway credentials) anew for
each run. Local tools that talk to that stack (`gangway doctor`, `gangway classify`,
the benchmark) find the ones they need here; the file is readable by its owner only
and removed when the stack stops.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from bot.config import Settings

__all__ = ["rasa_token", "read_stack_file", "stack_file_path", "write_stack_file"]


def stack_file_path(settings: Settings) -> Path:
    return settings.state_dir / "stack.json"


def write_stack_file(path: Path, connection: Mapping[str, str]) -> None:
    """Write ``connection`` to ``path``, creating it readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(dict(connection), fh, indent=2)


def read_stack_file(settings: Settings) -> dict[str, str]:
    """What the running stack wrote, or {} when no stack runs (or the file is unreadable)."""
    try:
        data = json.loads(stack_file_path(settings).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def rasa_token(settings: Settings) -> str | None:
    """Rasa's auth token: RASA_TOKEN when configured, else the running stack's."""
    if settings.rasa_token is not None:
        return settings.rasa_token.get_secret_value()
    return read_stack_file(settings).get("rasa_token") or None
