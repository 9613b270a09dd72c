"""Rasa and its action server for a private stack (`gangway flows test`, `simulate`).

They are started as `gangway up` starts them (bot.entrypoints.supervisor: the same
command lines and environments), from `.venv-rasa` with the trained model, on free
loopback ports, and stopped with the command; their output goes to a log folder.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from bot.entrypoints.supervisor import (
    REPO_ROOT,
    action_server_argv,
    child_environments,
    rasa_has_model,
    rasa_server_argv,
)

__all__ = ["RasaEndpoints", "StackError", "free_port", "started_rasa"]


class StackError(RuntimeError):
    """Rasa, the action server or gangway could not be started or reached."""


@dataclass(frozen=True)
class RasaEndpoints:
    url: str
    token: str  # Rasa's --auth-token
    action_url: str
    service_port: int  # where Rasa's wording (NLG) and the action server expect gangway
    service_token: str  # what the action server shows gangway


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float, what: str,
          ready: Callable[[httpx.Response], bool]) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"{what} exited with {proc.returncode} while starting")
        try:
            if ready(httpx.get(url, timeout=2.0)):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.3)
    raise StackError(f"{what} was not ready after {timeout:.0f}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextmanager
def started_rasa(model: Path, logs: Path, timeout: float = 300.0) -> Iterator[RasaEndpoints]:
    """Rasa (the trained ``model``) and the action server, as `gangway up` runs them,
    on free loopback ports; their output goes to ``logs``; both stopped after."""
    if not model.exists():
        raise StackError(f"no trained Rasa model at {model}: run `make model`")
    rasa_port, action_port, service_port = free_port(), free_port(), free_port()
    token, rasa_token, action_secret = (secrets.token_urlsafe(16) for _ in range(3))
    envs = child_environments(
        os.environ,
        {
            "GANGWAY_ACTION_SERVER_URL": f"http://127.0.0.1:{action_port}",
            "GANGWAY_URL": f"http://127.0.0.1:{service_port}",
            "GANGWAY_NLG_URL": f"http://127.0.0.1:{service_port}/nlg",
            "GANGWAY_SERVICE_TOKEN": token,
            "GANGWAY_ACTION_SECRET": action_secret,
        },
    )
    procs: list[subprocess.Popen[bytes]] = []
    outputs: list[IO[bytes]] = []

    def start(name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        out = (logs / f"{name}.log").open("ab")
        outputs.append(out)
        try:
            proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        except OSError as exc:
            raise StackError(f"cannot start {name}: {exc} (run `make install`)") from exc
        procs.append(proc)
        return proc

    try:
        actions = start("actions", action_server_argv(action_port), envs["actions"])
        rasa = start(
            "rasa",
            rasa_server_argv(model, host="127.0.0.1", port=rasa_port, token=rasa_token),
            envs["rasa"],
        )
        _wait(f"http://127.0.0.1:{action_port}/health", actions, timeout, "the action server",
              lambda r: r.status_code == 200)  # fmt: skip
        _wait(f"http://127.0.0.1:{rasa_port}/status?token={rasa_token}", rasa, timeout, "Rasa",
              rasa_has_model)  # fmt: skip
        yield RasaEndpoints(
            f"http://127.0.0.1:{rasa_port}", rasa_token, f"http://127.0.0.1:{action_port}",
            service_port, token,
        )  # fmt: skip
    finally:
        for proc in reversed(procs):
            _stop(proc)
        for out in outputs:
            out.close()
