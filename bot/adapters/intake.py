"""The webhook intake's storage: sealing a delivery, the group-committing writer, and
the queries by which the ingest drain takes rows and lets them go.

**The intake key.** A delivery is sealed before its sender is tied to a conversation,
so no conversation's data key can seal it. It is sealed instead with a key derived
(HKDF-SHA256) from the current master key, the one that wraps new data keys; the
sealed value names that master key, so rows written before a key rotation still open
while their master key is among those given. The derived key is never stored.

**Group commit.** Every webhook request hands its delivery to one writer thread and
waits for it; the thread inserts whatever has queued up meanwhile in one transaction,
so concurrent requests share one commit (one fsync) instead of queueing for one each.
A request is answered only once its row is committed; when the insert fails, every
request of that batch fails with it and Twilio delivers again.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bot.adapters.intake_tables import WebhookIntake
from bot.adapters.keyring import KEY_BYTES, Keyring
from bot.adapters.vault import SealError, Vault

__all__ = [
    "Delivery",
    "IntakeClosed",
    "IntakeSeal",
    "IntakeWriter",
    "Kind",
    "claim",
    "forget",
    "set_aside",
]

log = logging.getLogger(__name__)

Kind = Literal["inbound", "status"]

_PREFIX = "gi1:"
_NONCE = 12
_HKDF_INFO = b"gangway webhook intake"


class IntakeClosed(RuntimeError):
    """The writer is not running (the service is starting or stopping)."""


@dataclass(frozen=True)
class Delivery:
    """One webhook as it arrived: its kind, its form and, for an inbound message, its
    MessageSid (the key redeliveries are known by) and its sender."""

    kind: Kind
    params: Mapping[str, str]
    dedup_key: str | None = None
    sender: str | None = None


class IntakeSeal:
    """Seals and opens deliveries with the intake key of each master key."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._keys: dict[str, bytes] = {}

    def _key(self, key_id: str) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            master = self._keyring.master.get(key_id)
            if master is None:
                raise SealError(f"intake sealed by master key {key_id!r}, which is not given")
            hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=_HKDF_INFO)
            key = self._keys[key_id] = hkdf.derive(master)
        return key

    def seal(self, kind: Kind, params: Mapping[str, str]) -> str:
        key_id = self._keyring.current_id
        nonce = secrets.token_bytes(_NONCE)
        data = json.dumps(dict(params), sort_keys=True).encode("utf-8")
        sealed = nonce + AESGCM(self._key(key_id)).encrypt(nonce, data, f"intake|{kind}".encode())
        return f"{_PREFIX}{key_id}:{base64.b64encode(sealed).decode('ascii')}"

    def open(self, kind: str, sealed: str) -> dict[str, str]:
        """The webhook's parameters; SealError when they do not open or are malformed."""
        key_id, sep, text = sealed.removeprefix(_PREFIX).partition(":")
        if not sealed.startswith(_PREFIX) or not sep:
            raise SealError("an intake row is not sealed")
        try:
            raw = base64.b64decode(text, validate=True)
            data = AESGCM(self._key(key_id)).decrypt(
                raw[:_NONCE], raw[_NONCE:], f"intake|{kind}".encode()
            )
            params = json.loads(data)
        except (InvalidTag, ValueError) as exc:
            raise SealError("an intake row does not open") from exc
        if not isinstance(params, dict):
            raise SealError("an intake row holds no form")
        return {str(k): str(v) for k, v in params.items()}


class IntakeWriter:
    """Inserts deliveries in batches from one thread; see the module's docstring."""

    def __init__(
        self,
        engine: Engine,
        vault: Vault,
        now: Callable[[], datetime],
        *,
        committed: Callable[[], None] = lambda: None,
        max_batch: int = 256,
    ) -> None:
        self._engine = engine
        self._vault = vault
        self._seal = IntakeSeal(vault.keyring)
        self._now = now
        self._committed = committed
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Delivery, Future[None]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._open = False
        self._lock = threading.Lock()
        # A redelivery while the first delivery is still here adds no row.
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._insert: Any = dialect.insert(WebhookIntake).on_conflict_do_nothing(
            index_elements=["dedup_key"]
        )

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._open = True
            self._thread = threading.Thread(target=self._run, name="gangway-intake", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop; later deliveries fail with IntakeClosed."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._open = False
            self._queue.put(None)
        if thread is not None:
            thread.join(timeout)

    def submit(self, delivery: Delivery) -> Future[None]:
        """A future done once `delivery` is committed, or failed with why it was not."""
        done: Future[None] = Future()
        with self._lock:
            if not self._open:
                raise IntakeClosed("the webhook intake is not running")
            self._queue.put((delivery, done))
        return done

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stopping = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            self._write(batch)
            if stopping:
                return

    def _write(self, batch: Sequence[tuple[Delivery, Future[None]]]) -> None:
        try:
            now = self._now()
            rows = [self._row(delivery, now) for delivery, _ in batch]
            with self._engine.begin() as conn:
                conn.execute(self._insert, rows)
        except Exception as exc:  # every request of the batch answers 500; Twilio retries
            log.exception("could not store %d webhook(s)", len(batch))
            for _, done in batch:
                done.set_exception(exc)
            return
        for _, done in batch:
            done.set_result(None)
        self._committed()

    def _row(self, delivery: Delivery, now: datetime) -> dict[str, object]:
        return {
            "kind": delivery.kind,
            "dedup_key": delivery.dedup_key,
            "lane": self._vault.lookup(delivery.sender) if delivery.sender else None,
            "sealed": self._seal.seal(delivery.kind, delivery.params),
            "received_at": now,
        }


def claim(session: Session, limit: int) -> list[WebhookIntake]:
    """The oldest rows waiting, locked for this transaction (on PostgreSQL, rows another
    process holds are passed over), leaving out any row whose lane has an older row
    held elsewhere: one sender's messages are ingested in the order they arrived."""
    rows = list(
        session.execute(
            select(WebhookIntake)
            .where(WebhookIntake.failed_at.is_(None))
            .order_by(WebhookIntake.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    taken = [row.id for row in rows]
    lanes = {row.lane for row in rows if row.lane is not None}
    if not lanes:
        return rows
    held_elsewhere = {
        lane: first
        for lane, first in session.execute(
            select(WebhookIntake.lane, func.min(WebhookIntake.id))
            .where(
                WebhookIntake.lane.in_(lanes),
                WebhookIntake.failed_at.is_(None),
                WebhookIntake.id.not_in(taken),
            )
            .group_by(WebhookIntake.lane)
        )
    }
    return [
        row
        for row in rows
        if row.lane is None or row.lane not in held_elsewhere or row.id < held_elsewhere[row.lane]
    ]


def forget(session: Session, ids: Sequence[int]) -> None:
    """Delete ingested rows."""
    if ids:
        session.execute(delete(WebhookIntake).where(WebhookIntake.id.in_(ids)))


def set_aside(session: Session, row_id: int, failure: str, now: datetime) -> None:
    """Keep a row that cannot be ingested out of every later batch."""
    session.execute(
        update(WebhookIntake)
        .where(WebhookIntake.id == row_id)
        .values(failed_at=now, failure=failure[:200])
    )
