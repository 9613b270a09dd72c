"""Run a set of child processes and keep them running until told to stop.

Each child runs in its own process group and logs to <log_dir>/<name>.log (its
lines echoed here too when it asks for it). A child that dies is started again
after a delay that grows while it keeps dying (`Backoff`); each death and each
restart is reported with the exit code and the log file to read. Only the
caller's stop event (Ctrl-C, SIGTERM) stops the whole set, and a set that does
not become ready within the start-up timeout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from bot.config import REPO_ROOT
from bot.entrypoints.backoff import Backoff

__all__ = ["Child", "Runner", "exit_reason"]


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    ready_url: str
    ready_check: Callable[[httpx.Response], bool] = lambda r: r.status_code == 200
    echo: bool = False
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)


def exit_reason(returncode: int) -> str:
    """``code 1``, or ``signal SIGKILL`` for a child a signal ended (negative code)."""
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-returncode).name}"
        return f"signal {-returncode}"
    return f"code {returncode}"


def _pump(stream: IO[bytes], log: IO[bytes], prefix: str | None) -> None:
    with log:
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


def _ready(child: Child) -> bool:
    try:
        return child.ready_check(httpx.get(child.ready_url, timeout=2.0))
    except (httpx.HTTPError, ValueError):
        return False


def _say(line: str) -> None:
    print(line, flush=True)


class Runner:
    """Starts ``children``, restarts each one that dies, stops them all at the end.

    ``on_ready`` runs once, when every child first answered its readiness check;
    ``clock`` (monotonic seconds) and ``backoff`` (one per child) decide when a dead
    child starts again; ``say`` reports what happens (default: print).
    """

    def __init__(
        self,
        children: list[Child],
        log_dir: Path,
        *,
        on_ready: Callable[[], None] = lambda: None,
        say: Callable[[str], None] = _say,
        clock: Callable[[], float] = time.monotonic,
        backoff: Callable[[], Backoff] = Backoff,
        startup_timeout: float = 180.0,
        tick: float = 0.5,
    ) -> None:
        self.children = children
        self.log_dir = log_dir
        self._on_ready = on_ready
        self._say = say
        self._clock = clock
        self._backoff = {c.name: backoff() for c in children}
        self._startup_timeout = startup_timeout
        self._tick = tick
        self._restart_at: dict[str, float] = {}
        self._restarts: dict[str, int] = {c.name: 0 for c in children}

    def _log(self, child: Child) -> Path:
        return self.log_dir / f"{child.name}.log"

    def run(self, stopping: threading.Event) -> int:
        """Until ``stopping`` is set: 0 then; 1 when the set never became ready."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        started = self._clock()
        pending = list(self.children)  # not yet ready since the first start
        again: list[Child] = []  # restarted, not yet ready
        try:
            for child in self.children:
                self._say(f"==> starting {child.name} (log: {self._log(child)})")
                self._launch(child)
            while not stopping.is_set():
                self._bury_the_dead()
                again.extend(self._restart_due())
                for child in [c for c in pending + again if c.proc and c.proc.poll() is None]:
                    if not _ready(child):
                        continue
                    if child in pending:
                        pending.remove(child)
                        self._say(f"==> {child.name} is ready ({self._clock() - started:.0f}s)")
                        if not pending:
                            self._on_ready()
                    if child in again:
                        again.remove(child)
                        self._say(f"==> {child.name} is ready again")
                if pending and self._clock() - started > self._startup_timeout:
                    names = ", ".join(c.name for c in pending)
                    self._say(f"==> not ready after {self._startup_timeout:.0f}s: {names}")
                    return 1
                stopping.wait(self._tick)
            return 0
        finally:
            self.stop_all()

    def _launch(self, child: Child) -> None:
        _start(child, self.log_dir)
        self._backoff[child.name].started(self._clock())

    def _bury_the_dead(self) -> None:
        for child in self.children:
            if child.name in self._restart_at or not child.proc:
                continue
            code = child.proc.poll()
            if code is None:
                continue
            # What it started may outlive it (a service's worker processes, holding the
            # port): end its process group before the replacement starts.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGTERM)
            delay = self._backoff[child.name].died(self._clock())
            self._restart_at[child.name] = self._clock() + delay
            self._say(
                f"==> {child.name} (pid {child.proc.pid}) exited with {exit_reason(code)}; "
                f"restarting it in {delay:g}s. See {self._log(child)}"
            )

    def _restart_due(self) -> list[Child]:
        now = self._clock()
        due = [c for c in self.children if self._restart_at.get(c.name, now + 1) <= now]
        for child in due:
            del self._restart_at[child.name]
            self._restarts[child.name] += 1
            self._launch(child)
            assert child.proc is not None
            self._say(
                f"==> restarted {child.name} (pid {child.proc.pid}, restart "
                f"{self._restarts[child.name]}; log: {self._log(child)})"
            )
        return due

    def stop_all(self, grace: float = 10.0) -> None:
        """SIGTERM to every child's process group, in reverse order; SIGKILL after ``grace``."""
        for child in reversed(self.children):
            if child.proc and child.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in self.children:
            if not child.proc:
                continue
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._say(f"==> {child.name} did not stop in {grace:.0f}s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.proc.pid, signal.SIGKILL)
                child.proc.wait()
