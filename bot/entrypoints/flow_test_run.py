"""Playing conversation test files against a stack, and what a run reports.

`gangway flows test` and the end-to-end test of the shipped tests both call
`run_flow_tests`: files are read (every problem of every file is reported, and nothing
runs if one is invalid), each test plays a fresh conversation, and the run ends with a
line per test, a summary and the results file the marketing page shows.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from bot.adapters.flow_files import FLOWS_DIR, load_flow
from bot.adapters.flow_test_files import FlowTestFileError, read_test_file
from bot.adapters.yaml_files import FlowFileError
from bot.domain.flow_tests import FlowTest, FlowTestFile, Observed, check_step, unplayable
from bot.domain.flows import Flow
from bot.entrypoints.flow_test_rasa import RasaEndpoints, StackError
from bot.entrypoints.flow_test_stack import local_stack

__all__ = ["TestResult", "flow_file_for", "report", "results_document", "run_flow_tests"]

EXIT_PASSED, EXIT_FAILED, EXIT_UNUSABLE = 0, 1, 2


class Chat(Protocol):
    def say(self, text: str) -> Observed: ...
    def tap(self, title: str) -> Observed: ...


class Stack(Protocol):
    """What a test is played on (bot.entrypoints.flow_test_stack.LocalStack)."""

    @property
    def flow(self) -> Flow: ...
    def prospect(self, variant: str | None = None, language: str | None = None) -> Chat: ...


@dataclass(frozen=True)
class TestResult:
    __test__ = False  # a result, not a pytest test

    file: str
    line: int
    name: str
    variant: str | None
    language: str | None
    passed: bool
    failure: str | None = None


def shown_path(path: Path | str) -> str:
    """A file as the report names it: relative to the current folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def flow_file_for(tests: FlowTestFile, in_force: Path) -> Path:
    """The flow a file's tests run against: ``flow:`` names a flow (``default`` is
    flows/default.yml) or a file (relative to the test file); none: the flow in force."""
    if tests.flow is None:
        return in_force
    if tests.flow.endswith((".yml", ".yaml")) or "/" in tests.flow:
        return (Path(tests.path).parent / tests.flow).resolve()
    return FLOWS_DIR / f"{tests.flow}.yml"


def play(stack: Stack, where: str, test: FlowTest) -> TestResult:
    """One test in a fresh conversation: the first expectation not met fails it."""

    def result(failure: str | None) -> TestResult:
        return TestResult(
            where, test.line, test.name, test.variant, test.language, failure is None, failure
        )

    prospect = stack.prospect(test.variant, test.language)
    language: str | None = None
    for step in test.steps:
        try:
            seen = (
                prospect.tap(step.tap)
                if step.tap is not None
                else prospect.say(step.prospect or "")
            )
        except LookupError as exc:
            return result(f"{where}:{step.line}: {exc}")
        failures = check_step(step, seen)
        if failures:
            return result(f"{where}:{step.line}: after {step.said}: " + "; ".join(failures))
        language = seen.language
    if test.language is not None and test.steps and language != test.language:
        return result(
            f"{where}:{test.line}: expected the conversation in {test.language}, it is in "
            f"{language}"
        )
    return result(None)


def report(results: list[TestResult], out: IO[str]) -> None:
    """One line per test, the failure's line under it, then the summary."""
    for r in results:
        print(f"{'PASS' if r.passed else 'FAIL'}  {r.file}:{r.line}  {r.name}", file=out)
        if r.failure:
            print(f"      {r.failure}", file=out)
    passed = sum(r.passed for r in results)
    print(f"{passed} passed, {len(results) - passed} failed", file=out)


def results_document(
    results: list[TestResult], flow: str, flow_sha256: str, ran_at: datetime
) -> dict[str, Any]:
    passed = sum(r.passed for r in results)
    return {
        "ran_at": ran_at.astimezone(UTC).isoformat(timespec="seconds"),
        "flow": flow,
        "flow_sha256": flow_sha256,
        "passed": passed,
        "failed": len(results) - passed,
        "tests": [asdict(r) for r in results],
    }


def write_results(path: Path, document: dict[str, Any]) -> None:
    """Replace the results file whole, so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
    os.replace(partial, path)


def run_flow_tests(
    files: list[Path],
    rasa: Callable[[], AbstractContextManager[RasaEndpoints]],
    *,
    in_force: Path,
    results_path: Path,
    out: IO[str],
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    stack: Callable[[RasaEndpoints, Path], AbstractContextManager[Stack]] = local_stack,
) -> int:
    """Read ``files``, play their tests, report to ``out``, write ``results_path``.

    ``rasa`` gives the Rasa to play against (started, or one already running), ``stack``
    gangway serving a flow file against it. Exit
    code: 0 all passed, 1 some failed, 2 a file is invalid or the stack did not start.
    """
    read: list[FlowTestFile] = []
    problems: list[str] = []
    for path in files:
        try:
            read.append(read_test_file(path))
        except FlowTestFileError as exc:
            problems.extend(exc.problems)
    if problems:
        for problem in problems:
            print(problem, file=out)
        print(f"{len(problems)} problem(s) in the test files: nothing was run", file=out)
        return EXIT_UNUSABLE
    by_flow: dict[Path, list[FlowTestFile]] = {}
    for tests in read:
        by_flow.setdefault(flow_file_for(tests, in_force), []).append(tests)
    for flow_file, group in by_flow.items():
        if not flow_file.is_file():
            print(f"{flow_file}: no such flow file (named by `flow:`)", file=out)
            return EXIT_UNUSABLE
        try:
            flow = load_flow(flow_file)
        except FlowFileError as exc:  # the service would not start on it
            print(f"{exc}\nthe flow cannot be used: nothing was run", file=out)
            return EXIT_UNUSABLE
        for tests in group:
            problems.extend(unplayable(tests, flow, shown_path(tests.path)))
    if problems:
        for problem in problems:
            print(problem, file=out)
        print(f"{len(problems)} problem(s) in the test files: nothing was run", file=out)
        return EXIT_UNUSABLE
    results: list[TestResult] = []
    names: list[str] = []
    digests: list[str] = []
    try:
        with rasa() as endpoints:
            for flow_file, group in by_flow.items():
                with stack(endpoints, flow_file) as played:
                    names.append(played.flow.name)
                    digests.append(played.flow.digest)
                    for tests in group:
                        where = shown_path(tests.path)
                        results.extend(play(played, where, test) for test in tests.tests)
    except StackError as exc:
        print(f"the stack could not run the tests: {exc}", file=out)
        return EXIT_UNUSABLE
    report(results, out)
    document = results_document(results, ", ".join(names), ",".join(digests), clock())
    write_results(results_path, document)
    return EXIT_PASSED if all(r.passed for r in results) else EXIT_FAILED
