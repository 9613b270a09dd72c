"""The records' keys: read from the environment or a key file, made once when absent,
refused with a plain message when malformed."""

from __future__ import annotations

import base64
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.adapters.keyring import KeyringError, default_key_file, keyring_from, parse_master_keys

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def key(byte: int) -> str:
    return base64.b64encode(bytes([byte]) * 32).decode()


def test_master_keys_keep_their_order_and_the_first_is_current() -> None:
    """GANGWAY_MASTER_KEYS lists ID:BASE64 pairs; the first wraps new data keys."""
    ring = keyring_from(
        master_keys=f"2026-12:{key(2)}, 2026-01:{key(1)}",
        lookup_key=key(3),
        audit_key=key(4),
        key_file=None,
    )
    assert list(ring.master) == ["2026-12", "2026-01"]
    assert ring.current_id == "2026-12" and ring.current == bytes([2]) * 32
    assert "GANGWAY_MASTER_KEYS" in ring.source and key(2) not in ring.source


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no master key"),
        ("nocolon", "ID:BASE64"),
        (f"a:{key(1)},a:{key(2)}", "listed twice"),
        ("a:not-base64!", "not base64"),
        (f"a:{base64.b64encode(b'short').decode()}", "32 bytes"),
        (f"bad id:{key(1)}", "ID:BASE64"),
    ],
)
def test_malformed_master_keys_are_refused_plainly(text: str, message: str) -> None:
    """A wrong key never starts the service with a traceback: the message says what."""
    with pytest.raises(KeyringError, match=message):
        parse_master_keys(text)


def test_missing_lookup_or_audit_key_is_named() -> None:
    """Master keys alone are not enough: the message names the missing key."""
    with pytest.raises(KeyringError, match="GANGWAY_LOOKUP_KEY"):
        keyring_from(master_keys=f"a:{key(1)}", lookup_key=None, audit_key=key(2), key_file=None)
    with pytest.raises(KeyringError, match="GANGWAY_AUDIT_KEY"):
        keyring_from(master_keys=f"a:{key(1)}", lookup_key=key(2), audit_key=None, key_file=None)


def test_the_default_key_file_is_made_once_for_its_owner_only(tmp_path: Path) -> None:
    """Without configuration a key file is made in the state directory, readable by its
    owner only; later starts read the same keys back."""
    path = default_key_file(tmp_path, NOW)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first = keyring_from(master_keys=None, lookup_key=None, audit_key=None, key_file=path)
    again = keyring_from(
        master_keys=None, lookup_key=None, audit_key=None, key_file=default_key_file(tmp_path, NOW)
    )
    assert first == again
    assert first.current_id.startswith("k20261202T090000")


def test_the_environment_overrides_the_key_file(tmp_path: Path) -> None:
    """A master key list in the environment replaces the file's, as for rotation."""
    path = default_key_file(tmp_path, NOW)
    ring = keyring_from(master_keys=f"new:{key(9)}", lookup_key=None, audit_key=None, key_file=path)
    assert list(ring.master) == ["new"]


def test_a_malformed_key_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"master a {key(1)}\nlookup {key(2)}\naudit\n")
    with pytest.raises(KeyringError, match="keys line 3"):
        keyring_from(master_keys=None, lookup_key=None, audit_key=None, key_file=path)
