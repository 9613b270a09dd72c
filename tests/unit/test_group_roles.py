"""The identity provider's groups map to gangway roles in the order the operator lists."""

from __future__ import annotations

import pytest

from bot.domain.access import Role
from bot.domain.group_roles import parse_group_roles


def test_the_first_listed_role_whose_group_the_person_is_in_wins() -> None:
    roles = parse_group_roles("advisor=gw-advisors, supervisor=gw-supervisors")
    assert roles.role_for(["gw-supervisors"]) is Role.SUPERVISOR
    assert roles.role_for(["gw-supervisors", "gw-advisors"]) is Role.ADVISOR


def test_a_person_in_no_mapped_group_gets_no_role() -> None:
    assert parse_group_roles("advisor=gw-advisors").role_for(["everyone"]) is None
    assert parse_group_roles("").role_for(["gw-advisors"]) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("gw-advisors", "is not role=group"),
        ("advisor=", "is not role=group"),
        ("boss=gw-bosses", "unknown role 'boss'"),
    ],
)
def test_a_malformed_map_says_what_to_fix(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_group_roles(value)
