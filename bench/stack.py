"""Starting and stopping what the benchmark measures, each as its own process on loopback.

Rasa and its action server start once for the whole run; each configuration then
gets its own Twilio stand-in, database and gangway `serve` processes, on the same
ports every time, so that Rasa's NLG and action calls (which name gangway's URL when
Rasa starts) reach whichever configuration is running.

Two service processes are one `gangway serve --workers 2` when this tree's `serve`
has that option (the processes then share one port, and the kernel spreads the
connections), else two `serve` processes on two ports: then Rasa's NLG and action
calls reach the first, and only webhooks and status callbacks are spread over both.

Every process gets an environment built here (never the benchmark's own), logs to
its own file in the run directory and runs in its own process group, which is what
gets stopped.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bot.config import REPO_ROOT
from bot.entrypoints.supervisor import (
    RASA_BIN,
    action_server_argv,
    rasa_has_model,
    rasa_model_path,
    rasa_server_argv,
)

__all__ = [
    "Ports",
    "Proc",
    "Secrets",
    "base_env",
    "fresh_postgres",
    "group_pids",
    "serve_has_workers",
    "service_env",
    "start",
]

BASE_NAMES = ("HOME", "LANG", "LC_ALL", "PATH", "TMPDIR", "TZ")


@dataclass(frozen=True)
class Ports:
    """Where each process listens; the service's N-th process on ``service + N``."""

    service: int = 18200
    twilio: int = 18210
    bare: int = 18220
    rasa: int = 18230
    actions: int = 18240

    def service_url(self, index: int = 0) -> str:
        return f"http://127.0.0.1:{self.service + index}"


@dataclass(frozen=True)
class Secrets:
    """This run's invented credentials, shared by the processes that need each."""

    account_sid: str = field(default_factory=lambda: "AC" + secrets.token_hex(16))
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    service_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    action_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    rasa_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def wait_ready(
        self,
        url: str,
        timeout: float,
        check: Callable[[httpx.Response], bool] = lambda r: r.status_code == 200,
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise SystemExit(f"{self.name} exited with {self.popen.returncode}; see {self.log}")
            with contextlib.suppress(httpx.HTTPError, ValueError):
                if check(httpx.get(url, timeout=2.0)):
                    return
            time.sleep(0.2)
        raise SystemExit(f"{self.name} not ready after {timeout:.0f}s; see {self.log}")

    def group(self) -> list[int]:
        """Every live process of this one's group: itself and what it started (the
        worker processes of `serve --workers N`)."""
        return group_pids(self.popen.pid)

    def stop(self, grace: float = 15.0) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()


def group_pids(pgid: int) -> list[int]:
    """The processes whose process group is ``pgid``, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the command name (which may hold spaces): state, ppid, pgrp, ...
        if int(stat[stat.rindex(")") + 2 :].split()[2]) == pgid:
            found.append(int(entry.name))
    return sorted(found)


def start(name: str, argv: list[str], env: Mapping[str, str], log_dir: Path) -> Proc:
    log = log_dir / f"{name}.log"
    with open(log, "ab") as out:
        popen = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Proc(name, popen, log)


def base_env(environ: Mapping[str, str]) -> dict[str, str]:
    env = {name: environ[name] for name in BASE_NAMES if name in environ}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


def start_rasa(
    ports: Ports, keys: Secrets, environ: Mapping[str, str], log_dir: Path
) -> tuple[Proc, Proc]:
    """The action server and the Rasa server (API on), both ready to answer."""
    if not RASA_BIN.exists():
        raise SystemExit(f"Rasa is not installed ({RASA_BIN} is missing): run `make install`.")
    model = rasa_model_path(environ)
    if not model.exists():
        raise SystemExit(f"No trained Rasa model at {model}: run `make model`.")
    base = base_env(environ) | {"RASA_TELEMETRY_ENABLED": "false"}
    base.pop("PYTHONPATH")  # Rasa's own environment; actions/ is found from the cwd
    actions_url = f"http://127.0.0.1:{ports.actions}"
    actions = start(
        "actions",
        action_server_argv(ports.actions),
        base
        | {
            "GANGWAY_ACTION_SECRET": keys.action_secret,
            "GANGWAY_SERVICE_TOKEN": keys.service_token,
            "GANGWAY_URL": ports.service_url(),
        },
        log_dir,
    )
    rasa = start(
        "rasa",
        rasa_server_argv(model, host="127.0.0.1", port=ports.rasa, token=keys.rasa_token),
        base
        | {
            "GANGWAY_ACTION_SECRET": keys.action_secret,
            "GANGWAY_ACTION_SERVER_URL": actions_url,
            "GANGWAY_NLG_URL": f"{ports.service_url()}/nlg",
            "GANGWAY_SERVICE_TOKEN": keys.service_token,
        },
        log_dir,
    )
    actions.wait_ready(f"{actions_url}/health", 120)
    rasa.wait_ready(
        f"http://127.0.0.1:{ports.rasa}/status?token={keys.rasa_token}", 300, rasa_has_model
    )
    return actions, rasa


def service_env(
    ports: Ports,
    keys: Secrets,
    environ: Mapping[str, str],
    *,
    database_url: str,
    state_dir: Path,
    index: int,
) -> dict[str, str]:
    """The environment of the service's ``index``-th process.

    Every process signs against the first one's URL (the public URL behind the load
    balancer) and shares one state directory, hence one key file and invite secret.
    A sender's messages are not paced (GANGWAY_SENDER_RATE=off): the benchmark's
    prospects write faster than the default 30 a minute allows on purpose.
    """
    return base_env(environ) | {
        "DATABASE_URL": database_url,
        "GANGWAY_HOST": "127.0.0.1",
        "GANGWAY_PORT": str(ports.service + index),
        "GANGWAY_PUBLIC_URL": ports.service_url(),
        "GANGWAY_STATE_DIR": str(state_dir),
        "GANGWAY_SENDER_RATE": "off",
        "GANGWAY_SERVICE_TOKEN": keys.service_token,
        "GANGWAY_ACTION_SERVER_URL": f"http://127.0.0.1:{ports.actions}",
        "RASA_URL": f"http://127.0.0.1:{ports.rasa}",
        "RASA_TOKEN": keys.rasa_token,
        "TWILIO_ACCOUNT_SID": keys.account_sid,
        "TWILIO_AUTH_TOKEN": keys.auth_token,
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{ports.twilio}",
        **{k: v for k, v in environ.items() if k in ("GANGWAY_WORKERS", "GANGWAY_LOG_LEVEL")},
    }


SERVE = [sys.executable, "-m", "bot.entrypoints.cli", "serve"]


def serve_has_workers(environ: Mapping[str, str]) -> bool:
    """Whether this tree's `gangway serve` runs several processes itself (``--workers``)."""
    env = base_env(environ) | {"NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}
    done = subprocess.run(
        [*SERVE, "--help"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False
    )
    return "--workers" in done.stdout


def start_service(
    env: Mapping[str, str], name: str, log_dir: Path, workers: int | None = None
) -> Proc:
    extra = ["--workers", str(workers)] if workers else []
    return start(name, [*SERVE, *extra], env, log_dir)


def start_twilio(
    ports: Ports, keys: Secrets, processes: int, log_dir: Path, env: dict[str, str]
) -> Proc:
    upstreams = [f"--upstream=127.0.0.1:{ports.service + i}" for i in range(processes)]
    argv = [
        sys.executable, "-m", "bench.twilio_standin", "--port", str(ports.twilio),
        "--account-sid", keys.account_sid, "--auth-token", keys.auth_token, *upstreams,
    ]  # fmt: skip
    proc = start("twilio", argv, env, log_dir)
    proc.wait_ready(f"http://127.0.0.1:{ports.twilio}/healthz", 30)
    return proc


def start_bare(ports: Ports, log_dir: Path, env: dict[str, str]) -> Proc:
    argv = [sys.executable, "-m", "bench.bare_app", "--port", str(ports.bare)]
    proc = start("bare", argv, env, log_dir)
    proc.wait_ready(f"http://127.0.0.1:{ports.bare}/healthz", 30)
    return proc


def fresh_postgres(admin_url: str, name: str) -> None:
    """Drop and create database ``name`` through ``admin_url`` (a libpq URL)."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
