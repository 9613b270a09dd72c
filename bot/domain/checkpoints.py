"""Checkpoints of the audit chain kept outside the database.

The keyed chain stops anyone without the audit key from rewriting records, but not
an owner of the database from putting back an older copy of its tail (from a
backup), or emptying it: every state it once had verified. So at intervals the
service writes the chain's head, with a MAC under the audit key, to a file on other
storage (append-only storage where there is some). Verifying then also asks that
every checkpoint still be in the chain: records cut off after a checkpoint, or the
whole log, are found.

A line is ``seq hash written_at mac``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Checkpoint", "CheckpointProblem", "check_against", "checkpoint_line", "parse_line"]


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    written_at: str
    mac: str


@dataclass(frozen=True)
class CheckpointProblem:
    line: int
    reason: str


def _mac(key: bytes, seq: int, digest: str, written_at: str) -> str:
    text = f"checkpoint|{seq}|{digest}|{written_at}".encode()
    return hmac.new(key, text, hashlib.sha256).hexdigest()


def checkpoint_line(key: bytes, seq: int, digest: str, written_at: str) -> str:
    return f"{seq} {digest} {written_at} {_mac(key, seq, digest, written_at)}"


def parse_line(text: str) -> Checkpoint | None:
    parts = text.split()
    if len(parts) != 4 or not parts[0].isdigit():
        return None
    return Checkpoint(int(parts[0]), parts[1], parts[2], parts[3])


def check_against(
    key: bytes, lines: Iterable[str], hash_at: dict[int, str], head_seq: int
) -> CheckpointProblem | None:
    """The first checkpoint the chain no longer holds. ``hash_at`` maps the sequence
    numbers of the checkpoints to the hash the chain has there now."""
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        point = parse_line(text)
        if point is None:
            return CheckpointProblem(number, "is not a checkpoint (seq hash time mac)")
        expected = _mac(key, point.seq, point.hash, point.written_at)
        if not hmac.compare_digest(expected, point.mac):
            return CheckpointProblem(number, "was not written with the audit key")
        if point.seq > head_seq:
            return CheckpointProblem(
                number,
                f"names record {point.seq} of {point.written_at}, but the chain now ends at "
                f"{head_seq}: records were cut off",
            )
        if hash_at.get(point.seq) != point.hash:
            return CheckpointProblem(
                number, f"record {point.seq} is no longer the one checkpointed {point.written_at}"
            )
    return None
