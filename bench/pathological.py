"""Time every detector on hostile messages: long, unpunctuated, built to make a regular
expression backtrack (digit groups, runs of one character, near-misses of IBANs, cards,
phone numbers and amounts, non-Latin digits and letters).

A detector that runs in linear time takes about 8 times as long on 64 kB as on 8 kB;
one that backtracks takes 64 times as long or more. Each (detector, input) runs in its
own process, killed after ``--timeout`` seconds, so one that never finishes is reported
as such instead of stopping the benchmark.

    .venv/bin/python bench/pathological.py                      # every detector, 8 and 64 kB
    .venv/bin/python bench/pathological.py --detector iban --timeout 20

Prints per detector the worst input, its time at 64 kB and the 64 kB / 8 kB ratio,
then every (detector, input) time with ``--all``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SMALL = 8 * 1024
LARGE = 64 * 1024


def _fill(unit: str, size: int, tail: str = "") -> str:
    """``unit`` repeated up to ``size`` characters in all, then ``tail``."""
    body = unit * (max(0, size - len(tail)) // len(unit) + 1)
    return body[: max(0, size - len(tail))] + tail


# Each input is a unit repeated to the wanted size: shapes that make a regular expression
# with nested or overlapping quantifiers try every way of splitting the run.
INPUTS: dict[str, Callable[[int], str]] = {
    "digit groups, spaces": lambda n: _fill("1234 ", n),
    "digit groups, dashes": lambda n: _fill("12-34-", n),
    "digit groups, mixed": lambda n: _fill("12 345-678.9 (0) ", n),
    "one digit run": lambda n: _fill("7", n),
    "one letter run": lambda n: _fill("a", n),
    "spaces": lambda n: "x" + _fill(" ", n - 2) + "x",
    "words, no stops": lambda n: _fill("my salary is high and i live near the ", n),
    "iban near-miss": lambda n: _fill("DE89 3704 0044 0532 0130 ", n),
    "card near-miss": lambda n: _fill("4111 1111 1111 1112 ", n),
    "phone near-miss": lambda n: _fill("+44 (0)20 7946 0958 ", n),
    "amount near-miss": lambda n: _fill("1,000,", n),
    "amount groups": lambda n: "my savings are €" + _fill("1.000 ", n - 16),
    "dates": lambda n: _fill("12.12.", n),
    "email near-miss": lambda n: _fill("a.b-c_", n) + "@",
    "address near-miss": lambda n: _fill("12 example ", n),
    "order near-miss": lambda n: _fill("buy 100 of ", n),
    "unicode digits": lambda n: _fill("١٢٣٤ ", n),
    "unicode letters": lambda n: _fill("ßéü ", n),
    "polite words": lambda n: "x " + _fill("please ", n - 4) + " y",
}


def _targets() -> dict[str, Callable[[str], object]]:
    """Every function that screens a prospect's text with regular expressions, by name."""
    from bot.domain.commands import parse_command
    from bot.domain.detectors import DETECTORS
    from bot.domain.redaction import redact

    found: dict[str, Callable[[str], object]] = {
        name: detector.find for name, detector in DETECTORS.items()
    }
    found["redact"] = redact
    found["commands"] = parse_command
    return found


def _run(target: str, text: str, out: multiprocessing.Queue[float]) -> None:
    function = _targets()[target]
    # CPU time of this process: on a shared machine, wall time measures the neighbours.
    start = time.process_time()
    function(text)
    out.put(time.process_time() - start)


def measure(target: str, text: str, timeout: float) -> float | None:
    """CPU seconds ``target`` took on ``text`` in a fresh process; None when killed."""
    out: multiprocessing.Queue[float] = multiprocessing.Queue()
    process = multiprocessing.Process(target=_run, args=(target, text, out))
    process.start()
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join()
        return None
    return out.get() if process.exitcode == 0 else float("nan")


def _ms(seconds: float | None, timeout: float) -> str:
    return f">{timeout:g} s" if seconds is None else f"{seconds * 1000:,.1f} ms"


def main(argv: list[str] | None = None) -> int:
    """Measure, print a table, exit 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detector", action="append", help="only these (repeatable)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per run")
    parser.add_argument("--all", action="store_true", help="print every (detector, input)")
    args = parser.parse_args(argv)
    names = args.detector or sorted(_targets())
    rows: list[tuple[str, str, float | None, float | None]] = []
    for name in names:
        for label, make in INPUTS.items():
            small = measure(name, make(SMALL), args.timeout)
            # Quadratic at 8 kB means hopeless at 64 kB: do not wait the whole timeout.
            large = None if small is None else measure(name, make(LARGE), args.timeout)
            rows.append((name, label, small, large))
            if args.all:
                print(
                    f"{name:24} {label:24} 8 kB {_ms(small, args.timeout):>12}"
                    f"  64 kB {_ms(large, args.timeout):>12}",
                    flush=True,
                )
    print(f"\n{'detector':24} {'worst input (64 kB)':24} {'64 kB':>12} {'64/8 kB':>8}")
    for name in names:
        mine = [r for r in rows if r[0] == name]
        worst = max(mine, key=lambda r: float("inf") if r[3] is None else r[3])
        _, label, small, large = worst
        ratio = "-" if large is None or not small else f"×{large / small:.1f}"
        print(f"{name:24} {label:24} {_ms(large, args.timeout):>12} {ratio:>8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
