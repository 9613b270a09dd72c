"""`gangway serve --workers 2` on PostgreSQL: two real service processes on one port,
the schema migrated once by their parent, a killed worker replaced."""

from __future__ import annotations

import os
import secrets
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.adapters.db import make_engine, normalise_url
from bot.adapters.migrate import current_revision, head_revision
from tests.conftest import PG_URL, reset_postgres
from tests.e2e.processes import Proc, free_port, wait_until
from tests.fakes.keys import fake_keyring, keys_env

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="GANGWAY_TEST_DATABASE_URL is not set"),
]


def workers_of(parent: int) -> set[int]:
    """The worker processes uvicorn spawned under ``parent`` (not its resource tracker)."""
    children: set[int] = set()
    for task in Path(f"/proc/{parent}/task").iterdir():
        children.update(int(p) for p in (task / "children").read_text().split())
    found = set()
    for pid in children:
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(pid)
        except FileNotFoundError:
            continue  # it ended meanwhile
    return found


def started(proc: Proc) -> int:
    """How many workers finished starting so far, by the service's log."""
    return proc.log_path.read_text(errors="replace").count("Application startup complete")


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[Proc, str]]:
    """`gangway serve --workers 2` on a blank PostgreSQL database, ready."""
    assert PG_URL
    url = normalise_url(PG_URL)
    reset_postgres(url)
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GANGWAY_", "TWILIO_"))},
        **keys_env(fake_keyring()),
        "DATABASE_URL": url,
        "GANGWAY_PORT": str(port),
        "GANGWAY_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "GANGWAY_STATE_DIR": str(tmp_path / "state"),
        "TWILIO_ACCOUNT_SID": "AC" + secrets.token_hex(16),
        "TWILIO_AUTH_TOKEN": secrets.token_hex(16),
        # Nothing listens here: these tests send no message.
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{free_port()}",
        "RASA_URL": f"http://127.0.0.1:{free_port()}",
    }
    serve = [sys.executable, "-m", "bot.entrypoints.cli", "serve", "--workers", "2"]
    proc = Proc("serve", serve, env, tmp_path)
    try:
        readyz = f"http://127.0.0.1:{port}/readyz"
        proc.wait_ready(readyz, timeout=180)
        wait_until(lambda: len(workers_of(proc.popen.pid)) == 2, 60, "two worker processes")
        wait_until(lambda: started(proc) == 2, 180, "both workers to finish starting")
        yield proc, readyz
    finally:
        proc.stop(grace=30)


def test_two_workers_serve_one_port_after_their_parent_migrated_once(
    two_workers: tuple[Proc, str],
) -> None:
    """The parent migrates the blank database; neither worker migrates or checks again."""
    proc, readyz = two_workers
    for _ in range(10):
        assert httpx.get(readyz, timeout=5).json()["schema"] == head_revision()
    log = proc.log_path.read_text(errors="replace")
    assert log.count("database schema migrated from revision nothing") == 1
    assert "already at revision" not in log
    assert log.count("Started server process") == 2
    engine = make_engine(normalise_url(PG_URL or ""))
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_a_worker_killed_with_sigkill_is_replaced_and_the_service_keeps_answering(
    two_workers: tuple[Proc, str],
) -> None:
    """uvicorn's supervisor starts a new worker; the port answers throughout."""
    proc, readyz = two_workers
    before = workers_of(proc.popen.pid)
    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    assert _ready(readyz)  # the other worker still answers
    wait_until(lambda: len(workers_of(proc.popen.pid) - {victim}) == 2, 120, "a replacement worker")
    assert proc.popen.poll() is None
    wait_until(lambda: started(proc) == 3, 180, "the replacement to finish starting")
    assert _ready(readyz)
    assert f"Child process [{victim}] died" in proc.log_path.read_text(errors="replace")


def test_the_workers_figures_are_added_up_in_a_directory_of_the_run_s_own(
    two_workers: tuple[Proc, str], tmp_path: Path
) -> None:
    """Each worker writes its counts under var/metrics/<serve's pid>; whichever answers
    GET /metrics shows one figure per series; the directory goes when serve stops."""
    proc, readyz = two_workers
    figures = tmp_path / "state" / "metrics" / str(proc.popen.pid)
    files = {f"counter_{pid}.db" for pid in workers_of(proc.popen.pid)}
    wait_until(lambda: files <= {p.name for p in figures.iterdir()}, 30, "both workers' files")
    for _ in range(6):
        page = httpx.get(readyz.replace("/readyz", "/metrics"), timeout=5).text
        lines = page.splitlines()
        assert lines.count("gangway_inbox_backlog 0.0") == 1
        assert lines.count('gangway_inbound_messages_total{outcome="forwarded"} 0.0') == 1
    proc.stop(grace=30)
    assert not figures.exists()
