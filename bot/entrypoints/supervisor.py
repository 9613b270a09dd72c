"""`gangway up`: start the whole stack as child processes and stop it cleanly.

Children: Rasa's action server, the Rasa server (API enabled) or several replicas
sharing their trackers (`Scale`), the local WhatsApp sandbox (only without Twilio
credentials) and the gangway service (one process, or `serve --workers N`).
Each runs in its own process group and logs to var/log/<name>.log; gangway's
and the sandbox's lines are echoed here too. A child that dies is restarted
after a growing delay, the death and restart reported with its exit code and log
(`stack_runner`); only Ctrl-C or SIGTERM stops them all.

Least privilege between them: each child gets an environment built for it
(`child_environments`), never this process's whole environment, so Rasa and the
action server, which run a large third-party dependency tree, never see Twilio's
credentials, the database URL or the record keys. Rasa's HTTP API always requires
an auth token, and the action server (on loopback unless its URL says otherwise)
answers only Rasa, which presents a shared secret; both are made anew for each run
unless configured (RASA_TOKEN, GANGWAY_ACTION_SECRET).
"""

from __future__ import annotations

import secrets
import signal
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
from pydantic import SecretStr

from bot.adapters.rasa_stores import RasaStores
from bot.config import REPO_ROOT, Settings
from bot.entrypoints.stack_file import write_stack_file
from bot.entrypoints.stack_runner import Child, Runner
from bot.rasa_project import ENDPOINTS

__all__ = [
    "RASA_BIN",
    "RASA_PYTHON",
    "Child",
    "Scale",
    "StackPlan",
    "action_server_argv",
    "child_environments",
    "plan_stack",
    "rasa_has_model",
    "rasa_server_argv",
    "run_stack",
]


@dataclass
class StackPlan:
    children: list[Child]
    chat_url: str | None
    log_dir: Path
    # What local tools (the benchmark) need to talk to this running stack as Twilio
    # would; written to var/stack.json (owner-only) while the stack runs.
    connection: dict[str, str] = field(default_factory=dict)


RASA_BIN = REPO_ROOT / ".venv-rasa" / "bin" / "rasa"
RASA_PYTHON = REPO_ROOT / ".venv-rasa" / "bin" / "python"

# What every child may inherit from this process's environment: where programs and
# the home directory are, the locale, the time zone, temporary files, CA bundles.
BASE_ENV = (
    "HOME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "PATH", "SSL_CERT_DIR", "SSL_CERT_FILE",
    "TMPDIR", "TZ",
)  # fmt: skip
# Rasa's own switches, passed on when set.
RASA_OWN_ENV = (
    "LOG_LEVEL", "LOG_LEVEL_LIBRARIES", "RASA_TELEMETRY_ENABLED", "TF_CPP_MIN_LOG_LEVEL",
)  # fmt: skip
# bot/rasa/endpoints.yml names these; the action server's secret goes into a header.
RASA_ENV = ("GANGWAY_ACTION_SECRET", "GANGWAY_ACTION_SERVER_URL", "GANGWAY_NLG_URL",
            "GANGWAY_SERVICE_TOKEN")  # fmt: skip
# The shared tracker and lock stores of Rasa replicas (bot.rasa_project.SHARED_STORES).
RASA_STORE_ENV = tuple(f"GANGWAY_RASA_{part}" for part in (
    "TRACKER_HOST", "TRACKER_PORT", "TRACKER_DB", "TRACKER_USER", "TRACKER_PASSWORD",
    "LOCK_HOST", "LOCK_PORT", "LOCK_DB", "LOCK_PASSWORD",
))  # fmt: skip
# The custom actions call gangway's API with the service token (actions/actions.py);
# actions/server.py checks the secret.
ACTIONS_ENV = ("GANGWAY_ACTION_SECRET", "GANGWAY_SERVICE_TOKEN", "GANGWAY_URL")
# The sandbox: the credentials it shares with gangway, where gangway is, its port, the
# stand-in CRM's secret.
SANDBOX_ENV = (
    "GANGWAY_CRM_SECRET", "GANGWAY_CRM_URL", "GANGWAY_LOG_FORMAT", "GANGWAY_LOG_LEVEL",
    "GANGWAY_PUBLIC_URL", "GANGWAY_SANDBOX_PORT", "TWILIO_ACCOUNT_SID", "TWILIO_API_BASE_URL",
    "TWILIO_AUTH_TOKEN", "TWILIO_WHATSAPP_FROM",
)  # fmt: skip
# The service reads its settings; of those, only the action server needs this one.
SERVICE_ENV = frozenset(name.upper() for name in Settings.model_fields) - {"GANGWAY_ACTION_SECRET"}


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


def action_server_argv(port: int, host: str = "127.0.0.1") -> list[str]:
    """The action server running `actions/`, requiring Rasa's shared secret (from
    GANGWAY_ACTION_SECRET; see actions/server.py). Run from the repository root."""
    return [str(RASA_PYTHON), "-m", "actions.server", "--host", host, "--port", str(port)]


def child_environments(
    environ: Mapping[str, str], run: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """The environment of each child, by name ("gangway", "rasa", "actions", "sandbox").

    ``environ`` is this process's environment; ``run`` holds this run's values (tokens,
    secrets, URLs), which take precedence. Each child gets `BASE_ENV` and what it needs:
    gangway its settings, Rasa its endpoints, the action server gangway's URL and two
    secrets, the sandbox its credentials and where gangway is.
    """
    base = {name: environ[name] for name in BASE_ENV if name in environ}
    base["PYTHONUNBUFFERED"] = "1"
    merged = {**environ, **run}

    def pick(names: tuple[str, ...]) -> dict[str, str]:
        return {**base, **{name: merged[name] for name in names if name in merged}}

    service = {k: v for k, v in merged.items() if k.upper() in SERVICE_ENV}
    return {
        "gangway": {**base, **service},
        "rasa": pick(RASA_OWN_ENV + RASA_ENV + RASA_STORE_ENV),
        "actions": pick(ACTIONS_ENV),
        "sandbox": pick(SANDBOX_ENV),
    }


def rasa_server_argv(
    model: Path, *, host: str, port: int, token: str, endpoints: Path = ENDPOINTS
) -> list[str]:
    """The Rasa server with its HTTP API on, requiring ``token`` (``?token=``), serving
    `model` (run from the repository root). Rasa takes the token only on its command line,
    as ``--auth-token=TOKEN`` in one word: a token starting with "-" (one made token in 64)
    would otherwise be taken for an option, and Rasa would exit with a usage error."""
    if not token:
        raise ValueError("Rasa's HTTP API must not run without an auth token")
    return [
        str(RASA_BIN), "run", "--enable-api", f"--auth-token={token}", "--model", str(model),
        "--endpoints", str(endpoints), "--credentials", "bot/rasa/credentials.yml",
        "--interface", host, "--port", str(port),
    ]  # fmt: skip


def rasa_has_model(response: httpx.Response) -> bool:
    """Whether Rasa's GET /status says a model is loaded (ready to answer)."""
    return response.status_code == 200 and bool(response.json().get("model_file"))


@dataclass(frozen=True)
class Scale:
    """How many of each: service processes (PostgreSQL only) and Rasa replicas, which
    then share their trackers through ``stores`` and read ``endpoints`` (see
    `bot.rasa_project.shared_endpoints`)."""

    service_processes: int = 1
    rasa_replicas: int = 1
    stores: RasaStores | None = None
    endpoints: Path = ENDPOINTS


def plan_stack(settings: Settings, environ: Mapping[str, str], scale: Scale = Scale()) -> StackPlan:
    """What to start and with which environment; raises SystemExit with a plain reason."""
    if not RASA_BIN.exists():
        raise SystemExit(f"Rasa is not installed ({RASA_BIN} is missing): run `make install`.")
    model = rasa_model_path(environ)
    if not model.exists():
        raise SystemExit(f"No trained Rasa model at {model}: run `make model`.")
    if scale.rasa_replicas > 1 and scale.stores is None:
        raise SystemExit("Rasa replicas need a shared tracker store and lock store.")

    # One token for this run, shared by gangway and Rasa: the custom actions present it
    # to gangway's API and Rasa sends it with every NLG request.
    service_url = _local_url(settings.gangway_host, settings.gangway_port)
    action_url = settings.gangway_action_server_url.rstrip("/")
    rasa_token = _secret(settings.rasa_token)
    # The replicas listen on consecutive ports from RASA_URL's (its first URL's) on.
    first_rasa = urlparse(settings.rasa_url.split(",")[0].strip())
    rasa_host, rasa_port = first_rasa.hostname or "127.0.0.1", first_rasa.port or 5005
    rasa_urls = [_local_url(rasa_host, rasa_port + i) for i in range(scale.rasa_replicas)]
    run = {
        "GANGWAY_SERVICE_TOKEN": _secret(settings.gangway_service_token),
        "GANGWAY_ACTION_SECRET": _secret(settings.gangway_action_secret),
        "RASA_TOKEN": rasa_token,
        "GANGWAY_URL": service_url,
        "GANGWAY_ACTION_SERVER_URL": action_url,
        "GANGWAY_NLG_URL": f"{service_url}/nlg",
        "RASA_URL": ",".join(rasa_urls),
        **(scale.stores.environment() if scale.stores else {}),
    }
    chat_url = None
    if not settings.twilio_configured:
        sandbox_port = settings.gangway_sandbox_port
        # Throwaway credentials, shared by the sandbox and the service it stands in for.
        run.update(
            TWILIO_ACCOUNT_SID="AC" + secrets.token_hex(16),
            TWILIO_AUTH_TOKEN=secrets.token_hex(16),
            TWILIO_API_BASE_URL=f"http://127.0.0.1:{sandbox_port}",
        )
        if not settings.gangway_crm_url:
            # The sandbox stands in for the CRM too: handoffs show up at /crm/events.
            run.update(
                GANGWAY_CRM_URL=f"http://127.0.0.1:{sandbox_port}/crm/events",
                GANGWAY_CRM_SECRET=secrets.token_hex(32),
            )
        chat_url = f"http://127.0.0.1:{sandbox_port}/"
    envs = child_environments(environ, run)

    actions = Child(
        "actions",
        action_server_argv(_port(action_url, 5055), urlparse(action_url).hostname or "127.0.0.1"),
        envs["actions"],
        f"{action_url}/health",
    )
    rasas = [
        Child(
            "rasa" if scale.rasa_replicas == 1 else f"rasa-{i + 1}",
            rasa_server_argv(
                model,
                host=rasa_host,
                port=rasa_port + i,
                token=rasa_token,
                endpoints=scale.endpoints,
            ),
            envs["rasa"],
            f"{url}/status?token={rasa_token}",
            ready_check=rasa_has_model,
        )
        for i, url in enumerate(rasa_urls)
    ]
    sandbox = None
    if chat_url:
        sandbox = Child(
            "sandbox",
            [sys.executable, "-m", "bot.entrypoints.cli", "sandbox"],
            envs["sandbox"],
            f"{chat_url}sandbox/healthz",
            echo=True,
        )
    gangway = Child(
        "gangway",
        [sys.executable, "-m", "bot.entrypoints.cli", "serve"]
        + (["--workers", str(scale.service_processes)] if scale.service_processes > 1 else []),
        envs["gangway"],
        f"{service_url}/readyz",
        echo=True,
    )
    children = [actions, *rasas, *([sandbox] if sandbox else []), gangway]
    connection = {
        "service_url": service_url,
        "public_url": settings.gangway_public_url,
        "rasa_url": rasa_urls[0],
        "rasa_token": rasa_token,
        "sandbox_url": chat_url.rstrip("/") if chat_url else "",
        "account_sid": run.get("TWILIO_ACCOUNT_SID", ""),
        "auth_token": run.get("TWILIO_AUTH_TOKEN", ""),
        "business_number": settings.twilio_whatsapp_from,
        "database_url": settings.database_url,
    }
    return StackPlan(children, chat_url, settings.state_dir / "log", connection)


def _secret(configured: SecretStr | None) -> str:
    """The configured secret, or a new random one for this run."""
    return configured.get_secret_value() if configured else secrets.token_urlsafe(24)


def _write_connection(plan: StackPlan) -> None:
    write_stack_file(plan.log_dir.parent / "stack.json", plan.connection)


def run_stack(plan: StackPlan, startup_timeout: float = 180.0) -> int:
    """Start every child, report readiness, restart any that dies, and stop them all on
    Ctrl-C or SIGTERM; 1 when the stack never became ready."""
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    def on_ready() -> None:
        _write_connection(plan)
        _announce(plan)

    runner = Runner(plan.children, plan.log_dir, on_ready=on_ready, startup_timeout=startup_timeout)
    try:
        return runner.run(stopping)
    finally:
        print("==> stopping", flush=True)
        (plan.log_dir.parent / "stack.json").unlink(missing_ok=True)
        runner.stop_all()
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
