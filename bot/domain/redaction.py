"""Error texts made fit to keep: a provider's message may quote the number it
refused or the URL it was asked for, and error texts go to logs, audit records and
the console, where no number belongs."""

from __future__ import annotations

import re

__all__ = ["redact"]

# A phone number as providers quote it: an optional +, then digits with the usual
# separators, at least seven digits in all.
_NUMBER = re.compile(r"\+?\d(?:[\s().-]{0,2}\d){6,}")
# A URL keeps its scheme and host; its path and query may name a message or a person.
_URL = re.compile(r"(https?://[^/\s]+)/\S*")


def redact(text: str) -> str:
    """``text`` with phone numbers replaced by "[number]" and URLs cut to their host."""
    return _NUMBER.sub("[number]", _URL.sub(r"\1/…", text))
