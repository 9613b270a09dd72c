"""Path parameters shared by the routes: ids in a URL are checked against what their
columns can hold before any query, so a hostile id is a plain 422.

Unchecked, a row id past 32 bits makes PostgreSQL's INTEGER raise a DataError (and
past 64 bits SQLite an OverflowError), and a NUL character in a text id makes
PostgreSQL refuse the query: each would surface as a server error.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

__all__ = ["CONVERSATION_ID_PATTERN", "MAX_ROW_ID", "ConversationId", "RowId"]

# The largest id an INTEGER id column holds on PostgreSQL (a signed 32-bit integer).
MAX_ROW_ID = 2**31 - 1

RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="A row id (a positive integer).")]

# A conversation id as gangway makes them: printable ASCII, at most the column's 40
# characters. Anything else (a NUL character, which PostgreSQL refuses in a query, or
# a 10 kB string) is a 422 before the database is asked.
CONVERSATION_ID_PATTERN = r"^[!-~]{1,40}$"

ConversationId = Annotated[
    str, Path(pattern=CONVERSATION_ID_PATTERN, description="A conversation id (c-...).")
]
