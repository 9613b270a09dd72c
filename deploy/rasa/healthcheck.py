"""The Rasa image's health check: exit 0 when this container's server can do its work.

The Rasa server is healthy once a model is loaded (GET /status, which needs the
token); the action server once it answers GET /health. Which one runs here is told by
the container's command, so the check asks whichever port answers. Standard library
only (the image's Python 3.10).
"""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 4.0


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:
        return json.load(answer)


def rasa_ready() -> bool:
    token = urllib.parse.quote(os.environ.get("RASA_TOKEN", ""))
    return bool(_get(f"http://127.0.0.1:5005/status?token={token}").get("model_file"))


def actions_ready() -> bool:
    return _get("http://127.0.0.1:5055/health").get("status") == "ok"


def main() -> int:
    for check in (rasa_ready, actions_ready):
        try:
            if check():
                return 0
        except (OSError, ValueError):
            continue
    return 1


if __name__ == "__main__":
    sys.exit(main())
