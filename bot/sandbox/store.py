"""In-memory state of the sandbox: the messages "Twilio" holds, and injected faults.

Everything is guarded by one lock per object; readers always get copies, so a
background status-callback thread never changes a record under a caller's feet.
Every change bumps a revision counter, which lets the chat page ask only for
what changed since it last looked (new messages and status updates alike).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "CreationFault",
    "DeliveryFault",
    "FaultQueue",
    "MessageStore",
    "StoredMessage",
    "new_message_sid",
]


def new_message_sid() -> str:
    """A Twilio-shaped message SID: "SM" and 32 lowercase hex digits."""
    return "SM" + secrets.token_hex(16)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class StoredMessage:
    """One message as the sandbox's "Twilio" sees it (inbound or outbound)."""

    id: int
    rev: int
    sid: str
    account_sid: str
    direction: str  # "inbound", "outbound-api" or "outbound-reply"
    from_: str
    to: str
    body: str
    status: str
    created_at: datetime
    updated_at: datetime
    # Twilio's date_sent: None while an outbound message is queued (see `delivery`).
    sent_at: datetime | None = None
    error_code: int | None = None
    error_message: str | None = None
    media_urls: tuple[str, ...] = ()
    content_sid: str | None = None
    content_variables: str | None = None
    status_callback: str | None = None
    profile_name: str | None = None
    # Inbound only: what gangway's webhook answered (None while pending or unreachable).
    webhook_status: int | None = None
    webhook_error: str | None = None
    webhook_attempts: int = 0
    # Outbound only: each status callback attempted, in order.
    callbacks: tuple[dict[str, Any], ...] = ()
    # Outbound quick replies: (title, id) of each button, and the id the prospect tapped.
    buttons: tuple[tuple[str, str], ...] = ()
    button_tapped: str | None = None
    # Inbound only: what the prospect sent besides text (Twilio's webhook fields).
    media_content_types: tuple[str, ...] = ()
    location: tuple[tuple[str, str], ...] = ()  # ("Latitude", "48.8584"), ("Label", ...)
    button_text: str | None = None
    button_payload: str | None = None
    replied_to: str | None = None  # the sid of the outbound message whose button was tapped

    @property
    def is_inbound(self) -> bool:
        return self.direction == "inbound"


class MessageStore:
    """Thread-safe message store; ids and revisions are increasing integers."""

    def __init__(self, clock: Callable[[], datetime] = _utcnow) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._messages: dict[str, StoredMessage] = {}
        self._next_id = 1
        self._rev = 0

    @property
    def rev(self) -> int:
        with self._lock:
            return self._rev

    def now(self) -> datetime:
        return self._clock()

    def add(self, *, sid: str | None = None, **fields: Any) -> StoredMessage:
        """Record a new message; `fields` are StoredMessage fields except the bookkeeping."""
        now = self._clock()
        with self._lock:
            self._rev += 1
            message = StoredMessage(
                id=self._next_id,
                rev=self._rev,
                sid=sid or new_message_sid(),
                created_at=now,
                updated_at=now,
                **fields,
            )
            if message.sid in self._messages:
                raise ValueError(f"duplicate message sid {message.sid}")
            self._next_id += 1
            self._messages[message.sid] = message
            return message

    def get(self, sid: str) -> StoredMessage | None:
        with self._lock:
            return self._messages.get(sid)

    def update(self, sid: str, **changes: Any) -> StoredMessage | None:
        """Change fields of one message; returns the new version, None if unknown."""
        now = self._clock()
        with self._lock:
            current = self._messages.get(sid)
            if current is None:
                return None
            self._rev += 1
            updated = replace(current, rev=self._rev, updated_at=now, **changes)
            self._messages[sid] = updated
            return updated

    def append_callback(self, sid: str, attempt: dict[str, Any]) -> None:
        with self._lock:
            current = self._messages.get(sid)
            if current is not None:
                self._rev += 1
                self._messages[sid] = replace(
                    current, rev=self._rev, callbacks=(*current.callbacks, attempt)
                )

    def last_inbound_at(self, number: str) -> datetime | None:
        """When ``number`` last wrote to the business; None if it never did (WhatsApp's
        24-hour window counts from this)."""
        with self._lock:
            times = [
                m.created_at for m in self._messages.values() if m.is_inbound and m.from_ == number
            ]
        return max(times, default=None)

    def all(self) -> list[StoredMessage]:
        """Every message, oldest first."""
        return self.snapshot()[1]

    def snapshot(self) -> tuple[int, list[StoredMessage]]:
        """The current revision and every message, oldest first, read together."""
        with self._lock:
            return self._rev, sorted(self._messages.values(), key=lambda m: m.id)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self._rev += 1


@dataclass
class CreationFault:
    """The next `count` message creations answer `status` with Twilio error `code`."""

    status: int
    code: int
    message: str
    count: int
    # True: the message is still accepted and delivered; only the answer is the error
    # (as when the response is lost after Twilio took the message).
    record: bool = False
    # Seconds sent as Retry-After (Twilio sends one with some 429s); None: no header.
    retry_after: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "creation",
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "count": self.count,
            "record": self.record,
            "retry_after": self.retry_after,
        }


@dataclass
class DeliveryFault:
    """The next `count` created messages end in `delivery` with ErrorCode `code`."""

    delivery: str  # "failed" or "undelivered"
    code: int
    count: int
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "delivery",
            "delivery": self.delivery,
            "code": self.code,
            "count": self.count,
            "message": self.message,
        }


@dataclass
class FaultQueue:
    """Injected faults, consumed first-in first-out."""

    _creation: list[CreationFault] = field(default_factory=list)
    _delivery: list[DeliveryFault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fault: CreationFault | DeliveryFault) -> None:
        with self._lock:
            if isinstance(fault, CreationFault):
                self._creation.append(fault)
            else:
                self._delivery.append(fault)

    def take_creation(self) -> CreationFault | None:
        with self._lock:
            return self._take(self._creation)

    def take_delivery(self) -> DeliveryFault | None:
        with self._lock:
            return self._take(self._delivery)

    @staticmethod
    def _take(queue: list[Any]) -> Any:
        if not queue:
            return None
        fault = queue[0]
        fault.count -= 1
        if fault.count <= 0:
            queue.pop(0)
        return replace(fault, count=1)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_dict() for f in self._creation] + [f.as_dict() for f in self._delivery]

    def clear(self) -> None:
        with self._lock:
            self._creation.clear()
            self._delivery.clear()
