"""Sealed fields: readable with the conversation's key, bound to their place, gone
with the key; data keys move to a new master key."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from bot.adapters.db import SessionFactory, make_session_factory
from bot.adapters.keyring import Keyring
from bot.adapters.tables import Conversation, DataKey
from bot.adapters.vault import ERASED, SealError, Vault
from bot.config import load_settings
from bot.entrypoints.doctor import Check, run_checks
from bot.service_layer.key_rotation import keys_in_use, rotate_keys
from tests.fakes.keys import fake_keyring, keys_env
from tests.fakes.prospects import add_prospect

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def add(sessions: SessionFactory, cid: str, n: int) -> None:
    with sessions.begin() as s:
        add_prospect(s, f"whatsapp:+120255501{n:02d}", Conversation(id=cid, created_at=NOW))


def test_a_sealed_field_opens_only_in_its_own_place(sessions: SessionFactory) -> None:
    """A value sealed for one conversation and field opens there, and nowhere else: a
    sealed value copied to another row or column is refused."""
    add(sessions, "c-1", 1)
    add(sessions, "c-2", 2)
    with sessions.begin() as s:
        vault = s.info["vault"]
        sealed = vault.seal(s, "c-1", "body", "my passport number is C01X00T47")
        assert "C01X00T47" not in sealed
        assert vault.open(s, "c-1", "body", sealed) == "my passport number is C01X00T47"
        with pytest.raises(SealError):
            vault.open(s, "c-2", "body", sealed)
        with pytest.raises(SealError):
            vault.open(s, "c-1", "params", sealed)


def test_erasing_the_key_makes_every_field_unreadable(sessions: SessionFactory) -> None:
    """Once the data key is destroyed, what was sealed reads as erased and nothing new
    can be sealed; other conversations are untouched."""
    add(sessions, "c-1", 1)
    add(sessions, "c-2", 2)
    with sessions.begin() as s:
        vault = s.info["vault"]
        first, second = (
            vault.seal(s, c, "body", "IBAN DE89370400440532013000") for c in ("c-1", "c-2")
        )
        assert vault.erase_key(s, "c-1", NOW)
        assert not vault.erase_key(s, "c-1", NOW)
    with sessions.begin() as s:
        vault = s.info["vault"]
        assert vault.open(s, "c-1", "body", first) is None
        assert vault.read(s, "c-1", "body", first) == ERASED
        assert vault.open(s, "c-2", "body", second) == "IBAN DE89370400440532013000"
        with pytest.raises(SealError, match="erased"):
            vault.seal(s, "c-1", "body", "more")


def test_numbers_are_found_by_keyed_hash(sessions: SessionFactory, vault: Vault) -> None:
    """The table holds the number's HMAC, not the number; another lookup key finds nothing."""
    add(sessions, "c-1", 1)
    with sessions() as s:
        conv = s.get_one(Conversation, "c-1")
        assert conv.number_hmac == vault.lookup("whatsapp:+12025550101")
        assert "12025550101" not in (conv.number_hmac or "") + (conv.number_sealed or "")
    assert Vault(fake_keyring()).lookup("whatsapp:+12025550101") != conv.number_hmac


def test_rotation_rewraps_every_key_and_the_old_master_can_go(
    engine: object, sessions: SessionFactory, vault: Vault
) -> None:
    """After a new master key is put first and `rotate` ran, every data key is wrapped by
    it, and the records open with the new key alone; a batch at a time."""
    for n in range(5):
        add(sessions, f"c-{n}", n)
    with sessions.begin() as s:
        sealed = vault.seal(s, "c-3", "body", "card 4111 1111 1111 1111")
    old = vault.keyring
    both = Keyring(
        {"new": fake_keyring().current, **old.master}, "new", old.lookup, old.audit, "tests"
    )
    rotated = make_session_factory(sessions.kw["bind"], Vault(both))
    assert rotate_keys(rotated, lambda: NOW, batch=2) == 5
    assert keys_in_use(rotated) == {"new": 5}
    assert rotate_keys(rotated, lambda: NOW) == 0  # nothing left to move
    only_new = Keyring({"new": both.master["new"]}, "new", old.lookup, old.audit, "tests")
    with make_session_factory(sessions.kw["bind"], Vault(only_new))() as s:
        assert s.info["vault"].open(s, "c-3", "body", sealed) == "card 4111 1111 1111 1111"
        assert {k.key_id for k in s.execute(select(DataKey)).scalars()} == {"new"}


def test_a_key_wrapped_by_an_unknown_master_key_says_which(sessions: SessionFactory) -> None:
    """Starting with the wrong keys gives a message naming the missing key id."""
    add(sessions, "c-1", 1)
    with sessions.begin() as s:
        sealed = s.info["vault"].seal(s, "c-1", "body", "hello")
    stranger = make_session_factory(sessions.kw["bind"], Vault(fake_keyring("other")))
    with stranger() as s, pytest.raises(SealError, match="test-1"):
        s.info["vault"].open(s, "c-1", "body", sealed)


def test_doctor_names_a_master_key_that_is_missing(
    database_url: str, sessions: SessionFactory, vault: Vault
) -> None:
    """`gangway doctor` says when records are wrapped by a master key it was not given,
    and is content with the right keys."""
    add(sessions, "c-1", 1)
    offline = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(503)))

    def keys_check(keyring: Keyring) -> Check:
        settings = load_settings({"DATABASE_URL": database_url, **keys_env(keyring)})
        return next(c for c in run_checks(settings, offline) if c.part == "keys")

    good = keys_check(vault.keyring)
    assert good.ok and "current master key test-1" in good.detail
    ring = vault.keyring
    other_master = Keyring(fake_keyring("other").master, "other", ring.lookup, ring.audit, "tests")
    bad = keys_check(other_master)
    assert not bad.ok and "test-1 (1 conversations)" in bad.detail
    # Other lookup and audit keys altogether: said as such, not as a broken chain.
    stranger = keys_check(fake_keyring())
    assert not stranger.ok and "not the one this database was written with" in stranger.detail
