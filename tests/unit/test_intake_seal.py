"""Sealing webhooks in the intake with the key derived from a master key."""

from __future__ import annotations

import dataclasses

import pytest

from bot.adapters.intake import IntakeSeal
from bot.adapters.vault import SealError
from tests.fakes.keys import fake_keyring

FORM = {"MessageSid": "SM01", "From": "whatsapp:+15555550101", "Body": "my IBAN is DE89"}


def test_a_sealed_form_opens_to_the_same_form_and_shows_nothing_of_it() -> None:
    """The sealed text holds neither the number nor the body; it opens to the form."""
    seal = IntakeSeal(fake_keyring())
    sealed = seal.seal("inbound", FORM)
    assert "5555550101" not in sealed and "IBAN" not in sealed
    assert seal.open("inbound", sealed) == FORM


def test_a_form_sealed_before_a_new_master_key_still_opens_while_the_old_one_is_given() -> None:
    """After a new master key becomes current, rows sealed under the old one open;
    once the old one is gone they do not."""
    old = fake_keyring("old")
    sealed = IntakeSeal(old).seal("status", {"MessageSid": "SM02"})
    both = dataclasses.replace(old, master={"new": b"n" * 32, **old.master}, current_id="new")
    assert IntakeSeal(both).open("status", sealed) == {"MessageSid": "SM02"}
    with pytest.raises(SealError):
        IntakeSeal(fake_keyring("new")).open("status", sealed)


@pytest.mark.parametrize("change", ["kind", "text", "prefix"])
def test_a_changed_row_does_not_open(change: str) -> None:
    """A row moved to another kind, altered, or not sealed at all raises SealError."""
    seal = IntakeSeal(fake_keyring())
    sealed = seal.seal("inbound", FORM)
    kind = "status" if change == "kind" else "inbound"
    if change == "text":
        sealed = sealed[:-6] + ("AAAA==" if not sealed.endswith("AAAA==") else "BBBB==")
    if change == "prefix":
        sealed = '{"Body": "plain"}'
    with pytest.raises(SealError):
        seal.open(kind, sealed)
