"""Keys for tests: made fresh per test run, never real ones."""

from __future__ import annotations

import secrets

from bot.adapters.keyring import Keyring, encode_key
from bot.adapters.vault import Vault

__all__ = ["fake_keyring", "fake_vault", "keys_env"]


def fake_keyring(*master_ids: str) -> Keyring:
    """A keyring with master keys of these ids (the first current), or one key."""
    ids = master_ids or ("test-1",)
    return Keyring(
        {key_id: secrets.token_bytes(32) for key_id in ids},
        ids[0],
        secrets.token_bytes(32),
        secrets.token_bytes(32),
        "tests",
    )


def fake_vault() -> Vault:
    return Vault(fake_keyring())


def keys_env(keyring: Keyring) -> dict[str, str]:
    """The environment that gives a gangway command these keys."""
    return {
        "GANGWAY_MASTER_KEYS": ",".join(
            f"{key_id}:{encode_key(key)}" for key_id, key in keyring.master.items()
        ),
        "GANGWAY_LOOKUP_KEY": encode_key(keyring.lookup),
        "GANGWAY_AUDIT_KEY": encode_key(keyring.audit),
    }
