"""`gangway up` starts the whole stack on embedded defaults and stops it cleanly;
`gangway doctor` says what is up and what is not."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.adapters.migrate import head_revision
from bot.entrypoints.supervisor import RASA_BIN
from tests.e2e.processes import REPO, free_port, wait_until

pytestmark = pytest.mark.e2e


def stack_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "GANGWAY_", "RASA_"))
    }
    if "GANGWAY_RASA_MODEL" in os.environ:
        env["GANGWAY_RASA_MODEL"] = os.environ["GANGWAY_RASA_MODEL"]
    port = free_port()
    env.update(
        GANGWAY_PORT=str(port),
        GANGWAY_PUBLIC_URL=f"http://127.0.0.1:{port}",
        GANGWAY_SANDBOX_PORT=str(free_port()),
        RASA_URL=f"http://127.0.0.1:{free_port()}",
        GANGWAY_ACTION_SERVER_URL=f"http://127.0.0.1:{free_port()}",
        DATABASE_URL=f"sqlite:///{tmp_path / 'up.db'}",
        GANGWAY_STATE_DIR=str(tmp_path / "state"),
    )
    return env


def doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.entrypoints.cli", "doctor"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


class Up:
    def __init__(self, env: dict[str, str], *options: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.entrypoints.cli", "up", *options],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def expect(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"`gangway up` never printed {pattern!r}:\n{''.join(self.seen[-40:])}")


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Up, dict[str, str]]]:
    if not RASA_BIN.exists():
        pytest.fail("Rasa is not installed: run `make install`.")
    env = stack_env(tmp_path_factory.mktemp("up"))
    running = Up(env)
    try:
        yield running, env
    finally:
        if running.proc.poll() is None:
            running.proc.send_signal(signal.SIGINT)
            try:
                running.proc.wait(30)
            except subprocess.TimeoutExpired:
                running.proc.kill()


def test_doctor_says_plainly_what_is_missing(tmp_path: Path) -> None:
    """With nothing running, doctor exits 1 and names each missing part and what to do."""
    env = stack_env(tmp_path)
    result = doctor(env)
    assert result.returncode == 1
    assert "[FAIL] database: schema is at nothing" in result.stdout
    assert "gangway db upgrade" in result.stdout
    upgraded = subprocess.run(
        [sys.executable, "-m", "bot.entrypoints.cli", "db", "upgrade"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert upgraded.returncode == 0 and f"revision {head_revision()}" in upgraded.stdout
    result = doctor(env)
    assert result.returncode == 1
    out = result.stdout
    assert "[ok  ] database" in out
    # The service makes the keys on its first start; doctor never does.
    assert "[FAIL] keys: no keys" in out
    assert re.search(r"\[FAIL\] rasa: .*gangway up", out), out
    assert "[FAIL] action server" in out
    assert re.search(r"\[FAIL\] whatsapp: no Twilio credentials.*sandbox", out), out
    assert "[ok  ] flow: " in out
    assert "[ok  ] sensitivity model: sensitivity-" in out
    missing = doctor({**env, "GANGWAY_SENSITIVITY_MODEL": str(tmp_path / "none.json.gz")}).stdout
    assert re.search(r"\[FAIL\] sensitivity model: .*make model", missing), missing
    broken = tmp_path / "broken.yml"
    broken.write_text("flow: broken\ntransition_at: secret\n")
    out = doctor({**env, "GANGWAY_FLOW": str(broken)}).stdout
    assert re.search(r"\[FAIL\] flow: .*broken\.yml:\d+", out), out


def test_up_prints_the_chat_page_and_hi_gets_the_greeting(up: tuple[Up, dict[str, str]]) -> None:
    """`gangway up` announces the sandbox page; a message typed there gets the greeting."""
    running, env = up
    url = running.expect(r"WhatsApp sandbox: (http://\S+)", timeout=240).group(1)
    assert url.rstrip("/") == f"http://127.0.0.1:{env['GANGWAY_SANDBOX_PORT']}"
    assert httpx.get(url).status_code == 200
    sent = httpx.post(
        url.rstrip("/") + "/sandbox/api/inbound",
        json={"from": "whatsapp:+12025550150", "body": "hi"},
        timeout=20,
    ).json()
    assert sent["webhook_status"] == 200

    def greeting() -> bool:
        msgs = httpx.get(url.rstrip("/") + "/sandbox/api/messages").json()["messages"]
        return any(m["direction"] == "outbound" and "interested" in m["body"] for m in msgs)

    wait_until(greeting, 60, "the greeting in the sandbox")


def test_doctor_passes_against_the_running_stack(up: tuple[Up, dict[str, str]]) -> None:
    """With `gangway up` running, every doctor check is ok (the sandbox stands in for Twilio)."""
    running, env = up
    if not any("gangway is up" in line for line in running.seen):
        running.expect(r"gangway is up", timeout=240)
    result = doctor(env)
    assert result.returncode == 0, result.stdout + result.stderr
    # database, keys, flow, sensitivity model, rasa, action server, whatsapp
    assert result.stdout.count("[ok  ]") == 7


def _children(pid: int) -> dict[int, tuple[str, dict[str, str]]]:
    """The direct children of ``pid``: command line and environment, read from /proc."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            if ppid != pid:
                continue
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            raw = (stat.parent / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        env = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
        found[int(stat.parent.name)] = (cmdline, env)
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_rasa_and_the_action_server_get_no_secret_of_the_records(
    up: tuple[Up, dict[str, str]],
) -> None:
    """The running Rasa server and action server were started without the database URL or
    Twilio's credentials in their environment; the service has them."""
    running, env = up
    if not any("gangway is up" in line for line in running.seen):
        running.expect(r"gangway is up", timeout=240)
    children = list(_children(running.proc.pid).values())
    rasa = [e for cmd, e in children if " run --enable-api" in cmd]
    actions = [e for cmd, e in children if "actions.server" in cmd]
    service = [e for cmd, e in children if cmd.endswith("cli serve ")]
    assert len(rasa) == len(actions) == len(service) == 1, [cmd for cmd, _ in children]
    for child_env in (rasa[0], actions[0]):
        assert not {"DATABASE_URL", "TWILIO_AUTH_TOKEN", "GANGWAY_STATE_DIR"} & set(child_env)
    assert actions[0]["GANGWAY_ACTION_SECRET"] == rasa[0]["GANGWAY_ACTION_SECRET"]
    assert service[0]["DATABASE_URL"] == env["DATABASE_URL"]
    assert "GANGWAY_ACTION_SECRET" not in service[0]


def test_ctrl_c_stops_every_part(up: tuple[Up, dict[str, str]]) -> None:
    """SIGINT stops the stack: `up` exits 0 and no part is left listening."""
    running, env = up
    running.proc.send_signal(signal.SIGINT)
    assert running.proc.wait(40) == 0
    running.expect(r"==> stopped", timeout=5)
    for url in (
        env["GANGWAY_PUBLIC_URL"] + "/healthz",
        env["RASA_URL"] + "/",
        env["GANGWAY_ACTION_SERVER_URL"] + "/health",
        f"http://127.0.0.1:{env['GANGWAY_SANDBOX_PORT']}/sandbox/healthz",
    ):
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=2)
