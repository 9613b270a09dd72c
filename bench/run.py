"""The whole benchmark in one command: every configuration and both baselines in the
same run, on loopback, printed as one table and written as CSV.

    .venv/bin/python bench/run.py --out bench/results.csv --messages 600 --conversations 50

Configurations: gangway on SQLite with one service process, on PostgreSQL with one
and with two (SQLite serves one process; its two-process row shows "n/a"). Rasa and
its action server start once; each configuration gets a fresh database, a Twilio
stand-in (bench/twilio_standin.py) and its `gangway serve` processes. Two processes
share the database; webhooks and status callbacks go to them in turn, as a
round-robin load balancer would send them.

For each configuration:

1. webhook ack: a flood of signed inbound webhooks over 16 connections (requests/s,
   p50, p99), from prospects who opted out first (STOP), so that working off the
   flood costs little and does not drown what follows; then the time until the
   service is idle again ("drain");
2. end to end: N messages from M prospects, each waiting for its answer (answered
   messages/s, reply p50/p99 from webhook sent to the turn's last message at the
   Twilio stand-in, lost, duplicated), with the service's CPU per answered message;
3. unsaturated: one prospect, 100 messages (reply p50);
4. the peak resident memory (VmHWM) of each service process.

Baselines: a bare FastAPI form endpoint under the same flood (bench/bare_app.py), and
Rasa's own REST channel under the same end-to-end and one-prospect loads (while the
first configuration's service is up and idle: Rasa fetches its wording from gangway's
NLG endpoint). Ratios: ack req/s ÷ bare, e2e msg/s ÷ Rasa, one-prospect p50 ÷ Rasa.

``--profile DIR`` records every service process with py-spy during the end-to-end
phase and writes raw stacks and a text summary per process to DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

if __package__ in (None, ""):  # run as a script: bench/ is on sys.path, the repo is not
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import phases, procstat, profiling, stack
from bench.http_load import FloodResult, Target, flood
from bench.report import BARE, RASA, Row, add_ratios, format_table, write_csv

__all__ = ["Config", "main", "parse_args"]

FLOOD_TEXT = "hi"


@dataclass(frozen=True)
class Config:
    database: str  # "sqlite" or "postgresql"
    processes: int

    @property
    def name(self) -> str:
        return f"{self.database} x{self.processes}"


CONFIGS = (
    Config("sqlite", 1),
    Config("sqlite", 2),
    Config("postgresql", 1),
    Config("postgresql", 2),
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="bench/run.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--out", type=Path, default=Path("bench/results.csv"), help="the CSV to write")
    ap.add_argument("--messages", "-n", type=int, default=600, help="end-to-end messages")
    ap.add_argument("--conversations", "-m", type=int, default=50, help="prospects at once")
    ap.add_argument("--flood", type=int, default=3000, help="webhooks in the ack flood")
    ap.add_argument("--connections", type=int, default=16, help="connections of the flood")
    ap.add_argument("--unsaturated", type=int, default=100, help="messages of the lone prospect")
    ap.add_argument("--text", default="hi", help="what the prospects write")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for one answer")
    ap.add_argument(
        "--only",
        action="append",
        choices=[c.name.replace(" ", "") for c in CONFIGS],
        help="run only these configurations (repeatable); the baselines always run",
    )
    ap.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL URL allowed to create databases; each configuration gets a fresh "
        "one named by --database-prefix",
    )
    ap.add_argument("--database-prefix", default="gw_bench")
    ap.add_argument("--base-port", type=int, default=18200, help="ports used: 40 from here")
    ap.add_argument("--run-dir", type=Path, help="logs and state (default: a temporary dir)")
    ap.add_argument(
        "--separate-serves",
        action="store_true",
        help="two processes as two `serve` on two ports even if `serve --workers` exists",
    )
    ap.add_argument("--profile", type=Path, metavar="DIR", help="py-spy the e2e phase into DIR")
    args = ap.parse_args(argv)
    if args.conversations < 1 or args.messages < args.conversations:
        ap.error("--messages must be at least --conversations, which must be at least 1")
    return args


_progress_shown = [False]  # a progress line is open on stderr


def _say(text: str) -> None:
    if _progress_shown[0]:
        print(file=sys.stderr)
        _progress_shown[0] = False
    print(f"==> {text}", file=sys.stderr, flush=True)


def _progress(label: str, total: int) -> Callable[[int], None]:
    last = [0.0]

    def show(done: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 1.0 or done == total:
            last[0] = now
            print(f"\r    {label}: {done}/{total}", end="", file=sys.stderr, flush=True)
            _progress_shown[0] = True

    return show


def _pg_url(admin: str, database: str) -> str:
    """The service's (SQLAlchemy) URL of ``database`` on the admin URL's server."""
    parts = urlsplit(admin)
    return urlunsplit(parts._replace(scheme="postgresql+psycopg", path=f"/{database}"))


class Areas:
    """Hands out area codes for the invented numbers, fresh ones for every phase."""

    def __init__(self, first: int = 301) -> None:
        self._next = first

    def take(self, count: int) -> int:
        area = self._next
        self._next += phases.areas_needed(count)
        return area


class Bench:
    def __init__(self, args: argparse.Namespace, run_dir: Path) -> None:
        self.args = args
        self.run_dir = run_dir
        self.ports = stack.Ports(
            service=args.base_port,
            twilio=args.base_port + 10,
            bare=args.base_port + 20,
            rasa=args.base_port + 30,
            actions=args.base_port + 35,
        )
        self.keys = stack.Secrets()
        self.environ = dict(os.environ)
        self.env = stack.base_env(self.environ)
        self.webhooks = phases.Webhooks(
            self.ports.service_url(), self.keys.account_sid, self.keys.auth_token
        )
        self.areas = Areas()
        self.rasa_pids: list[int] = []
        self.serve_workers = not args.separate_serves and stack.serve_has_workers(self.environ)
        self.replies_per_turn = 0

    @property
    def twilio(self) -> Target:
        return Target("127.0.0.1", self.ports.twilio)

    @property
    def rasa(self) -> Target:
        return Target("127.0.0.1", self.ports.rasa)

    def flood_requests(self, senders: list[str]) -> list[bytes]:
        count = self.args.flood
        return [self.webhooks.request(senders[i % len(senders)], FLOOD_TEXT) for i in range(count)]

    # -- baselines --------------------------------------------------------------

    def bare(self) -> Row:
        _say("baseline: bare FastAPI endpoint under the ack flood")
        proc = stack.start_bare(self.ports, self.run_dir, self.env)
        try:
            senders = phases.numbers(self.areas.take(self.args.connections), self.args.connections)
            requests = self.flood_requests(senders)
            target = Target("127.0.0.1", self.ports.bare)
            result = asyncio.run(flood([target], requests, self.args.connections))
        finally:
            proc.stop()
        row = Row(BARE, processes=1)
        _ack(row, result)
        return row

    def rasa_baseline(self) -> Row:
        _say("baseline: Rasa's REST channel, end to end and one prospect")
        args = self.args
        row = Row(RASA, processes=1)
        cpu0 = procstat.total_cpu_seconds(self.rasa_pids)
        e2e = asyncio.run(
            phases.rasa_closed_loop(
                self.rasa,
                messages=args.messages,
                prospects=args.conversations,
                text=args.text,
                progress=_progress("rasa e2e", args.messages),
            )
        )
        cpu = procstat.total_cpu_seconds(self.rasa_pids) - cpu0
        _e2e(row, e2e)
        row.rasa_cpu_ms_per_msg = 1000 * cpu / e2e.answered if e2e.answered else None
        lone = asyncio.run(
            phases.rasa_closed_loop(
                self.rasa, messages=args.unsaturated, prospects=1, text=args.text
            )
        )
        row.unsat_p50_ms = 1000 * lone.p50
        return row

    # -- one configuration -------------------------------------------------------

    def configuration(self, config: Config, with_rasa_baseline: bool) -> list[Row]:
        args = self.args
        _say(f"{config.name}: starting")
        state = self.run_dir / config.name.replace(" ", "")
        state.mkdir(parents=True, exist_ok=True)
        if config.database == "sqlite":
            database_url = f"sqlite:///{state / 'gangway.db'}"
        else:
            name = f"{args.database_prefix}_{config.processes}"
            database_url = _pg_url(args.postgres, name)
            stack.fresh_postgres(args.postgres, name)
        # Several processes: `serve --workers N` on one port where it exists, else N
        # `serve` on N ports, started one after the other (the first makes the key
        # file and migrates).
        workers = config.processes if config.processes > 1 and self.serve_workers else None
        listeners = 1 if workers else config.processes
        twilio = stack.start_twilio(self.ports, self.keys, listeners, self.run_dir, self.env)
        services: list[stack.Proc] = []
        extra: list[Row] = []
        try:
            for index in range(listeners):
                env = stack.service_env(
                    self.ports, self.keys, self.environ, database_url=database_url,
                    state_dir=state, index=index,
                )  # fmt: skip
                name = f"{config.name.replace(' ', '')}-{index}"
                proc = stack.start_service(env, name, self.run_dir, workers)
                services.append(proc)
                proc.wait_ready(self.ports.service_url(index) + "/readyz", 180)
            if workers:
                _wait_for_workers(services[0], workers)
            if not self.replies_per_turn:
                self.replies_per_turn = asyncio.run(phases.replies_per_turn(self.rasa, args.text))
                _say(f"Rasa answers {args.text!r} with {self.replies_per_turn} messages a turn")
            row = self.measure(config, services, twilio)
            if workers:
                row.name += " (serve --workers)"
            if with_rasa_baseline:
                extra.append(self.rasa_baseline())
        finally:
            for proc in services:
                proc.stop()
            twilio.stop()
        return [row, *extra]

    def measure(self, config: Config, services: list[stack.Proc], twilio: stack.Proc) -> Row:
        args = self.args
        row = Row(config.name, database=config.database, processes=config.processes)
        targets = [Target("127.0.0.1", self.ports.service + i) for i in range(len(services))]
        pids = sorted({pid for p in services for pid in p.group()})

        def service_cpu() -> float:
            return procstat.total_cpu_seconds(pids)

        # Idle is 5% of a core per process: each idle service process still polls (its
        # worker, intake drain, audit chainer and timers), and their sum grows with them.
        quiet = 0.05 * len(pids)

        # 1. The ack flood, from prospects who opted out first.
        area = self.areas.take(args.connections)
        senders = phases.numbers(area, args.connections)
        _say(f"{config.name}: {len(senders)} flood prospects opt out")
        opted = asyncio.run(
            phases.gangway_closed_loop(
                targets, self.twilio, self.webhooks, area=area, messages=len(senders),
                prospects=len(senders), text="STOP", replies_per_turn=1, timeout=args.timeout,
                settle=0.0,
            )
        )  # fmt: skip
        if opted.lost:
            raise SystemExit(f"{config.name}: {opted.lost} opt-outs were not confirmed")
        phases.wait_quiet(service_cpu, timeout=120, busy=quiet)
        _say(f"{config.name}: ack flood, {args.flood} webhooks over {args.connections} connections")
        requests = self.flood_requests(senders)
        result = asyncio.run(flood(targets, requests, args.connections))
        _ack(row, result)
        row.drain_s = phases.wait_quiet(service_cpu, timeout=600, busy=quiet)
        _say(
            f"{config.name}: {row.ack_rps:.0f} req/s, p99 {row.ack_p99_ms:.1f} ms; "
            f"drained in {row.drain_s:.1f}s after the flood"
        )

        # 2. End to end, with the CPU it costs and optionally a profile.
        _say(
            f"{config.name}: end to end, {args.messages} messages "
            f"from {args.conversations} prospects"
        )
        watched = [*pids, *self.rasa_pids, twilio.pid]
        before = {pid: procstat.cpu_seconds(pid) for pid in watched}
        profile = (
            profiling.record(
                [(f"{config.name.replace(' ', '')}-{i}", p) for i, p in enumerate(pids)],
                args.profile,
            )
            if args.profile
            else None
        )
        with profile if profile is not None else contextlib.nullcontext():
            e2e = asyncio.run(
                phases.gangway_closed_loop(
                    targets, self.twilio, self.webhooks, area=self.areas.take(args.conversations),
                    messages=args.messages, prospects=args.conversations, text=args.text,
                    replies_per_turn=self.replies_per_turn, timeout=args.timeout,
                    progress=_progress(f"{config.name} e2e", args.messages),
                )
            )  # fmt: skip
        used = {pid: procstat.cpu_seconds(pid) - before[pid] for pid in watched}
        _e2e(row, e2e)
        if e2e.answered:
            per = 1000 / e2e.answered
            row.cpu_ms_per_msg = per * sum(used[p] for p in pids)
            row.rasa_cpu_ms_per_msg = per * sum(used[p] for p in self.rasa_pids)
            row.twilio_cpu_ms_per_msg = per * used[twilio.pid]
        phases.wait_quiet(service_cpu, timeout=120, busy=quiet)

        # 3. One prospect alone.
        _say(f"{config.name}: one prospect, {args.unsaturated} messages")
        lone = asyncio.run(
            phases.gangway_closed_loop(
                targets, self.twilio, self.webhooks, area=self.areas.take(1),
                messages=args.unsaturated, prospects=1, text=args.text,
                replies_per_turn=self.replies_per_turn, timeout=args.timeout,
            )
        )  # fmt: skip
        row.unsat_p50_ms = 1000 * lone.p50
        row.lost = (row.lost or 0) + lone.lost
        row.duplicated = (row.duplicated or 0) + lone.duplicated

        # 4. Memory: the kernel's high-water mark of each process over the whole run.
        row.rss_mb = max(procstat.peak_rss_mb(pid) for pid in pids)
        return row


def _wait_for_workers(serve: stack.Proc, workers: int, timeout: float = 180) -> None:
    """Until `serve --workers N` runs its N workers besides itself, and they have done
    starting (each imports the whole service: their CPU use falls quiet then)."""
    deadline = time.monotonic() + timeout
    while len(serve.group()) < workers + 1:
        if time.monotonic() > deadline:
            raise SystemExit(f"serve --workers {workers} did not start them; see {serve.log}")
        time.sleep(0.5)
    group = serve.group()
    phases.wait_quiet(
        lambda: procstat.total_cpu_seconds(group), timeout=timeout, busy=0.05 * len(group)
    )


def _ack(row: Row, result: FloodResult) -> None:
    row.ack_rps = result.requests_per_second
    row.ack_p50_ms = 1000 * phases.percentile(result.latencies, 50)
    row.ack_p99_ms = 1000 * phases.percentile(result.latencies, 99)
    row.ack_errors = result.errors


def _e2e(row: Row, result: phases.ClosedLoopResult) -> None:
    row.e2e_messages = result.sent
    row.e2e_rps = result.per_second
    row.e2e_p50_ms = 1000 * result.p50
    row.e2e_p99_ms = 1000 * result.p99
    row.lost = result.lost
    row.duplicated = result.duplicated


def _stop_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the `finally`s that stop the children


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Started in the background, a process may have SIGINT ignored: both signals stop
    # the run and everything it started.
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGINT, _stop_on_signal)
    wanted = set(args.only or [c.name.replace(" ", "") for c in CONFIGS])
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="gangway-bench-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    _say(f"logs and state in {run_dir}")
    load_before = os.getloadavg()
    bench = Bench(args, run_dir)
    started = time.monotonic()
    rows = [bench.bare()]
    _say("starting Rasa and its action server (about a minute)")
    actions, rasa = stack.start_rasa(bench.ports, bench.keys, bench.environ, run_dir)
    bench.rasa_pids = [rasa.pid, actions.pid]
    try:
        baseline_done = False
        for config in CONFIGS:
            if config.name.replace(" ", "") not in wanted:
                continue
            if config.database == "sqlite" and config.processes > 1:
                rows.append(Row(config.name, "sqlite", config.processes,
                                skipped="SQLite serves one process"))  # fmt: skip
                continue
            rows.extend(bench.configuration(config, with_rasa_baseline=not baseline_done))
            baseline_done = True
    finally:
        rasa.stop()
        actions.stop()
    add_ratios(rows)
    _say("done")
    print(format_table(rows))
    # Everything shares the machine with whatever else runs on it: say how busy it was.
    load = ", ".join(f"{a:.1f}→{b:.1f}" for a, b in zip(load_before, os.getloadavg(), strict=True))
    print(
        f"\n{args.messages} messages from {args.conversations} prospects, a flood of "
        f"{args.flood} webhooks over {args.connections} connections, {args.unsaturated} "
        f"messages from one prospect, {os.cpu_count()} CPUs, load average (1, 5, 15 min) "
        f"{load}."
    )
    write_csv(rows, args.out)
    _say(f"wrote {args.out}; {time.monotonic() - started:.0f}s in all")
    if args.profile:
        for raw in sorted(args.profile.glob("*.raw.txt")):
            summary = raw.with_name(raw.name.replace(".raw.txt", ".top.txt"))
            summary.write_text(profiling.summarise(raw))
            _say(f"profile: {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
