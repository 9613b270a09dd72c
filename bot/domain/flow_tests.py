"""Conversation tests for a flow, as marketing writes them (``flows/tests/*.yml``).

A test is a list of steps: the prospect says something (or taps a button), and the step
states what must follow: words the bot's replies contain or must not contain, a pattern
they match, the conversation's level and chart state, the buttons offered. This module
holds the tests as read and the judgement of one step against what was observed; reading
the files is ``bot.adapters.flow_test_files``, playing them ``bot.entrypoints.flow_test_run``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.domain.flow_variants import not_running
from bot.domain.flows import Flow

__all__ = [
    "FILE_KEYS",
    "STEP_KEYS",
    "TEST_KEYS",
    "FlowTest",
    "FlowTestFile",
    "Observed",
    "Step",
    "check_step",
    "unplayable",
]

FILE_KEYS = ("flow", "tests")
TEST_KEYS = ("name", "language", "variant", "steps")
# What the prospect does (exactly one of these) and what must follow.
STEP_KEYS = (
    "prospect",
    "tap",
    "reply_contains",
    "reply_matches",
    "not_contains",
    "replies",
    "level",
    "state",
    "buttons",
)


@dataclass(frozen=True)
class Step:
    """One message of the prospect and what the bot must do about it.

    ``contains``, ``matches`` and ``not_contains`` are judged against all the replies
    to the message together; ``replies`` is how many replies there must be.
    """

    line: int
    prospect: str | None = None
    tap: str | None = None
    contains: tuple[str, ...] = ()
    matches: tuple[str, ...] = ()
    not_contains: tuple[str, ...] = ()
    replies: int | None = None
    level: str | None = None
    state: str | None = None
    buttons: tuple[str, ...] | None = None

    @property
    def said(self) -> str:
        """What the prospect did, as a report shows it."""
        return f"taps {self.tap!r}" if self.tap is not None else repr(self.prospect)


@dataclass(frozen=True)
class FlowTest:
    name: str
    line: int
    steps: tuple[Step, ...]
    language: str | None = None
    variant: str | None = None


@dataclass(frozen=True)
class FlowTestFile:
    path: str
    tests: tuple[FlowTest, ...]
    flow: str | None = None  # a flow's name or file; None: the flow in force


@dataclass(frozen=True)
class Observed:
    """What followed one step: the replies' texts, in order, and the conversation after."""

    replies: tuple[str, ...]
    buttons: tuple[str, ...] = ()
    level: str | None = None
    state: str | None = None
    language: str | None = None
    evidence: tuple[str, ...] = field(default=())


def _shown(replies: tuple[str, ...]) -> str:
    if not replies:
        return "no reply"
    return " / ".join(repr(_short(r)) for r in replies)


def _short(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _folded(text: str) -> str:
    """Case and spacing do not matter to a marketer's "contains"."""
    return " ".join(text.casefold().split())


def check_step(step: Step, seen: Observed) -> list[str]:
    """Each expectation of ``step`` that ``seen`` does not meet, in plain words."""
    failures: list[str] = []
    text = "\n".join(seen.replies)
    if step.replies is not None and len(seen.replies) != step.replies:
        failures.append(
            f"expected {step.replies} replies, got {len(seen.replies)}: {_shown(seen.replies)}"
        )
    for words in step.contains:
        if _folded(words) not in _folded(text):
            failures.append(f"expected a reply containing {words!r}, got {_shown(seen.replies)}")
    for pattern in step.matches:
        if re.search(pattern, text, re.IGNORECASE) is None:
            failures.append(f"expected a reply matching {pattern!r}, got {_shown(seen.replies)}")
    for words in step.not_contains:
        if _folded(words) in _folded(text):
            failures.append(f"expected no reply containing {words!r}, got {_shown(seen.replies)}")
    if step.level is not None and seen.level != step.level:
        failures.append(f"expected level {step.level}, got {seen.level}")
    if step.state is not None and seen.state != step.state:
        failures.append(f"expected state {step.state}, got {seen.state}")
    if step.buttons is not None:
        offered = [_folded(b) for b in seen.buttons]
        if [_folded(b) for b in step.buttons] != offered:
            got = ", ".join(repr(b) for b in seen.buttons) or "none"
            wanted = ", ".join(repr(b) for b in step.buttons) or "none"
            failures.append(f"expected buttons {wanted}, got {got}")
    return failures


def unplayable(tests: FlowTestFile, flow: Flow, where: str) -> list[str]:
    """Why tests in ``tests`` cannot show anything about ``flow``, a ``where:line: ...``
    each: a variant the flow does not run (a misspelt or stopped one would silently
    play the base flow, and pass for the wrong reason) or a language it does not speak."""
    problems = []
    for test in tests.tests:
        runs = not_running(flow, test.variant)
        if runs is not None:
            problems.append(
                f"{where}:{test.line}: variant {test.variant!r} is not a running variant of "
                f"the flow {flow.name!r} ({runs})"
            )
        if test.language is not None and test.language not in flow.languages:
            problems.append(
                f"{where}:{test.line}: the flow {flow.name!r} does not speak "
                f"{test.language!r} (it speaks {', '.join(flow.languages)})"
            )
    return problems
