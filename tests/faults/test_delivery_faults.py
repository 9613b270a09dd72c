"""Webhooks as Twilio really delivers them: some twice or three times (at once, to
different service processes), status callbacks in any order, and many messages of
one conversation at the same moment."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from bot.adapters.tables import OutboxMessage
from tests.e2e.processes import wait_until
from tests.faults.checks import assert_answered_once_in_order
from tests.faults.conftest import Rasa
from tests.faults.load import PROSPECTS, Delivery, Sent, Stream, deliver
from tests.faults.stack import FaultStack, new_sid

# Every status Twilio may report for a delivered message, the last one included.
STATUSES = ("queued", "sent", "delivered", "read")

pytestmark = pytest.mark.faults


class DuplicatingStream(Stream):
    """A stream whose webhooks are delivered two or three times each, the copies at
    the same moment to different processes."""

    def __init__(self, stack: FaultStack, urls: Sequence[str]) -> None:
        super().__init__(stack, lambda: urls, prospects=16, per_prospect=3)
        self._urls = urls
        self._random = random.Random(7)

    def _prospect(self, index: int, number: str) -> None:
        try:
            first = Sent(number, self._through_sandbox(number, "hi"), "hi")
            with self._lock:
                self.sent.append(first)
            for n, body in enumerate(["what are your opening hours", "are you a bot?"]):
                message = Sent(number, new_sid(), body)
                copies = self._random.choice([2, 3])
                threads = [
                    threading.Thread(
                        target=deliver,
                        args=(self._stack, lambda: self._urls, message, self.delivery, i),
                    )
                    for i in range(copies)
                ]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                # A late redelivery, after the message was acknowledged.
                deliver(self._stack, lambda: self._urls, message, self.delivery, index + n)
                with self._lock:
                    self.sent.append(message)
                if self._stop.wait(self._pause):
                    return
        except BaseException as exc:
            self._errors.append(exc)


class ShuffledCallbacks:
    """For each message gangway sends, the statuses a delivery goes through, posted
    in a shuffled order (some at once) while the stream runs."""

    def __init__(self, stack: FaultStack, urls: Sequence[str], numbers: set[str]) -> None:
        self._stack = stack
        self._urls = urls
        self._numbers = numbers
        self._seen: set[str] = set()
        self._random = random.Random(11)
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(8)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.posted = 0
        self.delivery = Delivery()

    def __enter__(self) -> ShuffledCallbacks:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)
        self._round()  # the messages sent since the last look
        self._pool.shutdown(wait=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._round()

    def _round(self) -> None:
        for m in self._stack.sent():
            if m["sid"] in self._seen or m["to"] not in self._numbers:
                continue
            self._seen.add(m["sid"])
            statuses = [*STATUSES, "delivered"]  # one twice
            self._random.shuffle(statuses)
            for i, status in enumerate(statuses):
                self._pool.submit(self._post, self._urls[i % len(self._urls)], m, status)

    def _post(self, url: str, message: dict[str, str], status: str) -> None:
        resp = self._stack.status(url, message["sid"], message["to"], status)
        if resp.status_code != 200:
            self.delivery.failed(f"status {status}: HTTP {resp.status_code}")
        self.posted += 1


def test_duplicate_and_out_of_order_deliveries(stack: FaultStack, rasa: Rasa) -> None:
    """MessageSids delivered two or three times (at once, to two processes) are
    answered once; status callbacks in any order leave each reply at "read"."""
    urls = [stack.start_service("b", rasa.service_port), stack.start_service("a")]
    stream = DuplicatingStream(stack, urls)
    with ShuffledCallbacks(stack, urls, set(stream.numbers)) as callbacks:
        stream.start()
        sent = stream.join()
        outcome = assert_answered_once_in_order(stack, sent)

    def statuses() -> Counter[str]:
        with stack.sessions().begin() as s:
            return Counter(s.execute(select(OutboxMessage.status)).scalars())

    assert callbacks.delivery.failures == []
    # The callbacks are acknowledged before they are ingested: wait for the last ones.
    # A callback recorded while its message's provider id is being stored must still
    # count, so every reply ends at "read" whatever order its callbacks came in.
    try:
        wait_until(lambda: set(statuses()) == {"read"}, 30, "every reply to reach read")
    finally:
        print(f"{outcome}; {callbacks.posted} callbacks posted; final {dict(statuses())}")


def test_fifty_messages_at_once_in_one_conversation(stack: FaultStack, rasa: Rasa) -> None:
    """Fifty messages of one prospect, sent at the same moment to two processes, are
    each answered once, the replies in the order the messages were recorded."""
    urls = [stack.start_service("b", rasa.service_port), stack.start_service("a")]
    number = PROSPECTS[0]
    first = Sent(number, str(stack.open_window(number, "hi")["message_sid"]), "hi")
    bodies = ["what are your opening hours", "are you a bot?", "thanks"]
    burst = [Sent(number, new_sid(), bodies[i % len(bodies)]) for i in range(50)]
    delivery = Delivery()
    start = threading.Barrier(len(burst))

    def send(i: int) -> None:
        start.wait()
        deliver(stack, lambda: urls, burst[i], delivery, first=i)

    with ThreadPoolExecutor(len(burst)) as pool:
        list(pool.map(send, range(len(burst))))

    outcome = assert_answered_once_in_order(stack, [first, *burst], timeout=180)
    print(f"{outcome}; failed deliveries: {delivery.failures}")
    assert delivery.failures == []
