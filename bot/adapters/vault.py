"""Envelope encryption of the records: one data key per conversation.

Every personal field (message bodies, webhook parameters, profile names, numbers,
media, outbox bodies, consent texts, CRM payloads) is sealed with its
conversation's data key (AES-256-GCM). The data key is stored wrapped by a master
key (AES-256-GCM again, bound to the conversation id), with the master key's id.
Erasing a conversation destroys its wrapped data key: everything sealed with it
becomes unreadable at once, wherever it lies, and nothing else has to change.

A sealed field is bound to its conversation and its field name (the GCM's
associated data), so a sealed value copied to another conversation or column does
not open. (Within one conversation and column, rows are not told apart: the audit
log's digests are what prove a message's content.)

The vault travels with the unit of work: the session factory carries it in
``Session.info`` (see ``make_session_factory``), so code that writes records reaches
it through the session it already holds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
from collections import OrderedDict
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from bot.adapters.keyring import KEY_BYTES, Keyring
from bot.adapters.tables import DataKey, KeyCheck

__all__ = ["ERASED", "Erased", "KeyMismatch", "SealError", "Vault", "vault_of"]

# What an erased field reads as, wherever it is shown.
ERASED = "[erased]"

_PREFIX = "gw1:"
_NONCE = 12
_CACHE_SIZE = 4096


class SealError(RuntimeError):
    """A sealed value does not open: wrong key, or changed since it was sealed."""


class KeyMismatch(RuntimeError):
    """The keys given are not those the database was written with."""


class Erased(SealError):
    """The conversation was erased: nothing more can be sealed for it."""


def vault_of(session: Session) -> Vault:
    vault = session.info.get("vault")
    if not isinstance(vault, Vault):
        raise RuntimeError("this session has no vault: make it with make_session_factory")
    return vault


class Vault:
    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        # Unwrapped data keys by conversation, each with the wrapped form it came from:
        # a rotated or erased key no longer matches the row, so it is read again.
        self._keys: OrderedDict[str, tuple[bytes, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    # -- look-ups --------------------------------------------------------------

    def lookup(self, number: str) -> str:
        """The keyed hash by which a phone number is found (never the number).

        Spaces, dashes, dots and brackets are left out, so an operator's
        "whatsapp:+1 202-555-0101" finds what Twilio's "whatsapp:+12025550101" made.
        """
        normal = re.sub(r"[\s().-]", "", number.lower())
        return hmac.new(self.keyring.lookup, normal.encode(), hashlib.sha256).hexdigest()

    def check_keys(self, session: Session) -> None:
        """Refuse keys other than those the database was written with; the first
        process to use a new database records what its keys look like."""
        for name, key in (("lookup", self.keyring.lookup), ("audit", self.keyring.audit)):
            value = hmac.new(key, b"gangway key check", hashlib.sha256).hexdigest()
            kept = session.get(KeyCheck, name)
            if kept is None:
                with session.begin_nested():
                    session.add(KeyCheck(name=name, value=value))
                continue
            if not hmac.compare_digest(kept.value, value):
                raise KeyMismatch(
                    f"the {name} key given ({self.keyring.source}) is not the one this "
                    "database was written with: give the keys it was made with"
                )

    # -- data keys -------------------------------------------------------------

    def create_key(self, session: Session, conversation_id: str, now: datetime) -> None:
        """Give a new conversation its data key (in the caller's transaction)."""
        key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        session.execute(
            insert(DataKey).values(
                conversation_id=conversation_id,
                key_id=self.keyring.current_id,
                wrapped=self._wrap(conversation_id, key, self.keyring.current_id),
                created_at=now,
            )
        )
        with self._lock:
            self._remember(conversation_id, b"", key)

    def erase_key(self, session: Session, conversation_id: str, now: datetime) -> bool:
        """Destroy the conversation's data key. False when it was already gone."""
        result = session.execute(
            update(DataKey)
            .where(DataKey.conversation_id == conversation_id, DataKey.wrapped.is_not(None))
            .values(wrapped=None, erased_at=now)
        )
        with self._lock:
            self._keys.pop(conversation_id, None)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def rewrap(self, session: Session, conversation_id: str, now: datetime) -> bool:
        """Wrap the conversation's data key under the current master key."""
        row = session.execute(
            select(DataKey.key_id, DataKey.wrapped)
            .where(DataKey.conversation_id == conversation_id)
            .with_for_update()
        ).one_or_none()
        if row is None or row.wrapped is None or row.key_id == self.keyring.current_id:
            return False
        key = self._unwrap(conversation_id, row.wrapped, row.key_id)
        session.execute(
            update(DataKey)
            .where(DataKey.conversation_id == conversation_id)
            .values(
                key_id=self.keyring.current_id,
                wrapped=self._wrap(conversation_id, key, self.keyring.current_id),
                rotated_at=now,
            )
        )
        return True

    def _wrap(self, conversation_id: str, key: bytes, key_id: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        aad = f"data-key|{conversation_id}|{key_id}".encode()
        return nonce + AESGCM(self.keyring.master[key_id]).encrypt(nonce, key, aad)

    def _unwrap(self, conversation_id: str, wrapped: bytes, key_id: str) -> bytes:
        master = self.keyring.master.get(key_id)
        if master is None:
            raise SealError(
                f"the data key of {conversation_id} is wrapped by master key {key_id!r}, "
                f"which is not among the keys given ({self.keyring.source})"
            )
        aad = f"data-key|{conversation_id}|{key_id}".encode()
        try:
            return AESGCM(master).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], aad)
        except InvalidTag as exc:
            raise SealError(f"the data key of {conversation_id} does not unwrap") from exc

    def _remember(self, conversation_id: str, wrapped: bytes, key: bytes) -> None:
        self._keys[conversation_id] = (wrapped, key)
        self._keys.move_to_end(conversation_id)
        while len(self._keys) > _CACHE_SIZE:
            self._keys.popitem(last=False)

    def _key(self, session: Session, conversation_id: str) -> bytes | None:
        """The conversation's data key; None once erased."""
        row = session.execute(
            select(DataKey.key_id, DataKey.wrapped).where(
                DataKey.conversation_id == conversation_id
            )
        ).one_or_none()
        if row is None:
            raise SealError(f"conversation {conversation_id} has no data key")
        if row.wrapped is None:
            return None
        with self._lock:
            cached = self._keys.get(conversation_id)
            if cached is not None and cached[0] in (row.wrapped, b""):
                self._keys[conversation_id] = (row.wrapped, cached[1])
                return cached[1]
        key = self._unwrap(conversation_id, row.wrapped, row.key_id)
        with self._lock:
            self._remember(conversation_id, row.wrapped, key)
        return key

    # -- fields ----------------------------------------------------------------

    def seal_bytes(self, session: Session, conversation_id: str, field: str, data: bytes) -> bytes:
        key = self._key(session, conversation_id)
        if key is None:
            raise Erased(f"conversation {conversation_id} is erased: nothing more is kept")
        nonce = secrets.token_bytes(_NONCE)
        aad = f"{conversation_id}|{field}".encode()
        return nonce + AESGCM(key).encrypt(nonce, data, aad)

    def open_bytes(
        self, session: Session, conversation_id: str, field: str, sealed: bytes
    ) -> bytes | None:
        """The plain bytes; None when the conversation was erased."""
        key = self._key(session, conversation_id)
        if key is None:
            return None
        aad = f"{conversation_id}|{field}".encode()
        try:
            return AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)
        except InvalidTag as exc:
            raise SealError(f"{field} of {conversation_id} does not open") from exc

    def seal(self, session: Session, conversation_id: str, field: str, text: str) -> str:
        sealed = self.seal_bytes(session, conversation_id, field, text.encode("utf-8"))
        return _PREFIX + base64.b64encode(sealed).decode("ascii")

    def open(self, session: Session, conversation_id: str, field: str, sealed: str) -> str | None:
        """The plain text; None when the conversation was erased."""
        if sealed == ERASED:
            return None
        if not sealed.startswith(_PREFIX):
            raise SealError(f"{field} of {conversation_id} is not sealed")
        data = self.open_bytes(
            session, conversation_id, field, base64.b64decode(sealed[len(_PREFIX) :])
        )
        return None if data is None else data.decode("utf-8")

    def seal_unless_erased(
        self, session: Session, conversation_id: str, field: str, text: str
    ) -> str:
        """Sealed, or ERASED when the conversation was erased meanwhile (what arrives
        for it after its erasure is not kept either)."""
        try:
            return self.seal(session, conversation_id, field, text)
        except Erased:
            return ERASED

    def read(self, session: Session, conversation_id: str, field: str, sealed: str | None) -> str:
        """The text to show: empty for nothing stored, ERASED once erased."""
        if not sealed:
            return ""
        text = self.open(session, conversation_id, field, sealed)
        return ERASED if text is None else text
