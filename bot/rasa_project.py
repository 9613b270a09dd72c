"""Which Rasa model the current project files need, and whether it is already trained.

Standard library only and importable by any Python >= 3.10, so the set-up script can run
it before or beside either virtual environment:

    python -m bot.rasa_project fingerprint       # 16 hex digits
    python -m bot.rasa_project model-path        # absolute path of the model to use
    python -m bot.rasa_project training-data     # the files to pass to `rasa train --data`
    python -m bot.rasa_project needs-training    # exit 0: train it; exit 1: it is there
    python -m bot.rasa_project shared-endpoints --out FILE   # see `shared_endpoints`

`shared_endpoints` writes the endpoints file of Rasa replicas (bot/rasa/endpoints.yml
plus a shared tracker store and lock store) outside bot/rasa/, so that it changes no
fingerprint: where the trackers live is not part of the model. The Rasa container image
(deploy/Dockerfile.rasa) writes the same file with the `shared-endpoints` command.

The fingerprint covers everything that changes the trained model: the Rasa project files
under bot/rasa/ (config, domain, endpoints, and requirements.txt, because it pins the Rasa
release that trains and loads the model), locks/rasa.txt (it pins the rest of what trains:
TensorFlow, scikit-learn, NumPy; another release of one of them may train another model,
or one the installed Rasa cannot load) and the training data under data/. Rasa test
stories under data/tests/ are not training data, and data/sensitivity/ trains gangway's
own sensitivity model (bot.adapters.model_files): both are left out, so editing them never
triggers a Rasa retrain.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = [
    "ENDPOINTS",
    "SHARED_STORES",
    "fingerprint",
    "main",
    "model_path",
    "shared_endpoints",
    "training_data_paths",
]

RASA_DIR = Path("bot") / "rasa"
DATA_DIR = Path("data")
TEST_STORIES_DIR = DATA_DIR / "tests"
# The sensitivity model's training data: gangway's own model, not Rasa's.
SENSITIVITY_DIR = DATA_DIR / "sensitivity"
MODELS_DIR = Path("var") / "models"
MODEL_PREFIX = "gangway-"
YAML_SUFFIXES = (".yml", ".yaml")
RASA_REQUIREMENTS = "requirements.txt"
RASA_LOCK = Path("locks") / "rasa.txt"
ENDPOINTS = RASA_DIR / "endpoints.yml"

# What Rasa replicas need besides bot/rasa/endpoints.yml: one tracker store and one lock
# store for all of them, so any replica can take any turn of any conversation, one turn
# at a time. The values come from the environment of Rasa alone (`gangway up` sets them
# from bot.adapters.rasa_stores), unquoted so that Rasa expands them. Rasa 3.6 reads
# `url` as the host of both, and refuses to start when one of them is unset.
SHARED_STORES = """
# Added for Rasa replicas that share their conversations (`gangway up`).
tracker_store:
  type: SQL
  dialect: postgresql
  url: ${GANGWAY_RASA_TRACKER_HOST}
  port: ${GANGWAY_RASA_TRACKER_PORT}
  db: ${GANGWAY_RASA_TRACKER_DB}
  username: ${GANGWAY_RASA_TRACKER_USER}
  password: ${GANGWAY_RASA_TRACKER_PASSWORD}

lock_store:
  type: redis
  url: ${GANGWAY_RASA_LOCK_HOST}
  port: ${GANGWAY_RASA_LOCK_PORT}
  db: ${GANGWAY_RASA_LOCK_DB}
  password: ${GANGWAY_RASA_LOCK_PASSWORD}
"""


def _yaml_files(directory: Path) -> Iterator[Path]:
    if directory.is_dir():
        for path in directory.rglob("*"):
            if path.is_file() and path.suffix in YAML_SUFFIXES:
                yield path


def training_data_paths(root: Path) -> list[Path]:
    """Rasa's training data files under data/ (YAML, outside data/tests/ and
    data/sensitivity/), sorted."""
    root = Path(root)
    apart = (root / TEST_STORIES_DIR, root / SENSITIVITY_DIR)
    return sorted(p for p in _yaml_files(root / DATA_DIR) if not any(d in p.parents for d in apart))


def _model_inputs(root: Path) -> list[Path]:
    rasa_dir = root / RASA_DIR
    inputs = list(_yaml_files(rasa_dir))
    requirements = rasa_dir / RASA_REQUIREMENTS
    if requirements.is_file():
        inputs.append(requirements)
    if (root / RASA_LOCK).is_file():
        inputs.append(root / RASA_LOCK)
    inputs.extend(training_data_paths(root))
    return inputs


def fingerprint(root: Path) -> str:
    """First 16 hex digits of a SHA-256 over the relative path and bytes of every model input."""
    root = Path(root)
    digest = hashlib.sha256()
    for rel in sorted(p.relative_to(root).as_posix() for p in _model_inputs(root)):
        content = (root / rel).read_bytes()
        # Length-prefixed, so no two different trees can produce the same byte stream.
        digest.update(f"{rel}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()[:16]


def model_path(root: Path) -> Path:
    """The model trained from the current project files: var/models/gangway-<fp>.tar.gz."""
    root = Path(root)
    return root / MODELS_DIR / f"{MODEL_PREFIX}{fingerprint(root)}.tar.gz"


def shared_endpoints(root: Path, target: Path) -> Path:
    """Write ``target``: the project's endpoints file with `SHARED_STORES` added."""
    base = (Path(root) / ENDPOINTS).read_text()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(base.rstrip("\n") + "\n" + SHARED_STORES)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.rasa_project",
        description="Fingerprint of the Rasa project files and the model trained from them.",
    )
    parser.add_argument(
        "command",
        choices=[
            "fingerprint",
            "model-path",
            "training-data",
            "needs-training",
            "shared-endpoints",
        ],
        help="needs-training exits 0 when the model is missing, 1 when it is already trained",
    )
    parser.add_argument(
        "--root", type=Path, default=Path.cwd(), help="repository root (default: the current one)"
    )
    parser.add_argument(
        "--out", type=Path, help="shared-endpoints: the endpoints file to write (required)"
    )
    args = parser.parse_args(argv)
    root = args.root.resolve()

    if args.command == "fingerprint":
        print(fingerprint(root))
    elif args.command == "model-path":
        print(model_path(root))
    elif args.command == "shared-endpoints":
        if args.out is None:
            parser.error("shared-endpoints needs --out FILE")
        print(shared_endpoints(root, args.out))
    elif args.command == "training-data":
        for path in training_data_paths(root):
            print(path.relative_to(root).as_posix())
    else:
        return 1 if model_path(root).is_file() else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
