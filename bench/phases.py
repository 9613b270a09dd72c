"""The benchmark's measurements: an acknowledgement flood, closed-loop conversations
through gangway or straight to Rasa, and waiting for a backlog to drain.

A "prospect" is one WhatsApp number writing and waiting for the bot's answer before
writing again. An answer is complete when the whole turn's messages have arrived at
the Twilio stand-in (``replies_per_turn``: what Rasa's REST channel returns for the
same text), so a reply's latency is webhook sent → last message of its turn at
"Twilio", the same moment Rasa's REST channel returns the turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator

from bench.http_load import Connection, Target, form_post, get, json_post

__all__ = [
    "ArrivalWatcher",
    "ClosedLoopResult",
    "Webhooks",
    "gangway_closed_loop",
    "percentile",
    "rasa_closed_loop",
    "wait_quiet",
]

INBOUND_PATH = "/webhooks/twilio/whatsapp"


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank on the sorted values); NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


@dataclass(frozen=True)
class Webhooks:
    """Builds signed inbound webhooks as Twilio sends them to gangway's public URL."""

    public_url: str
    account_sid: str
    auth_token: str
    business_number: str = "whatsapp:+12025550100"

    def request(self, number: str, text: str) -> bytes:
        sid = "SM" + secrets.token_hex(16)
        params = {
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": self.account_sid,
            "From": number,
            "To": self.business_number,
            "Body": text,
            "NumMedia": "0",
            "ProfileName": "Bench Prospect",
        }
        url = self.public_url.rstrip("/") + INBOUND_PATH
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        return form_post(
            urlsplit(url).netloc, INBOUND_PATH, params, {"X-Twilio-Signature": signature}
        )


def numbers(area: int, count: int) -> list[str]:
    """``count`` invented WhatsApp numbers in the reserved 555-01xx range, a hundred per
    area code from ``area`` on; each phase takes its own area codes, so that no phase
    sees another's replies."""
    return [f"whatsapp:+1{area + c // 100}555{100 + c % 100:04d}" for c in range(count)]


def areas_needed(count: int) -> int:
    return -(-count // 100)


class ArrivalWatcher:
    """Follows the Twilio stand-in's record of created messages, per recipient."""

    def __init__(self, twilio: Target, interval: float = 0.02) -> None:
        self._conn = Connection(twilio)
        self._host = f"{twilio.host}:{twilio.port}"
        self._interval = interval
        self._next = 0
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self._changed = asyncio.Event()
        self._polling = asyncio.Lock()  # one request at a time on the one connection
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> ArrivalWatcher:
        await self.poll()
        self.arrivals.clear()  # only what arrives from now on
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._conn.close()

    async def poll(self) -> None:
        async with self._polling:
            status, body = await self._conn.send(get(self._host, f"/arrivals?after={self._next}"))
            if status != 200:
                raise RuntimeError(f"the Twilio stand-in answered {status}")
            answer = json.loads(body)
        for to, at in answer["items"]:
            self.arrivals[to].append(at)
        if answer["items"]:
            self._next = answer["next"]
            self._changed.set()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.poll()

    async def wait_for(self, number: str, count: int, timeout: float) -> float | None:
        """When ``number``'s ``count``-th message arrived, or None after ``timeout``."""
        deadline = time.monotonic() + timeout
        while len(self.arrivals[number]) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))
        return self.arrivals[number][count - 1]


@dataclass
class ClosedLoopResult:
    latencies: list[float] = field(default_factory=list)  # seconds per answered message
    elapsed: float = 0.0
    sent: int = 0
    lost: int = 0
    duplicated: int = 0

    @property
    def answered(self) -> int:
        return len(self.latencies)

    @property
    def per_second(self) -> float:
        return self.answered / self.elapsed if self.elapsed else 0.0

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 99)


def _shares(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if c < total % parts else 0) for c in range(parts)]


async def gangway_closed_loop(
    services: Sequence[Target],
    twilio: Target,
    webhooks: Webhooks,
    *,
    area: int,
    messages: int,
    prospects: int,
    text: str,
    replies_per_turn: int,
    timeout: float,
    settle: float = 2.0,
    progress: Callable[[int], None] | None = None,
) -> ClosedLoopResult:
    """``messages`` webhooks from ``prospects`` numbers, each waiting for its answer.

    Webhooks go to the service processes in turn. A turn whose answer does not arrive
    within ``timeout`` counts as lost with the rest of that prospect's messages; after
    ``settle`` seconds of quiet, messages beyond what was asked for count as duplicated.
    """
    result = ClosedLoopResult()
    turn = [0]
    people = numbers(area, prospects)

    async def prospect(number: str, count: int, watcher: ArrivalWatcher) -> None:
        conns = [Connection(t) for t in services]
        try:
            for k in range(count):
                raw = webhooks.request(number, text)
                conn = conns[turn[0] % len(conns)]
                turn[0] += 1
                t0 = time.time()
                status, body = await conn.send(raw)
                result.sent += 1
                if status != 200:
                    raise SystemExit(f"gangway answered a webhook with {status}: {body[:200]!r}")
                arrived = await watcher.wait_for(number, (k + 1) * replies_per_turn, timeout)
                if arrived is None:
                    result.lost += count - k
                    return
                result.latencies.append(arrived - t0)
                if progress is not None:
                    progress(result.answered)
        finally:
            for conn in conns:
                await conn.close()

    async with ArrivalWatcher(twilio) as watcher:
        started = time.monotonic()
        await asyncio.gather(
            *(
                prospect(n, c, watcher)
                for n, c in zip(people, _shares(messages, prospects), strict=False)
            )
        )
        result.elapsed = time.monotonic() - started
        await asyncio.sleep(settle)
        await watcher.poll()
        received = sum(len(watcher.arrivals[n]) for n in people)
    result.duplicated = max(0, received - result.answered * replies_per_turn)
    return result


async def rasa_closed_loop(
    rasa: Target,
    *,
    messages: int,
    prospects: int,
    text: str,
    progress: Callable[[int], None] | None = None,
) -> ClosedLoopResult:
    """The same load straight to Rasa's REST channel: the answer is the HTTP response."""
    result = ClosedLoopResult()
    host = f"{rasa.host}:{rasa.port}"

    async def prospect(count: int) -> None:
        sender = "bench-" + secrets.token_hex(6)
        conn = Connection(rasa)
        try:
            for _ in range(count):
                raw = json_post(host, "/webhooks/rest/webhook", {"sender": sender, "message": text})
                t0 = time.time()
                status, body = await conn.send(raw)
                result.sent += 1
                if status != 200 or not json.loads(body):
                    result.lost += 1
                    continue
                result.latencies.append(time.time() - t0)
                if progress is not None:
                    progress(result.answered)
        finally:
            await conn.close()

    started = time.monotonic()
    await asyncio.gather(*(prospect(c) for c in _shares(messages, prospects)))
    result.elapsed = time.monotonic() - started
    return result


async def replies_per_turn(rasa: Target, text: str) -> int:
    """How many messages Rasa answers ``text`` with once a conversation is under way."""
    conn = Connection(rasa)
    host = f"{rasa.host}:{rasa.port}"
    sender = "bench-calibration-" + secrets.token_hex(4)
    try:
        counts = []
        for _ in range(3):
            _, body = await conn.send(
                json_post(host, "/webhooks/rest/webhook", {"sender": sender, "message": text})
            )
            counts.append(len(json.loads(body)))
    finally:
        await conn.close()
    if len(set(counts)) != 1 or counts[0] == 0:
        raise SystemExit(
            f"Rasa answers {text!r} with {counts} messages on successive turns: choose a "
            "text (--text) that it answers the same way every time."
        )
    return counts[0]


def wait_quiet(
    cpu_of: Callable[[], float], *, timeout: float, window: float = 1.0, busy: float = 0.05
) -> float:
    """Block until the processes ``cpu_of`` measures use less than ``busy`` of a core
    over ``window`` seconds (their backlog is worked off); returns the seconds waited,
    or raises SystemExit after ``timeout``."""
    started = time.monotonic()
    before = cpu_of()
    while True:
        time.sleep(window)
        now = cpu_of()
        if now - before < busy * window:
            return time.monotonic() - started - window
        before = now
        if time.monotonic() - started > timeout:
            raise SystemExit(f"the service was still busy after {timeout:.0f}s")
