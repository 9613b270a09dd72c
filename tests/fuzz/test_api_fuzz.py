"""Every operation of the app's OpenAPI document, fuzzed by schemathesis as each
kind of caller: an advisor, a supervisor, compliance, an admin, the bot's service
token, and nobody. Whatever the input, the answer is never a server error, and a
documented answer matches its documented schema and content type.

Generated ids rarely exist, so each case is also sent with its ids replaced by the
seeded handoff's and conversation's: the routes then get past their look-ups.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import given
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from bot.bootstrap import Container
from bot.entrypoints.app import create_app
from tests.fuzz.conftest import FUZZ, ROLES, SERVICE_TOKEN, FuzzStack

pytestmark = pytest.mark.fuzz

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def operations() -> list[tuple[str, str]]:
    """(method, path) of every operation in the document, read from the app's routes:
    building the app opens nothing, so this is safe at collection time."""
    document = create_app(_no_container).openapi()
    return [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]


def _no_container() -> Container:
    raise AssertionError("the fuzz app is served without its lifespan")


@pytest.fixture(scope="module")
def api_schema(fuzz_stack: FuzzStack) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_stack.asgi)


def callers(stack: FuzzStack) -> dict[str, dict[str, str]]:
    """The Authorization header of each kind of caller (nobody sends the generated one)."""
    headers = {role: {"Authorization": f"Bearer {stack.tokens[role]}"} for role in ROLES}
    headers["service"] = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    headers["nobody"] = {}
    return headers


def seeded(case: Any, stack: FuzzStack) -> bool:
    """Point the case's ids at the seeded rows; False when it takes no id."""
    params = dict(case.path_parameters or {})
    if "handoff_id" in params:
        params["handoff_id"] = stack.handoff_id
    if "conversation_id" in params:
        params["conversation_id"] = stack.conversation_id
    if params == (case.path_parameters or {}):
        return False
    case.path_parameters = params
    return True


@pytest.mark.parametrize(
    ("method", "path"), [pytest.param(m, p, id=f"{m} {p}") for m, p in operations()]
)
def test_no_operation_answers_a_server_error_to_any_caller(
    method: str, path: str, api_schema: Any, fuzz_stack: FuzzStack
) -> None:
    """Generated requests to every API operation, as every role, the service and an
    anonymous caller, get a 2xx/4xx answer that conforms to the document."""
    operation = api_schema[path][method]
    sent = [0]

    @FUZZ
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        for headers in callers(fuzz_stack).values():
            case.call_and_validate(headers=headers or None, checks=CHECKS)
            sent[0] += 1
        if seeded(case, fuzz_stack):
            for headers in callers(fuzz_stack).values():
                case.call_and_validate(headers=headers or None, checks=CHECKS)
                sent[0] += 1

    run()
    print(f"fuzz {method} {path}: {sent[0]} requests")
