"""The client's address: X-Forwarded-For believed only from the configured proxies,
read from the right, skipping trusted hops."""

from __future__ import annotations

import pytest

from bot.config import load_settings
from bot.domain.client_address import client_address, parse_trusted_proxies

PROXIES = parse_trusted_proxies("10.0.0.5, 10.1.0.0/16")


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() -> None:
    """A client cannot choose its address by sending X-Forwarded-For."""
    assert client_address("198.51.100.7", ["203.0.113.9"], ()) == "198.51.100.7"


def test_a_header_from_an_untrusted_peer_is_ignored() -> None:
    assert client_address("198.51.100.7", ["203.0.113.9"], PROXIES) == "198.51.100.7"


def test_through_a_trusted_proxy_the_client_is_the_last_hop_it_recorded() -> None:
    """Advisors behind one proxy each get their own address."""
    assert client_address("10.0.0.5", ["203.0.113.9"], PROXIES) == "203.0.113.9"
    assert client_address("10.0.0.5", ["203.0.113.10"], PROXIES) == "203.0.113.10"


def test_a_forged_entry_left_of_the_proxys_is_never_reached() -> None:
    """The client sent 'X-Forwarded-For: 192.0.2.1'; the proxy appended the real peer."""
    assert client_address("10.0.0.5", ["192.0.2.1, 203.0.113.9"], PROXIES) == "203.0.113.9"


def test_chained_trusted_proxies_are_skipped_from_the_right() -> None:
    """Two proxies in a row (10.1.2.3 then 10.0.0.5); repeated headers read as one list."""
    headers = ["192.0.2.1, 203.0.113.9", "10.1.2.3"]
    assert client_address("10.0.0.5", headers, PROXIES) == "203.0.113.9"


def test_when_every_hop_is_a_proxy_the_leftmost_is_the_client() -> None:
    assert client_address("10.0.0.5", ["10.1.0.8"], PROXIES) == "10.1.0.8"
    assert client_address("10.0.0.5", [], PROXIES) == "10.0.0.5"


def test_a_malformed_hop_counts_as_the_proxy_that_passed_it_on() -> None:
    """Garbage is never used as an address (it would give a fresh throttle count)."""
    assert client_address("10.0.0.5", ["203.0.113.9, not-an-ip"], PROXIES) == "10.0.0.5"


def test_ipv6_hops_are_understood() -> None:
    proxies = parse_trusted_proxies("fd00::/8")
    assert client_address("fd00::1", ["2001:db8::7"], proxies) == "2001:db8::7"


def test_a_bad_trusted_proxies_setting_is_refused_with_the_entry_named() -> None:
    """GANGWAY_TRUSTED_PROXIES=10.0.0.5,proxy.example.com does not start."""
    with pytest.raises(ValueError, match=r"'proxy\.example\.com' is not an IP address"):
        load_settings({"GANGWAY_TRUSTED_PROXIES": "10.0.0.5,proxy.example.com"})
    settings = load_settings({"GANGWAY_TRUSTED_PROXIES": "10.0.0.5, 10.1.0.0/16"})
    assert settings.trusted_proxies == PROXIES
