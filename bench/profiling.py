"""Sampling the service processes with py-spy while a phase runs (``--profile DIR``).

py-spy (a dev extra) attaches to a running process from outside: nothing in the
service changes for it. Each process's samples are written in py-spy's raw format
(collapsed stacks, the input of flamegraph tools) and summarised as text: the
functions most samples were in (self), and the project's own functions most samples
passed through (inclusive).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["py_spy", "record", "summarise"]

# py-spy names a frame "function (path:line)", the path relative to the working directory
# (the repository root) or absolute.
OWN_CODE = ("(bot/", "(integrations/", "/bot/", "/integrations/")


def py_spy() -> str:
    """The py-spy executable, or SystemExit saying how to install it."""
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install -e '.[dev]'")
    return found


@contextlib.contextmanager
def record(pids: Sequence[tuple[str, int]], out_dir: Path) -> Iterator[list[Path]]:
    """Record each (name, pid) while the block runs; yields the raw files' paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    exe = py_spy()
    procs, paths = [], []
    for name, pid in pids:
        path = out_dir / f"{name}.raw.txt"
        argv = [exe, "record", "--pid", str(pid), "--format", "raw", "--output", str(path),
                "--rate", "100", "--nonblocking"]  # fmt: skip
        log = open(out_dir / f"{name}.py-spy.log", "wb")  # noqa: SIM115 - closed below
        procs.append((subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT), log))
        paths.append(path)
    try:
        yield paths
    finally:
        for proc, _log in procs:
            proc.send_signal(signal.SIGINT)  # py-spy writes its output on an interrupt
        for proc, log in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


_LINE = re.compile(r":\d+\)$")


def _frames(stack: str) -> list[str]:
    """The stack's functions, outermost first, as "function (path)": the lines within a
    function are added up."""
    return [_LINE.sub(")", frame.strip()) for frame in stack.split(";") if frame.strip()]


def summarise(raw: Path, top: int = 25) -> str:
    """The top functions of one raw recording, as text."""
    own: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = _frames(stack)
        if frames:
            leaf[frames[-1]] += samples
        for frame in set(frames):
            if any(part in frame for part in OWN_CODE):
                own[frame] += samples
    if not total:
        return f"{raw.name}: no samples\n"
    lines = [f"{raw.name}: {total} samples", "", "self (where the samples were):"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in leaf.most_common(top)]
    lines += ["", "inclusive, the project's own code:"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines) + "\n"
