"""Chains the audit records appended in this process's transactions (and any other's)
in the background: soon after a transaction that appended one commits, and at least
every ``interval`` seconds whatever happens.

Several processes may each run one: ``chain_pending`` holds the chain's head while it
chains a batch, so they take turns, and a batch one of them chained is gone for the
others. A record waits at most about one interval while the service runs; one
appended while none runs (a command) waits for the next service start.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import event
from sqlalchemy.orm import Session

from bot.adapters.audit_log import APPENDED, chain_all
from bot.adapters.db import SessionFactory
from bot.service_layer.log_context import unit_of_work
from bot.service_layer.ports import Clock

__all__ = ["AuditChainer"]

log = logging.getLogger(__name__)


class AuditChainer:
    def __init__(
        self,
        sessions: SessionFactory,
        clock: Clock,
        *,
        interval_seconds: float = 0.2,
        batch: int = 500,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._interval = interval_seconds
        self._batch = batch
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        event.listen(self._sessions, "after_commit", self._committed)
        self._thread = threading.Thread(target=self._run, name="audit-chainer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, then chain what is still waiting: what the process's last
        transactions appended is in the chain when it exits."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        event.remove(self._sessions, "after_commit", self._committed)
        self._stopping.set()
        self._wake.set()
        thread.join()
        try:
            self.chain_all()
        except Exception:  # a database gone at shutdown: the next process chains them
            log.exception("chaining the last audit records at shutdown failed")

    def wake(self) -> None:
        self._wake.set()

    def chain_all(self) -> int:
        """Chain everything waiting now; how many records that was."""
        return chain_all(self._sessions, self._clock.now, self._batch)

    def _committed(self, session: Session) -> None:
        if session.info.pop(APPENDED, False):
            self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            with unit_of_work("audit"):
                try:
                    self.chain_all()
                except Exception:  # the thread must outlive a database hiccup
                    log.exception("chaining audit records failed; trying again shortly")
