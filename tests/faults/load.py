"""A stream of WhatsApp messages from many prospects, delivered as Twilio delivers
webhooks: each message until some service process acknowledges it.

Each prospect writes its messages one after another, a short pause apart, in its
own thread; the prospects write at the same time. The first message of each goes
through the sandbox (so the sandbox, like WhatsApp, lets the replies through); the
others are posted straight to the service processes in turn, as a load balancer
spreads them. A delivery that fails (a refused connection, a 5xx) is delivered
again, with the same MessageSid, to the next process: what Twilio and a load
balancer do between them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from tests.faults.stack import FaultStack, new_sid

__all__ = ["PROSPECTS", "Delivery", "Sent", "Stream", "deliver"]

# Reserved for fiction: +1 202 555 0101 … 0199.
PROSPECTS = [f"whatsapp:+120255501{n:02d}" for n in range(1, 100)]

# Things the bot answers without moving up the ladder.
SMALL_TALK = ("hi", "what are your opening hours", "are you a bot?", "thanks")


@dataclass(frozen=True)
class Sent:
    number: str
    sid: str
    body: str


@dataclass
class Delivery:
    """Failed attempts to deliver webhooks: what a load balancer would have seen."""

    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def failed(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)


def deliver(
    stack: FaultStack,
    targets: Callable[[], Sequence[str]],
    message: Sent,
    delivery: Delivery,
    first: int = 0,
    timeout: float = 60.0,
) -> None:
    """Post ``message``'s webhook until a service process answers 200, trying the
    targets in turn from ``first``."""
    deadline = time.monotonic() + timeout
    attempt = first
    while True:
        urls = targets()
        url = urls[attempt % len(urls)]
        attempt += 1
        try:
            resp = stack.inbound(url, message.number, message.body, message.sid)
            if resp.status_code == 200:
                return
            delivery.failed(f"{url}: HTTP {resp.status_code}")
        except httpx.HTTPError as exc:
            delivery.failed(f"{url}: {type(exc).__name__}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no service process took {message} within {timeout}s")
        time.sleep(0.05)  # the balancer's pause before the next process


class Stream:
    """``per_prospect`` messages from each of ``prospects`` numbers, sent in threads."""

    def __init__(
        self,
        stack: FaultStack,
        targets: Callable[[], Sequence[str]],
        *,
        prospects: int = 20,
        per_prospect: int = 3,
        pause: float = 0.4,
    ) -> None:
        self._stack = stack
        self._targets = targets
        self._pause = pause
        self.numbers = PROSPECTS[:prospects]
        self._plan = {
            number: [SMALL_TALK[i % len(SMALL_TALK)] for i in range(per_prospect)]
            for number in self.numbers
        }
        self.sent: list[Sent] = []
        self.delivery = Delivery()
        self._lock = threading.Lock()
        self._errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    def start(self) -> Stream:
        for i, number in enumerate(self.numbers):
            thread = threading.Thread(target=self._prospect, args=(i, number), daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def count(self) -> int:
        with self._lock:
            return len(self.sent)

    def wait_sent(self, count: int, timeout: float = 60.0) -> None:
        """Until at least ``count`` messages were acknowledged (the moment to break something)."""
        deadline = time.monotonic() + timeout
        while self.count() < count:
            if self._errors:
                raise self._errors[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"only {self.count()} of {count} messages acknowledged")
            time.sleep(0.05)

    def join(self, timeout: float = 120.0) -> list[Sent]:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(t.is_alive() for t in self._threads):
            self._stop.set()
            raise AssertionError(f"the stream did not finish in {timeout}s")
        if self._errors:
            raise self._errors[0]
        return list(self.sent)

    def _prospect(self, index: int, number: str) -> None:
        try:
            for n, body in enumerate(self._plan[number]):
                if n == 0:
                    message = Sent(number, self._through_sandbox(number, body), body)
                else:
                    message = Sent(number, new_sid(), body)
                    deliver(self._stack, self._targets, message, self.delivery, first=index + n)
                with self._lock:
                    self.sent.append(message)
                if self._stop.wait(self._pause):
                    return
        except BaseException as exc:  # reported by join()
            self._errors.append(exc)

    def _through_sandbox(self, number: str, body: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        sid: str | None = None
        while True:
            try:
                answer = self._stack.open_window(number, body, sid)
                sid = str(answer["message_sid"])
                if answer["webhook_status"] == 200:
                    return sid
                self.delivery.failed(f"sandbox webhook: {answer['webhook_error']}")
            except httpx.HTTPError as exc:
                self.delivery.failed(f"sandbox: {type(exc).__name__}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the sandbox could not deliver {number}'s first message")
            time.sleep(0.05)
