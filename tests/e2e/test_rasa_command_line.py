"""The command line gangway starts Rasa with means to Rasa what gangway meant."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bot.entrypoints.supervisor import RASA_PYTHON, rasa_server_argv
from tests.e2e.processes import REPO

# Rasa's own argument parser, in Rasa's environment: what `rasa run ARGS` would read.
PARSE = """
import json, sys
from rasa.__main__ import create_argument_parser
args = create_argument_parser().parse_args(sys.argv[1:])
print(json.dumps({"auth_token": args.auth_token, "port": args.port}))
"""


@pytest.mark.parametrize("token", ["plain-token", "-starts-with-a-dash", "--looks-like-an-option"])
def test_rasa_reads_the_auth_token_it_was_given(token: str) -> None:
    """Made tokens may start with "-" (token_urlsafe's alphabet has it): Rasa must still
    read it as the token, not exit with a usage error."""
    if not RASA_PYTHON.exists():
        pytest.fail("Rasa is not installed: run `make install`.")
    argv = rasa_server_argv(Path("model.tar.gz"), host="127.0.0.1", port=5123, token=token)
    done = subprocess.run(
        [str(RASA_PYTHON), "-c", PARSE, *argv[1:]],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"auth_token": token, "port": 5123}
