"""`gangway up`: start the whole stack as child processes and stop it cleanly.

Children: Rasa's action server, the Rasa server (API enabled), the local
WhatsApp sandbox (only without Twilio credentials) and the gangway service.
Each runs in its own process group and logs to var/log/<name>.log; gangway's
and the sandbox's lines are echoed here too. Ctrl-C or SIGTERM stops them all;
if one dies, the rest are stopped and `up` exits non-zero naming it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

import httpx

from bot.config import REPO_ROOT, Settings

__all__ = [
    "RASA_BIN",
    "Child",
    "StackPlan",
    "action_server_argv",
    "plan_stack",
    "rasa_has_model",
    "rasa_server_argv",
    "run_stack",
]


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    ready_url: str
    ready_check: Callable[[httpx.Response], bool] = lambda r: r.status_code == 200
    echo: bool = False
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)


@dataclass
class StackPlan:
    children: list[Child]
    chat_url: str | None
    log_dir: Path
    # What local tools (the benchmark) need to talk to this running stack as Twilio
    # would; written to var/stack.json (owner-only) while the stack runs.
    connection: dict[str, str] = field(default_factory=dict)


RASA_BIN = REPO_ROOT / ".venv-rasa" / "bin" / "rasa"


def _port(url: str, default: int) -> int:
    return urlparse(url).port or default


def _local_url(host: str, port: int) -> str:
    """How a process on this machine reaches a server bound to ``host``:``port``."""
    if host in ("", "0.0.0.0", "::"):  # every interface: loopback is one of them
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def rasa_model_path(environ: Mapping[str, str]) -> Path:
    explicit = environ.get("GANGWAY_RASA_MODEL")
    if explicit:
        return Path(explicit)
    from bot.rasa_project import model_path

    return model_path(REPO_ROOT)


def action_server_argv(port: int) -> list[str]:
    """Rasa's action server running `actions/` (run from the repository root)."""
    return [str(RASA_BIN), "run", "actions", "--actions", "actions", "--port", str(port)]


def rasa_server_argv(model: Path, *, host: str, port: int, token: str | None = None) -> list[str]:
    """The Rasa server with its HTTP API on, serving `model` (run from the repository root)."""
    argv = [
        str(RASA_BIN), "run", "--enable-api", "--model", str(model),
        "--endpoints", "bot/rasa/endpoints.yml", "--credentials", "bot/rasa/credentials.yml",
        "--interface", host, "--port", str(port),
    ]  # fmt: skip
    return argv + (["--auth-token", token] if token else [])


def rasa_has_model(response: httpx.Response) -> bool:
    """Whether Rasa's GET /status says a model is loaded (ready to answer)."""
    return response.status_code == 200 and bool(response.json().get("model_file"))


def plan_stack(settings: Settings, environ: Mapping[str, str]) -> StackPlan:
    """What to start and with which environment; raises SystemExit with a plain reason."""
    if not RASA_BIN.exists():
        raise SystemExit(f"Rasa is not installed ({RASA_BIN} is missing): run `make install`.")
    model = rasa_model_path(environ)
    if not model.exists():
        raise SystemExit(f"No trained Rasa model at {model}: run `make model`.")

    # One token for this run, shared by gangway and Rasa: the custom actions present it
    # to gangway's API and Rasa sends it with every NLG request.
    service_token = (
        settings.gangway_service_token.get_secret_value()
        if settings.gangway_service_token
        else secrets.token_urlsafe(24)
    )
    service_url = _local_url(settings.gangway_host, settings.gangway_port)
    action_url = settings.gangway_action_server_url.rstrip("/")
    common = {**environ, "GANGWAY_SERVICE_TOKEN": service_token, "PYTHONUNBUFFERED": "1"}

    sandbox: Child | None = None
    chat_url = None
    if not settings.twilio_configured:
        sandbox_port = settings.gangway_sandbox_port
        # Throwaway credentials, shared by the sandbox and the service it stands in for.
        common.update(
            TWILIO_ACCOUNT_SID="AC" + secrets.token_hex(16),
            TWILIO_AUTH_TOKEN=secrets.token_hex(16),
            TWILIO_API_BASE_URL=f"http://127.0.0.1:{sandbox_port}",
        )
        if not settings.gangway_crm_url:
            # The sandbox stands in for the CRM too: handoffs show up at /crm/events.
            common.update(
                GANGWAY_CRM_URL=f"http://127.0.0.1:{sandbox_port}/crm/events",
                GANGWAY_CRM_SECRET=secrets.token_hex(32),
            )
        chat_url = f"http://127.0.0.1:{sandbox_port}/"
        sandbox = Child(
            "sandbox",
            [sys.executable, "-m", "bot.entrypoints.cli", "sandbox"],
            common,
            f"http://127.0.0.1:{sandbox_port}/sandbox/healthz",
            echo=True,
        )

    token = settings.rasa_token.get_secret_value() if settings.rasa_token else None
    # bot/rasa/endpoints.yml names these; Rasa refuses to start without them.
    rasa_env = {
        **common,
        "GANGWAY_ACTION_SERVER_URL": action_url,
        "GANGWAY_URL": service_url,
        "GANGWAY_NLG_URL": f"{service_url}/nlg",
    }
    actions = Child(
        "actions", action_server_argv(_port(action_url, 5055)), rasa_env, f"{action_url}/health"
    )
    rasa = Child(
        "rasa",
        rasa_server_argv(
            model,
            host=urlparse(settings.rasa_url).hostname or "127.0.0.1",
            port=_port(settings.rasa_url, 5005),
            token=token,
        ),
        rasa_env,
        f"{settings.rasa_url.rstrip('/')}/status" + (f"?token={token}" if token else ""),
        ready_check=rasa_has_model,
    )
    gangway = Child(
        "gangway",
        [sys.executable, "-m", "bot.entrypoints.cli", "serve"],
        common,
        f"{service_url}/readyz",
        echo=True,
    )
    children = [actions, rasa, *([sandbox] if sandbox else []), gangway]
    connection = {
        "service_url": service_url,
        "public_url": settings.gangway_public_url,
        "rasa_url": settings.rasa_url,
        "sandbox_url": chat_url.rstrip("/") if chat_url else "",
        "account_sid": common.get("TWILIO_ACCOUNT_SID", ""),
        "auth_token": common.get("TWILIO_AUTH_TOKEN", "") if chat_url else "",
        "business_number": settings.twilio_whatsapp_from,
        "database_url": settings.database_url,
    }
    return StackPlan(children, chat_url, settings.state_dir / "log", connection)


def _write_connection(plan: StackPlan) -> None:
    path = plan.log_dir.parent / "stack.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(plan.connection, fh, indent=2)


def _pump(stream: IO[bytes], log: IO[bytes], prefix: str | None) -> None:
    for line in iter(stream.readline, b""):
        log.write(line)
        log.flush()
        if prefix is not None:
            sys.stdout.write(f"{prefix} {line.decode(errors='replace')}")
            sys.stdout.flush()


def _start(child: Child, log_dir: Path) -> None:
    log = open(log_dir / f"{child.name}.log", "ab")  # noqa: SIM115 - closed by the pump's end
    child.proc = subprocess.Popen(
        child.argv,
        cwd=REPO_ROOT,
        env=child.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert child.proc.stdout is not None
    prefix = f"[{child.name}]" if child.echo else None
    threading.Thread(target=_pump, args=(child.proc.stdout, log, prefix), daemon=True).start()


def _stop_all(children: list[Child], grace: float = 10.0) -> None:
    for child in reversed(children):
        if child.proc and child.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        if not child.proc:
            continue
        try:
            child.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"==> {child.name} did not stop in {grace:.0f}s; killing it", flush=True)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGKILL)
            child.proc.wait()


def _ready(child: Child) -> bool:
    try:
        return child.ready_check(httpx.get(child.ready_url, timeout=2.0))
    except (httpx.HTTPError, ValueError):
        return False


def run_stack(plan: StackPlan, startup_timeout: float = 180.0) -> int:
    """Start every child, report readiness, and stop them all on a signal or a death."""
    plan.log_dir.mkdir(parents=True, exist_ok=True)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    started = time.monotonic()
    pending = list(plan.children)
    try:
        for child in plan.children:
            log_path = plan.log_dir / f"{child.name}.log"
            print(f"==> starting {child.name} (log: {log_path})", flush=True)
            _start(child, plan.log_dir)
        while not stopping.is_set():
            dead = next((c for c in plan.children if c.proc and c.proc.poll() is not None), None)
            if dead is not None:
                assert dead.proc is not None
                print(
                    f"==> {dead.name} exited with code {dead.proc.returncode}; stopping the "
                    f"stack. See {plan.log_dir / (dead.name + '.log')}",
                    flush=True,
                )
                return 1
            if pending:
                for child in list(pending):
                    if _ready(child):
                        pending.remove(child)
                        elapsed = time.monotonic() - started
                        print(f"==> {child.name} is ready ({elapsed:.0f}s)", flush=True)
                if not pending:
                    _write_connection(plan)
                    _announce(plan)
                elif time.monotonic() - started > startup_timeout:
                    names = ", ".join(c.name for c in pending)
                    print(f"==> not ready after {startup_timeout:.0f}s: {names}", flush=True)
                    return 1
            stopping.wait(0.5)
        return 0
    finally:
        print("==> stopping", flush=True)
        (plan.log_dir.parent / "stack.json").unlink(missing_ok=True)
        _stop_all(plan.children)
        print("==> stopped", flush=True)


def _announce(plan: StackPlan) -> None:
    console = (
        f"==> Advisor console: {plan.connection['service_url']}/console/ "
        "(add an account first: gangway users add EMAIL --name NAME --role advisor)\n"
    )
    if plan.chat_url:
        print(
            "\n==> gangway is up. Chat as a prospect in the WhatsApp sandbox: "
            f"{plan.chat_url}\n{console}==> Press Ctrl-C to stop.\n",
            flush=True,
        )
    else:
        print(
            f"\n==> gangway is up (Twilio mode).\n{console}==> Press Ctrl-C to stop.\n", flush=True
        )
