"""The Rasa image's health check: exit 0 when this container's server can do its work.

    python deploy/rasa/healthcheck.py [rasa|actions]

The Rasa server is healthy once a model is loaded (GET /status, which needs the
token); the action server once it answers GET /health. Without an argument the check
is the one for the server this container runs, read from its first process's command
line (deploy/rasa/entrypoint.sh execs it). Standard library only (the image's Python).
"""

import json
import os
import sys
import urllib.parse
import urllib.request
from pathlib import Path

TIMEOUT = 4.0


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:
        return json.load(answer)


def rasa_ready() -> bool:
    token = urllib.parse.quote(os.environ.get("RASA_TOKEN", ""))
    return bool(_get(f"http://127.0.0.1:5005/status?token={token}").get("model_file"))


def actions_ready() -> bool:
    return _get("http://127.0.0.1:5055/health").get("status") == "ok"


def running_server() -> str:
    """The server this container runs: its first process is "actions.server" or Rasa."""
    try:
        command = Path("/proc/1/cmdline").read_bytes()
    except OSError:
        return "rasa"
    return "actions" if b"actions.server" in command else "rasa"


def main(argv: list) -> int:
    server = argv[1] if len(argv) > 1 else running_server()
    check = {"rasa": rasa_ready, "actions": actions_ready}.get(server)
    if check is None:
        print(f"unknown server {server!r}: rasa or actions", file=sys.stderr)
        return 2
    try:
        return 0 if check() else 1
    except (OSError, ValueError) as exc:
        print(f"{server} is not ready: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
