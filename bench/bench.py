"""Benchmark the running stack (start it with `make up` / `gangway up` first).

Sends N signed WhatsApp webhooks over M conversations to gangway, the way
Twilio would, and watches the local sandbox's Messages API for the replies.
Each conversation is one simulated prospect who waits for the answer before
sending the next message (closed loop), so M is the number of prospects
chatting at once. Then the same N messages go straight to Rasa's REST channel
with the same concurrency, so gangway's overhead shows as a ratio.

Prints: webhook ack latency p50/p99, end-to-end reply latency p50/p99 (from
sending the webhook to the reply reaching the Messages API), throughput, lost
and duplicated replies, and Rasa's own latency.

    .venv/bin/python bench/bench.py --messages 1000 --conversations 50
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx
from twilio.request_validator import RequestValidator

STACK_FILE = Path(__file__).resolve().parent.parent / "var" / "stack.json"


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


class ReplyWatcher:
    """Polls the sandbox for outbound messages and records when each arrived there."""

    def __init__(self, sandbox_url: str) -> None:
        self._url = f"{sandbox_url}/sandbox/api/messages"
        self._after = 0
        self.arrivals: dict[str, list[float]] = defaultdict(list)  # number -> epoch seconds
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._http = httpx.Client(timeout=10)
        start = self._http.get(self._url).json()["messages"]
        self._after = max((m["id"] for m in start), default=0)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            msgs = self._http.get(self._url, params={"after": self._after}).json()["messages"]
            if msgs:
                with self._cond:
                    for m in msgs:
                        self._after = max(self._after, m["id"])
                        if m["direction"] == "outbound":
                            at = datetime.fromisoformat(m["created_at"]).timestamp()
                            self.arrivals[m["to"]].append(at)
                    self._cond.notify_all()
            else:
                self._stop.wait(0.01)

    def wait_for(self, number: str, count: int, timeout: float) -> float | None:
        deadline = time.time() + timeout
        with self._cond:
            while len(self.arrivals[number]) < count:
                left = deadline - time.time()
                if left <= 0:
                    return None
                self._cond.wait(left)
            return self.arrivals[number][count - 1]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._http.close()


def run_gangway(
    conn: dict[str, str], n: int, m: int, text: str, timeout: float
) -> dict[str, object]:
    url = conn["public_url"].rstrip("/") + "/webhooks/twilio/whatsapp"
    post_url = conn["service_url"].rstrip("/") + "/webhooks/twilio/whatsapp"
    validator = RequestValidator(conn["auth_token"])
    watcher = ReplyWatcher(conn["sandbox_url"])
    run_tag = secrets.randbelow(90) + 10
    numbers = [f"whatsapp:+1{run_tag}0555{c:04d}" for c in range(m)]
    per = [n // m + (1 if c < n % m else 0) for c in range(m)]
    acks: list[float] = []
    replies: list[float] = []
    lost = 0
    lock = threading.Lock()
    done = [0]

    def prospect(c: int) -> None:
        nonlocal lost
        number = numbers[c]
        with httpx.Client(timeout=20) as http:
            for k in range(per[c]):
                sid = "SM" + secrets.token_hex(16)
                params = {
                    "MessageSid": sid,
                    "SmsMessageSid": sid,
                    "AccountSid": conn["account_sid"],
                    "From": number,
                    "To": conn["business_number"],
                    "Body": text,
                    "NumMedia": "0",
                    "ProfileName": "Bench Prospect",
                }
                sig = validator.compute_signature(url, params)
                t0 = time.time()
                resp = http.post(post_url, data=params, headers={"X-Twilio-Signature": sig})
                t1 = time.time()
                if resp.status_code != 200:
                    raise SystemExit(f"webhook answered {resp.status_code}: {resp.text[:200]}")
                arrived = watcher.wait_for(number, k + 1, timeout)
                with lock:
                    acks.append(t1 - t0)
                    done[0] += 1
                    if arrived is None:
                        lost += per[c] - k
                        return
                    replies.append(arrived - t0)

    def progress() -> None:
        while done[0] < n and not stop_progress.is_set():
            print(f"\r  gangway: {done[0]}/{n} answered", end="", file=sys.stderr, flush=True)
            stop_progress.wait(1)

    stop_progress = threading.Event()
    threading.Thread(target=progress, daemon=True).start()
    started = time.time()
    with ThreadPoolExecutor(m) as pool:
        list(pool.map(prospect, range(m)))
    elapsed = time.time() - started
    stop_progress.set()
    time.sleep(2.0)  # let any duplicate the stack might send arrive before counting
    watcher.stop()
    print(file=sys.stderr)
    received = sum(len(watcher.arrivals[num]) for num in numbers)
    return {
        "acks": acks,
        "replies": replies,
        "elapsed": elapsed,
        "lost": lost,
        "duplicated": max(0, received - (n - lost)),
    }


def run_rasa(rasa_url: str, token: str, n: int, m: int, text: str) -> dict[str, object]:
    per = [n // m + (1 if c < n % m else 0) for c in range(m)]
    latencies: list[float] = []
    lock = threading.Lock()

    def prospect(c: int) -> None:
        sender = f"bench-{secrets.token_hex(6)}"
        with httpx.Client(timeout=30) as http:
            for _ in range(per[c]):
                t0 = time.time()
                resp = http.post(
                    f"{rasa_url}/webhooks/rest/webhook",
                    params={"token": token} if token else None,
                    json={"sender": sender, "message": text},
                )
                resp.raise_for_status()
                with lock:
                    latencies.append(time.time() - t0)

    started = time.time()
    with ThreadPoolExecutor(m) as pool:
        list(pool.map(prospect, range(m)))
    return {"latencies": latencies, "elapsed": time.time() - started}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--messages", "-n", type=int, default=1000)
    ap.add_argument("--conversations", "-m", type=int, default=50)
    ap.add_argument("--text", default="hi")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one reply")
    ap.add_argument("--stack-file", type=Path, default=STACK_FILE)
    args = ap.parse_args()
    if not args.stack_file.exists():
        raise SystemExit(f"{args.stack_file} not found: start the stack with `make up` first.")
    conn = json.loads(args.stack_file.read_text())
    if not conn.get("sandbox_url"):
        raise SystemExit(
            "the running stack uses real Twilio; the benchmark needs the local sandbox."
        )

    print(
        f"benchmark: {args.messages} messages over {args.conversations} conversations",
        file=sys.stderr,
    )
    g = run_gangway(conn, args.messages, args.conversations, args.text, args.timeout)
    print("  rasa direct ...", file=sys.stderr)
    rasa_url, rasa_token = conn["rasa_url"].rstrip("/"), conn.get("rasa_token", "")
    r = run_rasa(rasa_url, rasa_token, args.messages, args.conversations, args.text)

    acks, replies = g["acks"], g["replies"]
    rasa_lat = r["latencies"]
    assert isinstance(acks, list) and isinstance(replies, list) and isinstance(rasa_lat, list)
    g_elapsed, r_elapsed = float(g["elapsed"]), float(r["elapsed"])  # type: ignore[arg-type]

    def dist(values: list[float]) -> str:
        return f"p50 {pct(values, 50) * 1000:7.1f} ms   p99 {pct(values, 99) * 1000:7.1f} ms"

    print(f"messages            {args.messages} over {args.conversations} conversations")
    print(f"webhook ack         {dist(acks)}")
    print(f"reply (end to end)  {dist(replies)}")
    print(f"throughput          {len(replies) / g_elapsed:7.1f} replies/s")
    print(f"lost                {g['lost']}")
    print(f"duplicated          {g['duplicated']}")
    print(f"rasa REST direct    {dist(rasa_lat)}   {len(rasa_lat) / r_elapsed:.1f} replies/s")
    ratio50 = pct(replies, 50) / pct(rasa_lat, 50)
    ratio99 = pct(replies, 99) / pct(rasa_lat, 99)
    print(f"gangway / rasa      p50 x{ratio50:.2f}   p99 x{ratio99:.2f}")


if __name__ == "__main__":
    main()
