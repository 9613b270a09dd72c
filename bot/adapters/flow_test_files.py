"""Reading conversation test files (``flows/tests/*.yml``), forgiving where it can be.

Every problem is reported as ``file:line: what is wrong`` (an unknown key with the
nearest known one, a level or state that does not exist, a pattern that is not one),
all of them at once, so a marketer fixes a file in one go. A single text where a list is
expected is taken as a list of one; ``reply_contains`` may be a list.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.adapters.yaml_files import hint
from bot.domain.conversation_chart import ConversationChart
from bot.domain.flow_tests import FILE_KEYS, STEP_KEYS, TEST_KEYS, FlowTest, FlowTestFile, Step
from bot.domain.levels import Level

__all__ = ["TESTS_DIR", "FlowTestFileError", "read_test_file", "test_files"]

TESTS_DIR = Path(__file__).resolve().parents[2] / "flows" / "tests"
LEVELS = tuple(level.label for level in Level)
STATES = tuple(state.id for state in ConversationChart.states)


class FlowTestFileError(ValueError):
    """A test file cannot be run; ``problems`` are its ``file:line: ...`` lines."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def test_files(paths: Iterable[Path]) -> list[Path]:
    """The files named, a folder standing for its ``*.yml``."""
    found: list[Path] = []
    for path in paths:
        found.extend(sorted(path.glob("*.yml")) if path.is_dir() else [path])
    return found


class _Reader:
    def __init__(self, path: Path, languages: Collection[str]) -> None:
        self.path = path
        self.languages = languages
        self.problems: list[str] = []

    def problem(self, node: Node, what: str) -> None:
        self.problems.append(f"{self.path}:{node.start_mark.line + 1}: {what}")

    def mapping(self, node: Node, where: str, known: tuple[str, ...]) -> dict[str, Node]:
        if not isinstance(node, MappingNode):
            self.problem(node, f"{where} must be a set of `key: value` lines")
            return {}
        fields: dict[str, Node] = {}
        for key, value in node.value:
            name = str(key.value)
            if name not in known:
                self.problem(
                    key,
                    f"`{name}` is not a setting of {where}{hint(name, known)} "
                    f"(known: {', '.join(known)})",
                )
            elif name in fields:
                self.problem(key, f"`{name}` is written twice in {where}")
            else:
                fields[name] = value
        return fields

    def text(self, node: Node, key: str) -> str | None:
        if not isinstance(node, ScalarNode) or (node.value == "" and node.tag.endswith("null")):
            self.problem(node, f'`{key}` must be a text, for example `{key}: "..."`')
            return None
        return str(node.value)

    def texts(self, node: Node, key: str) -> tuple[str, ...] | None:
        items = node.value if isinstance(node, SequenceNode) else [node]
        found = [self.text(item, key) for item in items]
        return None if None in found else tuple(t for t in found if t is not None)

    def choice(self, node: Node, key: str, choices: tuple[str, ...], what: str) -> str | None:
        value = self.text(node, key)
        if value is not None and value not in choices:
            self.problem(
                node,
                f"`{key}`: {value!r} is not {what}{hint(value, choices)} "
                f"(known: {', '.join(choices)})",
            )
            return None
        return value

    def step(self, node: Node) -> Step | None:
        before = len(self.problems)
        f = self.mapping(node, "a step", STEP_KEYS)
        if not f and not self.problems[before:]:
            self.problem(node, 'a step needs `prospect: "what the prospect says"`')
        acts = [k for k in ("prospect", "tap") if k in f]
        if f and len(acts) != 1:
            self.problem(
                node,
                "each step needs exactly one of `prospect:` (what the prospect "
                "says) or `tap:` (a button's text)",
            )
        said = {k: self.text(f[k], k) for k in acts}
        contains = (
            self.texts(f["reply_contains"], "reply_contains") if "reply_contains" in f else ()
        )
        matches = self.texts(f["reply_matches"], "reply_matches") if "reply_matches" in f else ()
        for pattern in matches or ():
            try:
                re.compile(pattern)
            except re.error as exc:
                self.problem(
                    f["reply_matches"],
                    f"`reply_matches`: {pattern!r} is not a "
                    f"pattern ({exc}); to look for plain words use `reply_contains`",
                )
        absent = self.texts(f["not_contains"], "not_contains") if "not_contains" in f else ()
        replies = None
        if "replies" in f:
            raw = self.text(f["replies"], "replies")
            if raw is not None and not raw.isdigit():
                self.problem(f["replies"], f"`replies` is how many replies, a number, not {raw!r}")
            replies = int(raw) if raw is not None and raw.isdigit() else None
        level = self.choice(f["level"], "level", LEVELS, "a level") if "level" in f else None
        state = self.choice(f["state"], "state", STATES, "a state") if "state" in f else None
        buttons = None
        if "buttons" in f:
            node_b = f["buttons"]
            empty = isinstance(node_b, SequenceNode) and not node_b.value
            buttons = () if empty else self.texts(node_b, "buttons")
        if len(self.problems) > before:
            return None
        return Step(
            line=node.start_mark.line + 1,
            prospect=said.get("prospect"),
            tap=said.get("tap"),
            contains=contains or (),
            matches=matches or (),
            not_contains=absent or (),
            replies=replies,
            level=level,
            state=state,
            buttons=buttons,
        )

    def test(self, node: Node) -> FlowTest | None:
        before = len(self.problems)
        f = self.mapping(node, "a test", TEST_KEYS)
        name = self.text(f["name"], "name") if "name" in f else None
        if f and name is None and "name" not in f:
            self.problem(node, "each test needs a `name:` saying what it shows")
        language = None
        if "language" in f:
            language = self.choice(f["language"], "language", tuple(self.languages), "a language")
        variant = self.text(f["variant"], "variant") if "variant" in f else None
        steps: list[Step] = []
        if "steps" not in f and f:
            self.problem(node, "each test needs `steps:`, a list of what the prospect says")
        elif "steps" in f:
            if not isinstance(f["steps"], SequenceNode) or not f["steps"].value:
                self.problem(f["steps"], "`steps` must be a list of steps, each starting with `- `")
            else:
                steps = [s for s in map(self.step, f["steps"].value) if s is not None]
        if len(self.problems) > before or name is None:
            return None
        return FlowTest(
            name=name,
            line=node.start_mark.line + 1,
            steps=tuple(steps),
            language=language,
            variant=variant,
        )


def read_test_file(
    path: Path, languages: Collection[str] = ("en", "de", "fr", "es")
) -> FlowTestFile:
    """The tests in ``path``; FlowTestFileError lists every problem with its line."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except OSError as exc:
        raise FlowTestFileError([f"{path}: cannot be read ({exc.strerror})"]) from exc
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise FlowTestFileError([f"{path}:{line}: not valid YAML: {exc.problem}"]) from exc
    reader = _Reader(path, languages)
    if root is None:
        raise FlowTestFileError([f"{path}: the file is empty; it needs `tests:`"])
    fields = reader.mapping(root, "the file", FILE_KEYS)
    flow = reader.text(fields["flow"], "flow") if "flow" in fields else None
    tests: list[FlowTest] = []
    node = fields.get("tests")
    if node is None:
        if not reader.problems:
            reader.problems.append(f"{path}: the file needs `tests:`, a list of tests")
    elif not isinstance(node, SequenceNode) or not node.value:
        reader.problem(node, "`tests` must be a list of tests, each starting with `- name:`")
    else:
        tests = [t for t in map(reader.test, node.value) if t is not None]
    if reader.problems:
        raise FlowTestFileError(reader.problems)
    return FlowTestFile(path=str(path), tests=tuple(tests), flow=flow)
