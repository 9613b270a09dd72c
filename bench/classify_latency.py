"""Latency of classifying one message, with and without the Rasa NLU call.

Runs the same pipeline as the live service and `gangway classify` (flow rules and
detectors, plus Rasa's /model/parse over HTTP) on every message of the evaluation set,
several rounds, one message at a time, and prints p50/p90/p99/max per mode:

    rules only      language + keywords, patterns and detectors, no Rasa
    rules + Rasa    the above plus one POST /model/parse (what the service does)
    Rasa parse      the HTTP call alone, for reference

    .venv/bin/python bench/classify_latency.py --rasa-url http://127.0.0.1:5005

A running Rasa server with a model is needed (`gangway up` or `make up` starts one).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.adapters.eval_set import SHIPPED_EVAL_SET, load_eval_set  # noqa: E402
from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH, FlowStore  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.service_layer.classification import Classifier  # noqa: E402
from integrations.errors import IntegrationError  # noqa: E402
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rasa-url", help="Rasa server (default: RASA_URL from the settings)")
    parser.add_argument("--set", type=Path, default=REPO / SHIPPED_EVAL_SET, dest="eval_set")
    parser.add_argument("--flow", type=Path, default=DEFAULT_FLOW_PATH)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the set (default 3)")
    args = parser.parse_args(argv)

    settings = load_settings()
    url = args.rasa_url or settings.rasa_url
    token = settings.rasa_token.get_secret_value() if settings.rasa_token else None
    texts = [m.text for m in load_eval_set(args.eval_set)]
    flows = FlowStore(args.flow, DEFAULT_DOMAIN_PATH)
    rasa = RasaClient(url, token=token)
    try:
        rasa.status()
    except IntegrationError as exc:
        print(
            f"cannot use Rasa at {url}: {exc.message}; start it with `gangway up`", file=sys.stderr
        )
        return 2

    with_nlu, rules_only = Classifier(flows, rasa), Classifier(flows, None)

    def classify_with(classifier: Classifier) -> Callable[[str], object]:
        return lambda text: classifier.classify(text, language=classifier.language_of(text))

    try:
        measure(texts, 1, classify_with(with_nlu))  # warm up: connection, caches
        modes = [
            ("rules only", measure(texts, args.rounds, classify_with(rules_only))),
            ("rules + Rasa", measure(texts, args.rounds, classify_with(with_nlu))),
            ("Rasa parse", measure(texts, args.rounds, rasa.parse)),
        ]
    finally:
        rasa.close()

    print(f"{len(texts)} messages x {args.rounds} rounds, one at a time; Rasa at {url}")
    print(f"{'mode':<14}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, ms in modes:
        cells = [percentile(ms, 50), percentile(ms, 90), percentile(ms, 99), ms[-1]]
        print(f"{name:<14}" + "".join(f"{value:>9.2f}" for value in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
