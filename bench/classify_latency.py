"""Latency of classifying one message, with and without the sensitivity model and the
Rasa NLU call, and the model's memory.

Runs the same pipeline as the live service and `gangway classify` (flow rules and
detectors, the trained sensitivity model, Rasa's /model/parse over HTTP) on every
message of the evaluation set, several rounds, one message at a time, and prints
p50/p90/p99/max per mode:

    rules only            language + keywords, patterns and detectors
    rules + model         the above plus the sensitivity model (no Rasa call)
    model alone           the sensitivity model's scores, for reference
    rules + model + Rasa  the above plus one POST /model/parse (what the service does)
    Rasa parse            the HTTP call alone, for reference

    .venv/bin/python bench/classify_latency.py --rasa-url http://127.0.0.1:5005
    .venv/bin/python bench/classify_latency.py --no-rasa

The Rasa modes need a running Rasa server with a model (`gangway up` or `make up`
starts one); --no-rasa measures the others without it. The model is the one `make
model` trained (or GANGWAY_SENSITIVITY_MODEL).
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.adapters.eval_set import SHIPPED_EVAL_SET, load_eval_set  # noqa: E402
from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH, FlowStore  # noqa: E402
from bot.adapters.model_files import load_model, model_in_use  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.domain.sensitivity_model import LinearModel  # noqa: E402
from bot.entrypoints.stack_file import rasa_token  # noqa: E402
from bot.service_layer.classification import Classifier  # noqa: E402
from bot.service_layer.errors import IntegrationError  # noqa: E402
from integrations.rasa import RasaClient  # noqa: E402


def percentile(sorted_ms: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(p / 100 * len(sorted_ms)))
    return sorted_ms[rank - 1]


def measure(texts: Sequence[str], rounds: int, run: Callable[[str], object]) -> list[float]:
    """Milliseconds per call of ``run`` on each text, ``rounds`` times over."""
    timings = []
    for _ in range(rounds):
        for text in texts:
            started = time.perf_counter()
            run(text)
            timings.append((time.perf_counter() - started) * 1000)
    return sorted(timings)


def _rss_mb() -> float:
    """This process's resident memory, from /proc (Linux)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * 4096 / 2**20


def load_measured(path: Path) -> tuple[LinearModel, dict[str, float]]:
    """The model, with what loading it costs: seconds, Python memory it holds, RSS."""
    gc.collect()
    rss = _rss_mb()
    tracemalloc.start()
    started = time.perf_counter()
    model = load_model(path)
    seconds = time.perf_counter() - started
    gc.collect()
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return model, {
        "load s": seconds,
        "held MB": held / 2**20,
        "peak MB": peak / 2**20,
        "RSS growth MB": _rss_mb() - rss,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rasa-url", help="Rasa server (default: RASA_URL from the settings)")
    parser.add_argument("--no-rasa", action="store_true", help="skip the modes that call Rasa")
    parser.add_argument("--set", type=Path, default=REPO / SHIPPED_EVAL_SET, dest="eval_set")
    parser.add_argument("--flow", type=Path, default=DEFAULT_FLOW_PATH)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the set (default 3)")
    args = parser.parse_args(argv)

    settings = load_settings()
    url = args.rasa_url or settings.rasa_url
    token = rasa_token(settings)
    texts = [m.text for m in load_eval_set(args.eval_set)]
    flows = FlowStore(args.flow, DEFAULT_DOMAIN_PATH)
    model, memory = load_measured(model_in_use(settings.gangway_sensitivity_model))
    rasa = None
    if not args.no_rasa:
        rasa = RasaClient(url, token=token)
        try:
            rasa.status()
        except IntegrationError as exc:
            print(
                f"cannot use Rasa at {url}: {exc.message}; start it with `gangway up`, "
                "or pass --no-rasa",
                file=sys.stderr,
            )
            return 2

    def classify_with(classifier: Classifier) -> Callable[[str], object]:
        return lambda text: classifier.classify(text, language=classifier.language_of(text))

    rules_only, with_model = Classifier(flows, None), Classifier(flows, None, model)
    measure(texts, 1, classify_with(with_model))  # warm up: caches, compiled patterns
    modes = [
        ("rules only", measure(texts, args.rounds, classify_with(rules_only))),
        ("rules + model", measure(texts, args.rounds, classify_with(with_model))),
        ("model alone", measure(texts, args.rounds, model.score)),
    ]
    if rasa is not None:
        try:
            everything = Classifier(flows, rasa, model)
            measure(texts, 1, classify_with(everything))  # warm up the connection
            modes += [
                ("rules + model + Rasa", measure(texts, args.rounds, classify_with(everything))),
                ("Rasa parse", measure(texts, args.rounds, rasa.parse)),
            ]
        finally:
            rasa.close()

    where = "without Rasa" if rasa is None else f"Rasa at {url}"
    print(f"{len(texts)} messages x {args.rounds} rounds, one at a time; {where}")
    print(f"{'mode':<22}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, ms in modes:
        cells = [percentile(ms, 50), percentile(ms, 90), percentile(ms, 99), ms[-1]]
        print(f"{name:<22}" + "".join(f"{value:>9.2f}" for value in cells))
    print(f"sensitivity model {model.name}: {model.size} n-grams; " + ", ".join(
        f"{name} {value:.2f}" for name, value in memory.items()
    ))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
