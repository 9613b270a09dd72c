"""Reading YAML files that people edit (flows, routing rules) with plain-words errors.

The files are composed into nodes with PyYAML's safe loader (no object is ever built
from a tag), which keeps every value's line number; ``Reader`` takes values out of the
nodes and records ``file:line: what is wrong and what to change`` for each problem.
"""

from __future__ import annotations

import difflib
import logging
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Generic, TypeVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.domain.flows import parse_duration
from bot.domain.levels import Level

__all__ = [
    "MAX_FILE_BYTES",
    "FlowError",
    "FlowFileError",
    "Reader",
    "Reloading",
    "compose",
    "hint",
    "setting_name",
    "shape",
]

MAX_FILE_BYTES = 1_000_000
log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class FlowError:
    """One problem in a flow file. Warnings do not stop the flow from loading."""

    file: str
    line: int | None
    message: str
    severity: str = "error"  # error | warning

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {'warning: ' if self.severity == 'warning' else ''}{self.message}"


class FlowFileError(Exception):
    """A flow file that cannot be used; ``errors`` holds every problem found."""

    def __init__(self, errors: list[FlowError]) -> None:
        super().__init__("\n".join(map(str, errors)))
        self.errors = errors


def hint(word: str, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


def setting_name(where: str) -> str:
    return where if where == "the file" else f"`{where}`"


def shape(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a block of `name: value` lines"
    return "a list" if isinstance(node, SequenceNode) else "a single value"


class Reader:
    """Reads values out of YAML nodes, recording a plain-words error where one is wrong."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[FlowError] = []
        self._keys: dict[int, Node] = {}

    def error(self, at: Node | None, message: str, severity: str = "error") -> None:
        # A problem with a block (a text, a level) is shown at its name, not its first line.
        at = self._keys.get(id(at), at)
        line = at.start_mark.line + 1 if at is not None else None
        self.errors.append(FlowError(self.file, line, message, severity))

    def mapping(
        self,
        node: Node,
        where: str,
        known: Collection[str] | None = None,
        required: Collection[str] = (),
    ) -> dict[str, Node] | None:
        if not isinstance(node, MappingNode):
            self.error(
                node,
                f"{setting_name(where)} should be a block of `name: value` lines, "
                f"but it is {shape(node)}",
            )
            return None
        out: dict[str, Node] = {}
        for key_node, value in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else ""
            if not key:
                self.error(key_node, f"{setting_name(where)} has an entry without a plain name")
            elif key in out:
                self.error(
                    key_node,
                    f"`{where}.{key}` appears twice; keep only one "
                    f"(the first is on line {out[key].start_mark.line + 1})",
                )
            elif known is not None and key not in known:
                self.error(
                    key_node,
                    f"`{key}` is not a setting of {setting_name(where)}{hint(key, known)}"
                    f" (known: {', '.join(known)})",
                )
            else:
                out[key] = value
                self._keys[id(value)] = key_node
        for key in required:
            if key not in out:
                self.error(
                    node, f"{setting_name(where)} is missing `{key}`; add it (see flows/README.md)"
                )
        return out

    def string(self, node: Node, where: str) -> str | None:
        if not isinstance(node, ScalarNode):
            self.error(
                node, f"{setting_name(where)} should be a single text, but it is {shape(node)}"
            )
            return None
        if not node.tag.startswith("tag:yaml.org,2002:"):
            self.error(node, f"{setting_name(where)} uses a YAML tag ({node.tag}); remove it")
            return None
        if not node.value.strip():
            self.error(node, f"{setting_name(where)} is empty; write a value")
            return None
        return str(node.value)

    def strings(self, node: Node, where: str) -> list[tuple[str, Node]]:
        if not isinstance(node, SequenceNode):
            self.error(
                node,
                f"{setting_name(where)} should be a list such as [a, b], but it is {shape(node)}",
            )
            return []
        values = [(self.string(item, where), item) for item in node.value]
        return [(value, item) for value, item in values if value is not None]

    def flag(self, node: Node, where: str) -> bool:
        """``true`` or ``false``; anything else is an error, read as false."""
        text = self.string(node, where)
        if text not in ("true", "false"):
            self.error(node, f"{setting_name(where)} should be true or false")
        return text == "true"

    def durations(self, body: Mapping[str, Node], where: str) -> dict[str, timedelta | None]:
        """The durations (30m, 2h, 7d) of a mapping's values; one that is not a duration
        is an error here, and None in the result."""
        values: dict[str, timedelta | None] = {}
        for name, value in body.items():
            text = self.string(value, f"{where}.{name}")
            try:
                values[name] = parse_duration(text) if text is not None else None
            except ValueError as exc:
                self.error(value, f"{setting_name(f'{where}.{name}')}: {exc}")
                values[name] = None
        return values

    def level(self, node: Node, where: str) -> Level | None:
        text = self.string(node, where)
        try:
            return None if text is None else Level.parse(text)
        except ValueError as exc:
            self.error(node, f"{setting_name(where)}: {exc}")
            return None

    def per_language(
        self, node: Node | None, where: str, languages: Sequence[str], complete: bool = True
    ) -> dict[str, Node]:
        entries = (self.mapping(node, where) if node is not None else None) or {}
        for lang, value in entries.items():
            if lang not in languages:
                self.error(
                    value,
                    f"`{where}.{lang}`: `{lang}` is not one of the flow's "
                    f"languages ({', '.join(languages)}); remove it or add it to "
                    "`languages`",
                )
        for lang in languages if complete else ():
            if lang not in entries:
                self.error(
                    node, f"{setting_name(where)} has no `{lang}` wording; add a `{lang}:` line"
                )
        return {lang: value for lang, value in entries.items() if lang in languages}


def compose(
    path: Path, r: Reader, empty: str, data: bytes | None = None
) -> tuple[Node, bytes] | None:
    """The file's YAML root node and its bytes (``data``, when given, instead of the
    file's); None, with the reason recorded in ``r``, when it cannot be read, is too big,
    is not UTF-8, is not YAML or is empty."""
    try:
        data = path.read_bytes() if data is None else data
        if len(data) > MAX_FILE_BYTES:
            r.error(None, f"the file is larger than {MAX_FILE_BYTES} bytes; is it the right one?")
            return None
        text = data.decode("utf-8")
    except OSError as exc:
        r.error(None, f"cannot read the file: {exc.strerror or exc}")
        return None
    except UnicodeDecodeError:
        r.error(None, "the file is not UTF-8 text; save it as UTF-8")
        return None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = exc.problem or exc.context or "the YAML is malformed"
        r.errors.append(
            FlowError(
                r.file,
                mark.line + 1 if mark is not None else None,
                f"this is not valid YAML ({reason}); check the indentation, colons and "
                "quotes on this line or the one above",
            )
        )
        return None
    if root is None:
        r.error(None, empty)
        return None
    return root, data


class Reloading(Generic[T]):
    """A value loaded from files, loaded again when one of them changes (modification
    time or size, checked on each ``current()``).

    A broken edit keeps the last good value and logs its errors once; ``errors`` holds
    them until a good edit replaces them. The first load must succeed (FlowFileError
    otherwise).
    """

    def __init__(self, what: str, paths: Sequence[Path | None], load: Callable[[], T]) -> None:
        self._what, self._paths, self._load_value = what, tuple(paths), load
        self._lock = threading.Lock()
        self._seen = self._stamp()
        self._value = load()
        self.errors: list[FlowError] = []

    def _stamp(self) -> tuple[tuple[int, int] | None, ...]:
        stamps: list[tuple[int, int] | None] = []
        for path in self._paths:
            try:
                stat = path.stat() if path is not None else None
            except OSError:
                stat = None
            stamps.append((stat.st_mtime_ns, stat.st_size) if stat else None)
        return tuple(stamps)

    def current(self) -> T:
        """The latest good value."""
        with self._lock:
            stamp = self._stamp()
            if stamp != self._seen:
                self._seen = stamp  # before reading: a later change will be seen next time
                where = self._paths[0]
                try:
                    self._value, self.errors = self._load_value(), []
                    log.info("%s reloaded from %s", self._what, where)
                except FlowFileError as exc:
                    self.errors = exc.errors
                    log.error(
                        "%s %s not reloaded; keeping the last good one:\n%s", self._what, where, exc
                    )
            return self._value
