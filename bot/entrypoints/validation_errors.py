"""The 422 answer to a request that is not what a route accepts.

FastAPI's own answer echoes each invalid value back ("input") with its context. Two
reasons not to: a JSON body may hold NaN or Infinity, which Python's JSON reader takes
but no JSON writer may send, so echoing them turned a bad request into a server
error; and an echo repeats to the caller whatever they sent (a password in a sign-in
form, say) into logs and proxies for no use. The answer keeps where and why.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

__all__ = ["invalid_request"]

_KEPT = ("type", "loc", "msg")


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """422 with each error's type, location and message, as the API document says."""
    assert isinstance(exc, RequestValidationError)
    errors = [{key: _plain(error[key]) for key in _KEPT if key in error} for error in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=422)


def _plain(value: object) -> object:
    """A location is a tuple of names and indexes; the rest are strings already."""
    if isinstance(value, tuple | list):
        return [item if isinstance(item, int | str) else str(item) for item in value]
    return value if isinstance(value, str) else str(value)
