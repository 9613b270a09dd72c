"""The background worker of one service process: finds conversations with work
due and hands each to a thread of a small pool, which takes a turn of it — one
conversation at a time per thread, different conversations in parallel.

The turn itself claims the conversation's lease (see
bot.service_layer.processing): the list of due conversations is only a hint, which
two processes may both act on; the conditional claim lets one of them in.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from bot.adapters import leases
from bot.adapters.db import SessionFactory
from bot.service_layer.log_context import unit_of_work
from bot.service_layer.ports import Clock
from bot.service_layer.processing import ConversationProcessor

__all__ = ["Worker"]

log = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        sessions: SessionFactory,
        processor: ConversationProcessor,
        clock: Clock,
        *,
        concurrency: int = 8,
        holding_after: timedelta = timedelta(seconds=20),
        poll_interval: float = 0.25,
    ) -> None:
        self._sessions = sessions
        self._processor = processor
        self._clock = clock
        self._concurrency = max(1, concurrency)
        self._holding_after = holding_after
        self._poll = poll_interval
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._active: set[str] = set()
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._sessions.begin() as s:
            released = leases.release_all(s, self._processor.owner)
        if released:
            log.info("took back %d conversation(s) this instance held before a restart", released)
        self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="gangway-conv")
        self._thread = threading.Thread(target=self._loop, name="gangway-dispatch", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Look for work now (called when a message arrives)."""
        self._wake.set()

    def stop(self, timeout: float = 15.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            with unit_of_work("dispatch"):
                try:
                    self._dispatch()
                except Exception:  # the loop must survive a database hiccup
                    log.exception("dispatch failed; trying again")
            self._wake.wait(self._poll)
            self._wake.clear()

    def _dispatch(self) -> None:
        with self._lock:
            free = self._concurrency - len(self._active)
        if free <= 0:
            return
        now = self._clock.now()
        with self._sessions.begin() as s:
            due = leases.due_conversations(s, now, self._holding_after, limit=free * 4)
        for conversation_id in due:
            with self._lock:
                if conversation_id in self._active or len(self._active) >= self._concurrency:
                    continue
                self._active.add(conversation_id)
            assert self._pool is not None
            self._pool.submit(self._work, conversation_id)

    def _work(self, conversation_id: str) -> None:
        try:
            # Each turn's lines share an id of their own, and its conversation's.
            with unit_of_work("turn", conversation_id):
                try:
                    # One answer per turn, then the longest-waiting conversation goes next.
                    self._processor.run(conversation_id, max_answers=1)
                except Exception:
                    log.exception("conversation %s: processing failed; will retry", conversation_id)
        finally:
            with self._lock:
                self._active.discard(conversation_id)
            self._wake.set()
