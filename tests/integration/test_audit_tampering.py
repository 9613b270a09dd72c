"""`gangway audit verify` against someone who owns the database: with the guards
dropped, every kind of change is still found, a chain recomputed without the audit
key included."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from bot.adapters.audit_checkpoints import CheckpointWriter
from bot.adapters.db import SessionFactory
from bot.adapters.vault import Vault
from bot.domain.audit import canonical_json, head_mac, record_hash
from bot.domain.inbound import parse_inbound
from bot.entrypoints.cli import app
from bot.service_layer.receiving import record_inbound
from tests.audit_helpers import chained
from tests.fakes.clock import FakeClock
from tests.fakes.keys import fake_keyring, keys_env


def fill(sessions: SessionFactory, clock: FakeClock, n: int, first: int = 0) -> None:
    for i in range(first, first + n):
        with sessions.begin() as s:
            params = {"MessageSid": f"SM{i:032d}", "From": "whatsapp:+12025550101", "Body": f"m{i}"}
            record_inbound(s, parse_inbound(params), clock.now())
        clock.advance(1)
    chained(sessions)


def verify(database_url: str, vault: Vault) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["audit", "verify"], env={"DATABASE_URL": database_url, **keys_env(vault.keyring)}
    )
    return result.exit_code, result.output


def unguard(engine: Engine) -> None:
    """What an owner of the database can do: take the guards away."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER ALL"))
            conn.execute(text("ALTER TABLE audit_contents DISABLE TRIGGER ALL"))
        else:
            names = conn.execute(
                text(
                    "SELECT name FROM sqlite_master "
                    "WHERE type = 'trigger' AND tbl_name LIKE 'audit%'"
                )
            ).scalars()
            for name in list(names):
                conn.execute(text(f"DROP TRIGGER {name}"))


def rows(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [
            dict(r) for r in conn.execute(text("SELECT * FROM audit_log ORDER BY seq")).mappings()
        ]


def plain_hash(record: dict[str, object]) -> str:
    fields = {k: record[k] for k in ("seq", "recorded_at", "kind", "conversation_id", "payload")}
    content = canonical_json({**fields, "prev_hash": record["prev_hash"]})
    return hashlib.sha256(content.encode()).hexdigest()


def keyed_hash(key: bytes) -> Callable[[dict[str, object]], str]:
    def compute(record: dict[str, object]) -> str:
        return record_hash(
            key,
            seq=int(record["seq"]),  # type: ignore[call-overload]
            recorded_at=str(record["recorded_at"]),
            kind=str(record["kind"]),
            conversation_id=record["conversation_id"],  # type: ignore[arg-type]
            payload=str(record["payload"]),
            prev_hash=str(record["prev_hash"]),
        )

    return compute


def rewrite(
    engine: Engine, records: list[dict[str, object]], hasher: Callable[..., str], mac_key: bytes
) -> None:
    """Write the records back with their chain computed again by ``hasher``, and a head
    that matches (its MAC under ``mac_key``)."""
    prev = "0" * 64
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
        for record in records:
            record = {**record, "prev_hash": prev}
            record["hash"] = hasher(record)
            conn.execute(
                text(
                    "INSERT INTO audit_log (seq, recorded_at, kind, conversation_id, payload, "
                    "prev_hash, hash) VALUES (:seq, :recorded_at, :kind, :conversation_id, "
                    ":payload, :prev_hash, :hash)"
                ),
                record,
            )
            prev = str(record["hash"])
        last = records[-1]
        conn.execute(
            text("UPDATE audit_head SET seq = :seq, hash = :hash, mac = :mac"),
            {"seq": last["seq"], "hash": prev, "mac": head_mac(mac_key, int(last["seq"]), prev)},  # type: ignore[call-overload]
        )


@pytest.fixture
def chain(engine: Engine, sessions: SessionFactory, clock: FakeClock) -> list[dict[str, object]]:
    fill(sessions, clock, 5)
    unguard(engine)
    return rows(engine)


def test_an_untouched_chain_verifies(database_url: str, chain: object, vault: Vault) -> None:
    code, out = verify(database_url, vault)
    assert code == 0, out


def test_an_edited_record_is_found(
    database_url: str, engine: Engine, chain: object, vault: Vault
) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_log SET payload = '{}' WHERE seq = 3")
    code, out = verify(database_url, vault)
    assert code == 1 and "record 3" in out


def test_a_deleted_record_is_found(
    database_url: str, engine: Engine, chain: object, vault: Vault
) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    code, out = verify(database_url, vault)
    assert code == 1 and "expected record 2, found 3" in out


def test_reordered_records_are_found(
    database_url: str, engine: Engine, chain: list[dict[str, object]], vault: Vault
) -> None:
    """Records 2 and 3 swap places (each keeps its own hash): the links break."""
    second, third = chain[1], chain[2]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq IN (2, 3)"))
        for record, seq in ((third, 2), (second, 3)):
            conn.execute(
                text(
                    "INSERT INTO audit_log (seq, recorded_at, kind, conversation_id, payload, "
                    "prev_hash, hash) VALUES (:seq, :recorded_at, :kind, :conversation_id, "
                    ":payload, :prev_hash, :hash)"
                ),
                {**record, "seq": seq},
            )
    code, out = verify(database_url, vault)
    assert code == 1 and "record 2" in out


def test_records_cut_off_the_end_are_found_even_with_the_head_moved_back(
    database_url: str, engine: Engine, chain: list[dict[str, object]], vault: Vault
) -> None:
    """The last two records go and the head is set to the new last one: without the
    audit key its MAC cannot be made."""
    third = chain[2]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq > 3"))
        conn.execute(text("UPDATE audit_head SET seq = 3, hash = :hash"), {"hash": third["hash"]})
    code, out = verify(database_url, vault)
    assert code == 1 and "cut off" in out


def test_a_chain_rewritten_and_recomputed_without_the_key_is_found(
    database_url: str, engine: Engine, chain: list[dict[str, object]], vault: Vault
) -> None:
    """A forger edits record 2 and computes the whole chain again, with plain SHA-256
    or with a key of their own: neither verifies."""
    forged = [dict(r) for r in chain]
    forged[1]["payload"] = '{"message_sid":"SM-forged"}'
    rewrite(engine, forged, plain_hash, secrets.token_bytes(32))
    code, out = verify(database_url, vault)
    assert code == 1 and "recomputed" in out

    rewrite(engine, forged, keyed_hash(secrets.token_bytes(32)), secrets.token_bytes(32))
    code, out = verify(database_url, vault)
    assert code == 1 and "record 1" in out


def test_only_the_audit_key_recomputes_a_chain_that_verifies(
    database_url: str, engine: Engine, chain: list[dict[str, object]], vault: Vault
) -> None:
    """The same rewrite with the audit key itself verifies: what protects the chain is
    that key being kept outside the database (this is the control for the test above)."""
    forged = [dict(r) for r in chain]
    forged[1]["payload"] = '{"message_sid":"SM-forged"}'
    key = vault.keyring.audit
    rewrite(engine, forged, keyed_hash(key), key)
    code, out = verify(database_url, vault)
    assert code == 0, out


def test_verify_with_other_keys_says_so_rather_than_calling_the_chain_broken(
    database_url: str, chain: object, vault: Vault
) -> None:
    """An operator who gives the wrong keys is told so, with exit 2: a chain that fails
    under the wrong key is not evidence of tampering."""
    assert verify(database_url, vault)[0] == 0  # the first use records what the keys are
    code, out = verify(database_url, Vault(fake_keyring()))
    assert code == 2 and "not the one this database was written with" in out
    assert "BROKEN" not in out


def _verify_with(database_url: str, vault: Vault, checkpoints: Path) -> tuple[int, str]:
    env = {
        "DATABASE_URL": database_url,
        "GANGWAY_AUDIT_CHECKPOINTS": str(checkpoints),
        **keys_env(vault.keyring),
    }
    result = CliRunner().invoke(app, ["audit", "verify"], env=env)
    return result.exit_code, result.output


def _head(engine: Engine) -> dict[str, object]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT seq, hash, mac FROM audit_head")).mappings().one())


def test_a_tail_put_back_from_an_older_copy_is_found_by_the_checkpoints(
    database_url: str,
    engine: Engine,
    sessions: SessionFactory,
    clock: FakeClock,
    vault: Vault,
    tmp_path: Path,
) -> None:
    """An owner who keeps a copy of the head (its MAC included) can later cut the records
    after it and put that head back: the chain verifies, the checkpoint written outside
    the database does not."""
    checkpoints = tmp_path / "outside" / "audit-checkpoints"
    fill(sessions, clock, 3)
    earlier = _head(engine)
    fill(sessions, clock, 2, first=3)
    writer = CheckpointWriter(sessions, clock, checkpoints)
    assert writer.fire_due() == 1 and writer.fire_due() == 0  # only when the chain moved
    assert _verify_with(database_url, vault, checkpoints)[0] == 0
    unguard(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq > 3"))
        conn.execute(text("UPDATE audit_head SET seq = :seq, hash = :hash, mac = :mac"), earlier)
    assert verify(database_url, vault)[0] == 0  # the chain alone cannot tell
    code, out = _verify_with(database_url, vault, checkpoints)
    assert code == 1 and "checkpoint line 1" in out and "cut off" in out


def test_an_emptied_log_is_found_by_the_checkpoints(
    database_url: str,
    engine: Engine,
    sessions: SessionFactory,
    clock: FakeClock,
    vault: Vault,
    tmp_path: Path,
) -> None:
    checkpoints = tmp_path / "audit-checkpoints"
    fill(sessions, clock, 2)
    CheckpointWriter(sessions, clock, checkpoints).fire_due()
    unguard(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_contents"))
        conn.execute(text("DELETE FROM audit_log"))
        conn.execute(text("UPDATE audit_head SET seq = 0, hash = :h, mac = ''"), {"h": "0" * 64})
    code, out = _verify_with(database_url, vault, checkpoints)
    assert code == 1 and "cut off" in out


def test_a_forged_checkpoint_is_named(
    database_url: str, sessions: SessionFactory, clock: FakeClock, vault: Vault, tmp_path: Path
) -> None:
    checkpoints = tmp_path / "audit-checkpoints"
    fill(sessions, clock, 2)
    checkpoints.write_text("2 " + "a" * 64 + " 2026-12-02T09:00:00+00:00 " + "b" * 64 + "\n")
    code, out = _verify_with(database_url, vault, checkpoints)
    assert code == 1 and "not written with the audit key" in out
