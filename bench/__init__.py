"""Benchmarks of the running service: `run.py` (everything, with its baselines),
`bench.py` (against a running `gangway up`), `classify_latency.py`, `pathological.py`."""
