"""Path parameters shared by the routes.

A row id in a URL is checked against what the database can hold before any query:
an id past 64 bits makes SQLite raise OverflowError and PostgreSQL a DataError, which
would otherwise surface as a server error instead of "no such thing".
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

__all__ = ["MAX_ROW_ID", "RowId"]

# The largest value of a signed 64-bit integer column (SQLite INTEGER, PostgreSQL BIGINT).
MAX_ROW_ID = 2**63 - 1

RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="A row id (a positive integer).")]
