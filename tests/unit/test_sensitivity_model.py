"""The learned sensitivity model: its features, training, scoring, file and fingerprint."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from bot.adapters.model_files import (
    ModelFileError,
    fingerprint,
    load_model,
    model_path,
    read_metadata,
    save_model,
)
from bot.adapters.model_training import (
    TrainingSettings,
    cross_validate,
    examples,
    fit,
)
from bot.adapters.training_set import TrainingMessage
from bot.domain.levels import Level
from bot.domain.model_features import Features, normalise
from bot.domain.sensitivity_model import LevelScores
from tests.fakes.models import tiny_messages, tiny_model

REPO = Path(__file__).resolve().parents[2]
TEXTS = [
    "hi there",
    "should i invest my savings in etfs",
    "Ich möchte 10 Aktien kaufen!!!",
    "je suis né le 3 mars 1990",
    "nothing this model has ever seen: zebra quantum",
    "",
]


def test_normalising_folds_case_accents_digits_and_stretched_letters() -> None:
    """Typed variants of a message look alike to the model."""
    assert normalise("Ich MÖCHTE 4.200 €, sooooo") == "ich mochte 0.000 €, soo"
    assert normalise("DÉBERÍA") == normalise("deberia")


def test_features_are_word_and_character_n_grams() -> None:
    """Words, word pairs and the letter n-grams inside each padded word."""
    features = Features(chars=(2, 3), words=(1, 2))("buy 10")
    assert "w buy" in features and "w buy 00" in features
    assert "c b" in features and "cbu" in features and "c00 " in features
    assert not any(f.startswith("c") and " " in f[1:].strip() for f in features)


def test_scores_are_cumulative_and_never_rise_with_the_level() -> None:
    """A level's score is the chance of that level or above: order <= ... <= identity."""
    model = tiny_model()
    for text in TEXTS:
        probabilities = model.probabilities(text)
        assert sum(probabilities.values()) == pytest.approx(1.0)
        scores = model.score(text).scores
        assert list(scores) == [Level.ORDER, Level.ADVICE, Level.FINANCIAL, Level.IDENTITY]
        assert scores[Level.ORDER] == pytest.approx(probabilities[Level.ORDER])
        values = [scores[level] for level in sorted(scores)]
        assert values == sorted(values, reverse=True)


def test_scoring_from_weights_gives_scikit_learns_probabilities() -> None:
    """The plain-Python scorer the service runs equals scikit-learn's predict_proba."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    model = tiny_model()
    messages = tiny_messages()
    settings = TrainingSettings(min_df=1)
    vectoriser = TfidfVectorizer(analyzer=settings.features, min_df=1, sublinear_tf=True)
    matrix = vectoriser.fit_transform([m.text for m in messages])
    classifier = LogisticRegression(C=settings.c, max_iter=2000, class_weight="balanced")
    classifier.fit(matrix, [int(m.level) for m in messages])
    expected = classifier.predict_proba(vectoriser.transform(TEXTS))
    for text, row in zip(TEXTS, expected, strict=True):
        got = model.probabilities(text)
        for column, level in enumerate(classifier.classes_):
            assert got[Level(int(level))] == pytest.approx(row[column], abs=1e-12)


def test_the_highest_level_reaching_its_minimum_wins() -> None:
    """Levels without a minimum never count; the highest passing level is the evidence."""
    scores = LevelScores(
        "m", {Level.IDENTITY: 0.9, Level.FINANCIAL: 0.7, Level.ADVICE: 0.5, Level.ORDER: 0.2}
    )
    assert scores.highest({Level.IDENTITY: 0.5, Level.FINANCIAL: 0.8}) == (Level.IDENTITY, 0.9)
    assert scores.highest({Level.FINANCIAL: 0.6, Level.ORDER: 0.3}) == (Level.FINANCIAL, 0.7)
    assert scores.highest({Level.ORDER: 0.1, Level.IDENTITY: 0.5}) == (Level.ORDER, 0.2)
    assert scores.highest({Level.IDENTITY: 0.95}) is None
    assert scores.highest({}) is None


def test_messages_are_learned_as_they_read_on_their_own() -> None:
    """A standalone message is learned at its label; a follow-up only when it is public
    in its context too; "yes, do it" that is an order only after a question is left out."""
    sell = TrainingMessage("yes, do it", "en", Level.ORDER, "w", context="sell my tesla?")
    thanks = TrainingMessage("ok thanks", "en", Level.PUBLIC, "w", context="what are the fees?")
    hours = TrainingMessage("what time do you open?", "en", Level.PUBLIC, "w", "my iban is")
    salary = TrainingMessage("about forty grand before tax", "en", Level.FINANCIAL, "w", "and you?")
    assert examples([sell, thanks, hours, salary]) == [
        ("ok thanks", Level.PUBLIC),
        ("what time do you open?", Level.PUBLIC),
        ("about forty grand before tax", Level.FINANCIAL),
    ]


def test_a_saved_model_loads_with_the_same_scores_and_metadata(tmp_path: Path) -> None:
    """Saving and loading keeps every weight exactly, and the metadata alongside."""
    model = tiny_model()
    path = tmp_path / "m.json.gz"
    save_model(model, path, {"messages": 42})
    loaded = load_model(path)
    assert loaded.size == model.size and loaded.classes == model.classes
    for text in TEXTS:
        assert loaded.probabilities(text) == model.probabilities(text)
    assert read_metadata(path) == {"messages": 42}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json.gz"]  # no temporary file left


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        # mtime=0: the contents name the tests, and every xdist worker must collect the
        # same names (a gzip header otherwise holds the second it was made).
        (b"not gzip at all", "is not a sensitivity model file"),
        (gzip.compress(b"{broken json", mtime=0), "is not a sensitivity model file"),
        (gzip.compress(json.dumps({"format": 99}).encode(), mtime=0), "another format"),
        (gzip.compress(json.dumps({"format": 1, "name": "m"}).encode(), mtime=0), "damaged"),
    ],
)
def test_a_bad_model_file_is_refused_in_plain_words(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    """A model file that is not one, damaged or of another format: ModelFileError."""
    path = tmp_path / "m.json.gz"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=reason):
        load_model(path)


def test_a_missing_model_says_how_to_train_it(tmp_path: Path) -> None:
    """No file: the error names `make model`."""
    with pytest.raises(ModelFileError, match="make model"):
        load_model(tmp_path / "none.json.gz")


def _tree(tmp_path: Path) -> Path:
    """A copy of the files the fingerprint reads, with one small writer's data."""
    for rel in ("bot/domain/model_features.py", "bot/domain/follow_ups.py",
                "bot/adapters/model_training.py"):  # fmt: skip
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, tmp_path / rel)
    writer = tmp_path / "data" / "sensitivity" / "someone"
    writer.mkdir(parents=True)
    (writer / "en.yml").write_text('- text: "hi"\n  language: en\n  level: public\n')
    return tmp_path


def test_the_fingerprint_follows_the_training_data_and_code_only(tmp_path: Path) -> None:
    """Editing the data or the feature code retrains; a README or other code does not."""
    root = _tree(tmp_path)
    first = fingerprint(root)
    assert model_path(root).name == f"sensitivity-{first}.json.gz"
    (root / "data" / "sensitivity" / "README.md").write_text("notes")
    (root / "bot" / "domain" / "other.py").write_text("x = 1\n")
    assert fingerprint(root) == first
    data = root / "data" / "sensitivity" / "someone" / "en.yml"
    data.write_text(data.read_text() + '- text: "bye"\n  language: en\n  level: public\n')
    second = fingerprint(root)
    assert second != first
    features = root / "bot" / "domain" / "model_features.py"
    features.write_text(features.read_text() + "\n# changed\n")
    assert fingerprint(root) not in (first, second)
    assert fingerprint(root, TrainingSettings(c=1.0)) != fingerprint(root)


def test_cross_validation_holds_each_writer_out() -> None:
    """Each writer gets a model trained on the others' messages only."""
    messages = tiny_messages()
    models = cross_validate(messages, TrainingSettings(min_df=1))
    assert sorted(models) == ["w0", "w1"]
    assert models["w0"].name == "without-w0"
    with pytest.raises(ValueError, match="two writers"):
        cross_validate([m for m in messages if m.writer == "w0"], TrainingSettings())


def test_training_learns_the_levels_it_was_shown() -> None:
    """Messages seen in training come back at their level from the trained model."""
    model = fit(tiny_messages(), TrainingSettings(min_df=1), name="tiny")
    for message in tiny_messages():
        probabilities = model.probabilities(message.text)
        assert max(probabilities, key=lambda level: probabilities[level]) == message.level
