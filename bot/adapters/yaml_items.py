"""Reading a YAML file that is a list of items (the evaluation sets, the training data).

The file is composed with PyYAML's safe loader, node by node, so that every error can
name the line of the item at fault; a tag asking for a Python object is an error, never
run. Each item is a mapping of known fields; what the fields must hold is the caller's
business, this module only hands them over with their line.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Item", "ItemFileError", "read_items"]


class ItemFileError(ValueError):
    """A file of items cannot be used: which file, which line and what is wrong."""

    def __init__(self, path: Path, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(path={str(self.path)!r}, line={self.line!r}, "
            f"reason={self.reason!r})"
        )


@dataclass(frozen=True)
class Item:
    """One item's fields as written, and the line it starts on."""

    line: int
    fields: dict[str, Any]


def read_items(path: Path, fields: Sequence[str], error: type[ItemFileError]) -> Iterator[Item]:
    """The items of ``path`` in file order; ``error`` at the first one that cannot be read
    (not YAML, not a list, an item that is not a mapping, a field not in ``fields``)."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise error(path, None, f"cannot read the file ({reason})") from exc
    loader = yaml.SafeLoader(source)
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            line = exc.problem_mark.line + 1 if exc.problem_mark else None
            raise error(path, line, f"not valid YAML: {exc.problem}") from exc
        except yaml.YAMLError as exc:
            raise error(path, None, f"not valid YAML: {exc}") from exc
        if root is None:
            raise error(path, 1, "the file is empty: it should be a list of items")
        if not isinstance(root, yaml.SequenceNode):
            raise error(
                path, root.start_mark.line + 1, "the file should be a list of items (- text: ...)"
            )
        for node in root.value:
            yield _item(path, fields, error, loader, node)
    finally:
        loader.dispose()


def _item(
    path: Path,
    fields: Sequence[str],
    error: type[ItemFileError],
    loader: yaml.SafeLoader,
    node: yaml.Node,
) -> Item:
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.MappingNode):
        raise error(path, line, f"an item should be a mapping with {', '.join(fields[:3])}")
    values: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str) or key not in fields:
            raise error(path, line, f"unknown field {key!r}: use {', '.join(fields)}")
        try:
            values[key] = loader.construct_object(value_node, deep=True)
        except yaml.YAMLError as exc:
            raise error(path, line, f"field {key!r} cannot be read: {exc}") from exc
    return Item(line, values)
