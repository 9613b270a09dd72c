"""What a process costs, read from /proc (Linux): CPU seconds and resident memory.

psutil is not a dependency of the project; the two numbers the benchmark needs are
one line each in /proc/PID/stat and /proc/PID/status.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

__all__ = ["cpu_seconds", "peak_rss_mb", "total_cpu_seconds"]

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far (0.0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return 0.0
    # The command name (field 2) may hold spaces: count fields after its closing ")".
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _TICKS


def total_cpu_seconds(pids: Iterable[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size so far (VmHWM), in MiB; 0.0 once it is gone.

    The kernel keeps the high-water mark itself, so no sampling can miss a short peak.
    """
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
