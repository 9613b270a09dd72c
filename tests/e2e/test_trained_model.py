"""The sensitivity model `make model` trained from data/sensitivity/: current, loadable by
the service, and catching in every language what the rules alone miss."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, DEFAULT_FLOW_PATH, FlowStore
from bot.adapters.model_files import fingerprint, load_model, model_path, read_metadata
from bot.domain.levels import Level
from bot.domain.sensitivity_model import LinearModel
from bot.service_layer.classification import Classifier
from tests.e2e.processes import REPO

pytestmark = pytest.mark.e2e

MODEL = Path(os.environ.get("GANGWAY_SENSITIVITY_MODEL") or model_path(REPO))

# Invented messages the default flow's rules alone judge public (checked below), in the
# four languages, each with the level a compliance officer gives it.
ONLY_THE_MODEL_SEES = [
    ("i was born on boxing day in 1987 if that matters", "en", Level.IDENTITY),
    ("we've got about forty grand sitting in an easy access pot", "en", Level.FINANCIAL),
    ("would it be daft of me to put my bonus into bitcoin?", "en", Level.ADVICE),
    ("wäre es klug für mich, die wohnung jetzt zu verkaufen?", "de", Level.ADVICE),
    ("métele 500 pavos al fondo indexado", "es", Level.ORDER),
]
PUBLIC = [
    ("what are your opening hours on saturday?", "en"),
    ("brauche ich meinen ausweis für die kontoeröffnung?", "de"),
    ("c'est combien les frais pour un virement à l'étranger ?", "fr"),
    ("prefiero no dar mi dni por aquí", "es"),
    # bare replies, which the service sees after every question it asks
    ("ja", "de"),
    ("yes please", "en"),
    ("d'accord", "fr"),
    ("vale", "es"),
    ("👍", "en"),
]


@pytest.fixture(scope="module")
def model() -> LinearModel:
    if not MODEL.exists():
        pytest.fail(f"no trained sensitivity model at {MODEL}: run `make model` (or `make test`).")
    return load_model(MODEL)


@pytest.fixture(scope="module")
def flows() -> FlowStore:
    return FlowStore(DEFAULT_FLOW_PATH, DEFAULT_DOMAIN_PATH)


def test_the_trained_model_is_the_one_the_current_data_trains(model: LinearModel) -> None:
    """Its fingerprint is the data's and code's of this tree; it saw every writer."""
    metadata = read_metadata(MODEL)
    if "GANGWAY_SENSITIVITY_MODEL" not in os.environ:
        assert metadata["fingerprint"] == fingerprint(REPO)
    assert metadata["messages"] >= 6000 and len(metadata["writers"]) >= 4
    assert model.size == metadata["n_grams"]


def test_the_model_catches_what_the_rules_miss(model: LinearModel, flows: FlowStore) -> None:
    """Disclosures, advice and orders worded past every keyword reach their level."""
    rules, both = Classifier(flows, None), Classifier(flows, None, model)
    for text, language, level in ONLY_THE_MODEL_SEES:
        assert rules.classify(text, language=language).level is Level.PUBLIC, text
        assessment = both.classify(text, language=language)
        assert assessment.level is level, text
        assert "model" in {e.source for e in assessment.evidence}


def test_public_questions_stay_public_with_the_model(model: LinearModel, flows: FlowStore) -> None:
    """Questions about documents and fees, a refusal and bare replies start no move."""
    classifier = Classifier(flows, None, model)
    for text, language in PUBLIC:
        assert classifier.classify(text, language=language).level is Level.PUBLIC, text
