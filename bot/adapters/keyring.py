"""The keys that protect the records, all kept outside the database.

- Master keys wrap each conversation's data key. Each has an id, so a wrapped key
  says which master key unwraps it; the first one listed wraps new data keys, the
  others are kept for unwrapping until `gangway keys rotate` has moved every data
  key off them.
- The lookup key makes the keyed hash by which a phone number is found, so the
  database never holds the number itself in a form anyone can search.
- The audit key keys the audit chain's hashes, so a rewritten chain cannot be
  recomputed by whoever holds only the database.

They come from the environment (GANGWAY_MASTER_KEYS, GANGWAY_LOOKUP_KEY,
GANGWAY_AUDIT_KEY), from a key file (GANGWAY_KEY_FILE), or, when neither is set, from
a file made once in the state directory, readable by its owner only. A key file has
one key per line: ``master ID BASE64``, ``lookup BASE64``, ``audit BASE64``; the first
master line is the current key.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = [
    "KEY_BYTES",
    "Keyring",
    "KeyringError",
    "default_key_file",
    "encode_key",
    "keyring_from",
    "new_master_key",
    "parse_master_keys",
]

KEY_BYTES = 32
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,40}$")


class KeyringError(ValueError):
    """A key is missing, malformed or of the wrong length."""


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def _decode(text: str, what: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyringError(f"{what} is not base64") from exc
    if len(key) != KEY_BYTES:
        raise KeyringError(f"{what} must be {KEY_BYTES} bytes (base64 of `openssl rand 32`)")
    return key


@dataclass(frozen=True)
class Keyring:
    master: dict[str, bytes]  # key id -> 32 bytes, in the order given
    current_id: str
    lookup: bytes
    audit: bytes
    source: str  # where the keys came from, for messages (never the keys)

    @property
    def current(self) -> bytes:
        return self.master[self.current_id]


def parse_master_keys(text: str) -> dict[str, bytes]:
    """``ID:BASE64,ID:BASE64`` (the first is current) as an ordered mapping."""
    keys: dict[str, bytes] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key_id, sep, value = part.partition(":")
        key_id = key_id.strip()
        if not sep or not _KEY_ID.match(key_id):
            raise KeyringError(
                "GANGWAY_MASTER_KEYS must be ID:BASE64 pairs separated by commas "
                "(ids of letters, digits, '.', '_' or '-')"
            )
        if key_id in keys:
            raise KeyringError(f"master key id {key_id!r} is listed twice")
        keys[key_id] = _decode(value, f"master key {key_id!r}")
    if not keys:
        raise KeyringError("no master key given")
    return keys


def _read_file(path: Path) -> tuple[dict[str, bytes], bytes | None, bytes | None]:
    master: dict[str, bytes] = {}
    lookup = audit = None
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        where = f"{path.name} line {number}"
        if words[0] == "master" and len(words) == 3 and _KEY_ID.match(words[1]):
            if words[1] in master:
                raise KeyringError(f"{where}: master key id {words[1]!r} is listed twice")
            master[words[1]] = _decode(words[2], where)
        elif words[0] == "lookup" and len(words) == 2:
            lookup = _decode(words[1], where)
        elif words[0] == "audit" and len(words) == 2:
            audit = _decode(words[1], where)
        else:
            raise KeyringError(
                f"{where}: expected 'master ID BASE64', 'lookup BASE64' or 'audit BASE64'"
            )
    return master, lookup, audit


def new_master_key(now: datetime) -> tuple[str, bytes]:
    """A fresh master key and an id that sorts by when it was made."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    return f"k{stamp}-{secrets.token_hex(2)}", secrets.token_bytes(KEY_BYTES)


def default_key_file(state_dir: Path, now: datetime) -> Path:
    """The state directory's key file, made once (owner-only) when missing."""
    path = state_dir / "keys"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key_id, key = new_master_key(now)
        lines = [
            "# gangway's keys: without them the records cannot be read. Back this file up",
            "# apart from the database; see README 'Keys'.",
            f"master {key_id} {encode_key(key)}",
            f"lookup {encode_key(secrets.token_bytes(KEY_BYTES))}",
            f"audit {encode_key(secrets.token_bytes(KEY_BYTES))}",
        ]
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path  # another process made it first
        with os.fdopen(fd, "w") as out:
            out.write("\n".join(lines) + "\n")
    return path


def keyring_from(
    *,
    master_keys: str | None,
    lookup_key: str | None,
    audit_key: str | None,
    key_file: Path | None,
) -> Keyring:
    """The keyring from the environment's values over a key file's.

    Raises KeyringError with a plain message when a key is missing or malformed.
    """
    master: dict[str, bytes] = {}
    lookup = audit = None
    sources = []
    if key_file is not None:
        try:
            master, lookup, audit = _read_file(key_file)
        except OSError as exc:
            raise KeyringError(f"cannot read the key file {key_file}: {exc.strerror}") from exc
        sources.append(str(key_file))
    if master_keys:
        master = parse_master_keys(master_keys)
        sources.append("GANGWAY_MASTER_KEYS")
    if lookup_key:
        lookup = _decode(lookup_key, "GANGWAY_LOOKUP_KEY")
    if audit_key:
        audit = _decode(audit_key, "GANGWAY_AUDIT_KEY")
    if not master:
        raise KeyringError("no master key: set GANGWAY_MASTER_KEYS or GANGWAY_KEY_FILE")
    if lookup is None:
        raise KeyringError("no lookup key: set GANGWAY_LOOKUP_KEY or add it to the key file")
    if audit is None:
        raise KeyringError("no audit key: set GANGWAY_AUDIT_KEY or add it to the key file")
    return Keyring(master, next(iter(master)), lookup, audit, " and ".join(sources))
