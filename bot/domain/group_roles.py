"""Which gangway role a person signing in through the firm's identity provider gets,
from the groups the provider says they are in.

The firm manages membership in its own directory; gangway only reads it at each
sign-in. The map is ordered: a person in several mapped groups gets the first role
listed, so the operator decides which wins (list the narrower role first to be safe).
A person in no mapped group gets no role, and so no access.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.domain.access import Role

__all__ = ["GroupRoles", "parse_group_roles"]


@dataclass(frozen=True)
class GroupRoles:
    """An ordered list of (role, group) pairs."""

    pairs: tuple[tuple[Role, str], ...]

    def role_for(self, groups: Iterable[str]) -> Role | None:
        """The first listed role whose group is among ``groups``, else None."""
        member = set(groups)
        return next((role for role, group in self.pairs if group in member), None)


def parse_group_roles(value: str) -> GroupRoles:
    """``advisor=gw-advisors,supervisor=gw-supervisors``; ValueError says what to fix."""
    pairs = []
    for item in value.split(","):
        entry = item.strip()
        if not entry:
            continue
        role_name, sep, group = (part.strip() for part in entry.partition("="))
        if not sep or not role_name or not group:
            raise ValueError(f"{entry!r} is not role=group (e.g. advisor=gw-advisors)")
        try:
            role = Role(role_name.lower())
        except ValueError:
            roles = ", ".join(r.value for r in Role)
            raise ValueError(
                f"unknown role {role_name!r} in {entry!r}: use one of {roles}"
            ) from None
        pairs.append((role, group))
    return GroupRoles(tuple(pairs))
