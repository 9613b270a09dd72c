"""`gangway keys rotate`: move every data key onto the current master key.

It works in small batches, each its own short transaction, so the service goes on
answering prospects meanwhile; a batch locks only the data keys it re-wraps. Run it
again at any time: what is on the current key already is left alone. Once it
reports nothing left on an old key, that key can be retired.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select

from bot.adapters import audit_log
from bot.adapters.db import SessionFactory
from bot.adapters.tables import DataKey
from bot.adapters.vault import vault_of

__all__ = ["keys_in_use", "rotate_keys"]


def keys_in_use(sessions: SessionFactory) -> dict[str, int]:
    """How many live data keys each master key wraps."""
    with sessions() as s:
        rows = s.execute(
            select(DataKey.key_id, func.count())
            .where(DataKey.wrapped.is_not(None))
            .group_by(DataKey.key_id)
        ).all()
    return {str(key_id): int(count) for key_id, count in rows}


def rotate_keys(
    sessions: SessionFactory,
    now: Callable[[], datetime],
    *,
    batch: int = 200,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Re-wrap every data key not under the current master key; how many were."""
    done = 0
    while True:
        with sessions.begin() as s:
            vault = vault_of(s)
            current = vault.keyring.current_id
            ids = list(
                s.execute(
                    select(DataKey.conversation_id)
                    .where(DataKey.wrapped.is_not(None), DataKey.key_id != current)
                    .order_by(DataKey.conversation_id)
                    .limit(batch)
                ).scalars()
            )
            moved = sum(vault.rewrap(s, conv_id, now()) for conv_id in ids)
        done += moved
        if progress is not None and ids:
            progress(done)
        if len(ids) < batch or not moved:
            break
    with sessions.begin() as s:
        audit_log.append(
            s,
            kind="data_keys_rotated",
            conversation_id=None,
            payload={"rewrapped": done, "master_key_id": vault_of(s).keyring.current_id},
            now=now(),
        )
    return done
