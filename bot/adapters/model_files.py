"""The trained sensitivity model on disk: where it lives, whether it is current, and its
file format.

A model is trained from the files under ``data/sensitivity/`` and the code that turns
them into features and weights; the fingerprint covers all of them (and the
scikit-learn release), so ``gangway model train --if-needed`` retrains exactly when one
changed, as the set-up does for the Rasa model. The model is saved as
``var/models/sensitivity-<fingerprint>.json.gz``: JSON holding the settings, the
vocabulary, and the numbers as base64 of little-endian doubles (exact, and compact).
Loading it reads numbers only; nothing in the file is executed.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import sys
import tempfile
from array import array
from importlib import metadata
from pathlib import Path
from typing import Any

from bot.adapters.model_training import TrainingSettings
from bot.adapters.training_set import TRAINING_DIR, training_files
from bot.config import REPO_ROOT
from bot.domain.levels import Level
from bot.domain.model_features import Features
from bot.domain.sensitivity_model import LinearModel

__all__ = [
    "FORMAT",
    "MODELS_DIR",
    "MODEL_PREFIX",
    "ModelFileError",
    "fingerprint",
    "load_model",
    "model_in_use",
    "model_path",
    "read_metadata",
    "save_model",
]

FORMAT = 1
MODELS_DIR = Path("var") / "models"
MODEL_PREFIX = "sensitivity-"
# The code whose change changes the trained model.
_CODE = (
    Path("bot") / "domain" / "model_features.py",
    Path("bot") / "domain" / "follow_ups.py",
    Path("bot") / "adapters" / "model_training.py",
)


class ModelFileError(ValueError):
    """A model file that cannot be used, and why, in plain words."""


def _sklearn_version() -> str:
    """The installed scikit-learn's version, read without importing it (the service
    only reads weights and need not load scikit-learn for that)."""
    try:
        return metadata.version("scikit-learn")
    except metadata.PackageNotFoundError:
        return "absent"


def fingerprint(root: Path, settings: TrainingSettings | None = None) -> str:
    """16 hex digits of a SHA-256 over the training data, the training code, the
    settings and the scikit-learn release."""
    root = Path(root)
    digest = hashlib.sha256()
    inputs = [*training_files(root / TRAINING_DIR), *(root / p for p in _CODE)]
    for path in sorted(inputs):
        content = path.read_bytes() if path.is_file() else b""
        rel = path.relative_to(root).as_posix()
        # Length-prefixed, so no two different trees can produce the same byte stream.
        digest.update(f"{rel}\0{len(content)}\0".encode())
        digest.update(content)
    extra = {"settings": (settings or TrainingSettings()).as_dict(), "sklearn": _sklearn_version()}
    digest.update(json.dumps(extra, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def model_path(root: Path, settings: TrainingSettings | None = None) -> Path:
    """The model the current files train: var/models/sensitivity-<fingerprint>.json.gz."""
    name = f"{MODEL_PREFIX}{fingerprint(root, settings)}.json.gz"
    return Path(root) / MODELS_DIR / name


def model_in_use(configured: Path | None) -> Path:
    """The model the service loads: ``configured`` (GANGWAY_SENSITIVITY_MODEL) when set,
    else the one the current data and code train."""
    return configured or model_path(REPO_ROOT)


def _pack(values: array) -> str:
    if sys.byteorder != "little":
        values = array(values.typecode, values)
        values.byteswap()
    return base64.b64encode(values.tobytes()).decode("ascii")


def _unpack(text: str) -> array:
    values = array("d")
    values.frombytes(base64.b64decode(text.encode("ascii"), validate=True))
    if sys.byteorder != "little":
        values.byteswap()
    return values


def save_model(model: LinearModel, path: Path, metadata: dict[str, Any]) -> None:
    """Write ``model`` to ``path`` atomically (a reader never sees half a file)."""
    table = model.table()
    document = {
        "format": FORMAT,
        "name": model.name,
        "features": model.features.as_dict(),
        "classes": [level.label for level in model.classes],
        "sublinear_tf": table["sublinear_tf"],
        "vocabulary": table["vocabulary"],
        "idf": _pack(table["idf"]),
        "weights": _pack(table["weights"]),
        "intercepts": list(table["intercepts"]),
        "metadata": metadata,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
            f.write(json.dumps(document, ensure_ascii=False).encode("utf-8"))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _document(path: Path) -> dict[str, Any]:
    try:
        with gzip.open(path, "rb") as f:
            document = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        raise ModelFileError(
            f"there is no sensitivity model at {path}: train it with `make model` "
            "(or `gangway model train`)"
        ) from None
    except (OSError, EOFError, ValueError) as exc:
        raise ModelFileError(f"{path} is not a sensitivity model file ({exc})") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ModelFileError(
            f"{path} was written in another format than this gangway reads ({FORMAT}): "
            "train it again with `make model`"
        )
    return document


def read_metadata(path: Path) -> dict[str, Any]:
    """What the model file says about its training (data, time, cross-validation)."""
    metadata = _document(path).get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def load_model(path: Path) -> LinearModel:
    """The model saved at ``path``; ModelFileError saying what is wrong."""
    document = _document(path)
    try:
        features = document["features"]
        vocabulary = document["vocabulary"]
        return LinearModel(
            name=str(document["name"]),
            features=Features(
                (int(features["chars"][0]), int(features["chars"][1])),
                (int(features["words"][0]), int(features["words"][1])),
            ),
            vocabulary={str(term): index for index, term in enumerate(vocabulary)},
            idf=_unpack(document["idf"]),
            weights=_unpack(document["weights"]),
            intercepts=[float(v) for v in document["intercepts"]],
            classes=[Level.parse(name) for name in document["classes"]],
            sublinear_tf=bool(document["sublinear_tf"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path} is damaged or incomplete ({exc})") from exc
