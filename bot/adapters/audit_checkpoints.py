"""Writing and checking the audit chain's checkpoints in a file outside the database
(bot.domain.checkpoints says why)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.adapters.audit_log import chain_all
from bot.adapters.db import SessionFactory
from bot.adapters.tables import AuditHead, AuditLog
from bot.adapters.vault import vault_of
from bot.domain.checkpoints import CheckpointProblem, check_against, checkpoint_line, parse_line
from bot.service_layer.ports import Clock

__all__ = ["CheckpointWriter", "check_checkpoints", "write_checkpoint"]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def write_checkpoint(session: Session, path: Path, now: datetime) -> int | None:
    """Append the chain's head to ``path`` unless it is there already; its seq, or None."""
    seq, digest = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)
    ).one()
    if seq == 0:
        return None
    kept = [p for p in map(parse_line, _lines(path)) if p is not None]
    if kept and kept[-1].seq == seq:
        return None
    line = checkpoint_line(vault_of(session).keyring.audit, seq, digest, now.isoformat())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return int(seq)


def check_checkpoints(session: Session, path: Path) -> CheckpointProblem | None:
    """The first checkpoint in ``path`` the chain no longer holds (None: all held, or
    no file)."""
    lines = _lines(path)
    points = [p for p in map(parse_line, lines) if p is not None]
    seqs = sorted({p.seq for p in points})
    hash_at: dict[int, str] = {}
    for start in range(0, len(seqs), 500):
        chunk = seqs[start : start + 500]
        for seq, digest in session.execute(
            select(AuditLog.seq, AuditLog.hash).where(AuditLog.seq.in_(chunk))
        ):
            hash_at[int(seq)] = str(digest)
    # The chain's last record, not its head row: the row is what a rollback rewrites.
    last = session.execute(select(func.max(AuditLog.seq))).scalar_one_or_none() or 0
    return check_against(vault_of(session).keyring.audit, lines, hash_at, int(last))


class CheckpointWriter:
    """The service's job: a checkpoint whenever the chain moved since the last one.

    It chains what is waiting first, in its own transaction, so that a checkpoint
    covers every record committed before it rather than lagging one beat behind. The
    checks (``check_checkpoints``) only read: waiting records are in no checkpoint yet.
    """

    def __init__(self, sessions: SessionFactory, clock: Clock, path: Path) -> None:
        self._sessions = sessions
        self._clock = clock
        self._path = path

    def fire_due(self) -> int:
        chain_all(self._sessions, self._clock.now)
        with self._sessions() as s:
            return int(write_checkpoint(s, self._path, self._clock.now()) is not None)
