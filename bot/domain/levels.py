"""The sensitivity ladder: public < identity < financial < advice < order.

A conversation's level only ever rises (see ``ConversationModel.raise_level``); a message's
level is the highest level any piece of evidence gives it.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["LEVEL_NAMES", "Level"]


class Level(IntEnum):
    PUBLIC = 0
    IDENTITY = 1
    FINANCIAL = 2
    ADVICE = 3
    ORDER = 4

    @property
    def label(self) -> str:
        """The lower-case name used in flow files, the database and JSON."""
        return self.name.lower()

    @classmethod
    def parse(cls, name: str) -> Level:
        """The level called ``name`` (as written in a flow file); ValueError names the choices."""
        try:
            return cls[name.strip().upper()]
        except (KeyError, AttributeError):
            raise ValueError(
                f"unknown level {name!r}: use one of {', '.join(LEVEL_NAMES)}"
            ) from None

    def __str__(self) -> str:
        return self.label


LEVEL_NAMES: tuple[str, ...] = tuple(level.label for level in Level)
