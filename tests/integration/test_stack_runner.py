"""`gangway up`'s runner keeps a real child process running: killed, it comes back."""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest

from bot.entrypoints.backoff import Backoff
from bot.entrypoints.stack_runner import Child, Runner
from tests.e2e.processes import free_port, wait_until

RESTART_DELAY = re.compile(r"restarting it in ([\d.]+)s\. See ")


def _said(said: list[str], part: str) -> bool:
    return any(part in line for line in said)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def http_child(tmp_path: Path) -> Iterator[tuple[Runner, Child, list[str]]]:
    """A one-line Python HTTP server under the runner, in a thread until the test ends."""
    port = free_port()
    child = Child(
        "tiny",
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        {"PATH": os.environ.get("PATH", "")},
        f"http://127.0.0.1:{port}/",
    )
    said: list[str] = []
    runner = Runner(
        [child],
        tmp_path / "log",
        say=said.append,
        backoff=lambda: Backoff(first=0.2, cap=1.0),
        tick=0.05,
    )
    stopping = threading.Event()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(runner.run(stopping)), daemon=True)
    thread.start()
    try:
        yield runner, child, said
    finally:
        stopping.set()
        thread.join(15)
    assert result == [0], said
    assert child.proc is not None and child.proc.poll() is not None, "the child outlived the runner"


def test_a_child_killed_with_sigkill_is_restarted_and_answers_again(
    http_child: tuple[Runner, Child, list[str]],
) -> None:
    """SIGKILL is reported with the signal and the log file; a new process serves again."""
    _runner, child, said = http_child
    wait_until(lambda: "==> tiny is ready" in " ".join(said), 15, "the child to be ready")
    assert child.proc is not None
    first = child.proc.pid
    os.kill(first, signal.SIGKILL)

    wait_until(lambda: any("is ready again" in line for line in said), 15, "the restart")
    assert child.proc.pid != first
    assert _answers(child.ready_url)
    death = next(line for line in said if "exited with" in line)
    assert f"(pid {first}) exited with signal SIGKILL" in death
    assert "tiny.log" in death
    assert any(f"restarted tiny (pid {child.proc.pid}, restart 1" in line for line in said)


def test_a_child_that_keeps_dying_is_restarted_each_time_with_a_growing_delay(
    http_child: tuple[Runner, Child, list[str]],
) -> None:
    """Killed twice in a row: restarted twice, the second time after a longer wait."""
    _runner, child, said = http_child
    for restart in (1, 2):
        wait_until(lambda: child.proc is not None and _answers(child.ready_url), 15, "an answer")
        assert child.proc is not None
        os.kill(child.proc.pid, signal.SIGKILL)
        wait_until(partial(_said, said, f"restart {restart};"), 15, f"restart {restart}")
    delays = [m.group(1) for m in map(RESTART_DELAY.search, said) if m]
    assert delays == ["0.2", "0.4"]
