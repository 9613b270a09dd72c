"""Reading the sensitivity model's training data, and refusing it in plain words."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.adapters.training_set import TrainingSetError, load_training_set, training_files
from bot.domain.levels import Level

REPO = Path(__file__).resolve().parents[2]


def write(root: Path, writer: str, body: str, name: str = "en.yml") -> Path:
    folder = root / writer
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(body, encoding="utf-8")
    return path


def test_items_keep_their_writer_context_and_line(tmp_path: Path) -> None:
    """Each item knows who wrote it, its context and where it is."""
    write(tmp_path, "alice", '# a comment\n- text: "hi"\n  language: en\n  level: public\n'
          '- text: "yes do it"\n  context: "sell my tesla?"\n  language: en\n  level: order\n'
          '  note: "a go-ahead"\n')  # fmt: skip
    hi, go = load_training_set(tmp_path)
    assert (hi.writer, hi.level, hi.context, hi.line) == ("alice", Level.PUBLIC, None, 2)
    assert (go.text, go.context, go.level, go.line) == (
        "yes do it",
        "sell my tesla?",
        Level.ORDER,
        5,
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('- text: "hi"\n  language: en\n  level: secret\n', "unknown level 'secret'"),
        ('- text: "hi"\n  language: it\n  level: public\n', "language must be one of"),
        ('- text: "hi"\n  language: en\n', "missing level"),
        ('- text: ""\n  language: en\n  level: public\n', "missing text"),
        ('- text: "hi"\n  language: en\n  level: public\n  hard: true\n', "unknown field 'hard'"),
        ('- text: "hi"\n  context: 3\n  language: en\n  level: public\n', "context must be"),
        (
            '- text: "hi"\n  language: en\n  level: public\n- text: "HI "\n  language: en\n'
            "  level: public\n",
            "duplicate",
        ),
        ("- text: [unclosed\n", "not valid YAML"),
        ("text: hi\n", "should be a list"),
    ],
)
def test_a_bad_item_is_refused_with_its_file_and_line(
    tmp_path: Path, body: str, reason: str
) -> None:
    """The error names the file, the line and what is wrong."""
    path = write(tmp_path, "bob", body)
    with pytest.raises(TrainingSetError, match=reason) as caught:
        load_training_set(tmp_path)
    assert str(path) in str(caught.value)


def test_the_same_message_from_two_writers_is_kept(tmp_path: Path) -> None:
    """Two writers writing the same words wrote them independently: both count."""
    item = '- text: "hi"\n  language: en\n  level: public\n'
    write(tmp_path, "alice", item)
    write(tmp_path, "bob", item)
    assert [m.writer for m in load_training_set(tmp_path)] == ["alice", "bob"]


def test_no_data_at_all_is_an_error(tmp_path: Path) -> None:
    """An empty folder cannot train a model."""
    with pytest.raises(TrainingSetError, match="no training data"):
        load_training_set(tmp_path)


def test_the_shipped_data_is_big_enough_in_every_language_and_level() -> None:
    """At least 6,000 messages by at least four writers, 1,200 per language and 200 per
    level and language."""
    messages = load_training_set(REPO / "data" / "sensitivity")
    assert len(messages) >= 6000
    assert len({m.writer for m in messages}) >= 4
    for language in ("en", "de", "fr", "es"):
        mine = [m for m in messages if m.language == language]
        assert len(mine) >= 1200, language
        for level in Level:
            assert sum(m.level == level for m in mine) >= 200, (language, level)


def test_only_writer_folders_hold_training_files() -> None:
    """The README beside the writers' folders is not training data."""
    files = training_files(REPO / "data" / "sensitivity")
    assert files and all(f.parent.parent.name == "sensitivity" for f in files)
    assert all(f.suffix == ".yml" for f in files)
