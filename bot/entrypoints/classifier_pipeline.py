"""The classifier `gangway classify` and `gangway eval` share with the live service: the
flow in force, Rasa's NLU and the trained sensitivity model, or a plain reason why not.

Both commands exit 2 (``EXIT_CANNOT_RUN``) when nothing can be measured: Rasa unreachable
or without a model, no sensitivity model, a flow that cannot be used.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, FlowFileError, FlowStore
from bot.adapters.model_files import ModelFileError, load_model, model_in_use
from bot.config import load_settings
from bot.domain.sensitivity_model import LinearModel
from bot.entrypoints.stack_file import rasa_token
from bot.service_layer.classification import Classifier
from bot.service_layer.errors import IntegrationError
from integrations.rasa import RasaClient

__all__ = [
    "EXIT_CANNOT_RUN",
    "FlowOption",
    "NoModelOption",
    "NoNluOption",
    "Pipeline",
    "RasaUrlOption",
    "pipeline",
]

EXIT_CANNOT_RUN = 2

FlowOption = Annotated[
    Path | None,
    typer.Option(
        "--flow",
        help="The flow file whose levels rules to use (default: GANGWAY_FLOW, as the service).",
        dir_okay=False,
    ),
]
RasaUrlOption = Annotated[
    str | None,
    typer.Option("--rasa-url", help="Rasa server to ask (default: RASA_URL from the settings)."),
]
NoNluOption = Annotated[
    bool,
    typer.Option("--no-nlu", help="Without Rasa's NLU: the rules and the sensitivity model only."),
]
NoModelOption = Annotated[
    bool,
    typer.Option("--no-model", help="Without the sensitivity model (to measure what it adds)."),
]


class _CannotRun(Exception):
    """Nothing can be classified; the message says why and what to do."""


@dataclass
class Pipeline:
    classifier: Classifier
    flows: FlowStore
    rasa: RasaClient | None
    model: LinearModel | None

    def describe(self) -> str:
        nlu = "none (--no-nlu)" if self.rasa is None else self.rasa.base_url
        model = "none (--no-model)" if self.model is None else self.model.name
        return f"classifier: flow {self.flows.path}, NLU {nlu}, sensitivity model {model}"

    def close(self) -> None:
        if self.rasa is not None:
            self.rasa.close()


def _flow_store(flow: Path) -> FlowStore:
    try:
        return FlowStore(flow, DEFAULT_DOMAIN_PATH)
    except FlowFileError as exc:
        raise _CannotRun(f"the flow {flow} cannot be used:\n{exc}") from exc


def _connect_rasa(rasa_url: str | None) -> RasaClient:
    """A client for a Rasa server that answers and has a model loaded; _CannotRun if not."""
    settings = load_settings()
    url = rasa_url or settings.rasa_url
    token = rasa_token(settings)
    client = RasaClient(url, token=token, timeout=10.0)
    start = (
        "start the stack with `gangway up` (or `make up`), pass --rasa-url for another "
        "server, or --no-nlu to classify with the rules alone"
    )
    try:
        client.version()
    except IntegrationError as exc:
        client.close()
        raise _CannotRun(f"cannot reach Rasa at {url} ({exc.message}): {start}.") from exc
    try:
        client.status()
    except IntegrationError as exc:
        client.close()
        raise _CannotRun(f"Rasa at {url} cannot parse messages: {exc.message}.") from exc
    return client


def _load_model() -> LinearModel:
    """The sensitivity model the service would load; _CannotRun if there is none."""
    path = model_in_use(load_settings().gangway_sensitivity_model)
    try:
        return load_model(path)
    except ModelFileError as exc:
        raise _CannotRun(f"{exc}, or pass --no-model to classify without it") from exc


@contextmanager
def pipeline(
    flow: Path | None, rasa_url: str | None, no_nlu: bool, no_model: bool = False
) -> Iterator[Pipeline]:
    """The classifier, or exit 2 with the reason on stderr."""
    try:
        store = _flow_store(flow or load_settings().gangway_flow)
        model = None if no_model else _load_model()
        rasa = None if no_nlu else _connect_rasa(rasa_url)
    except _CannotRun as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN) from exc
    if no_nlu:
        typer.echo(
            "classifying without Rasa's NLU (--no-nlu): detectors, flow rules"
            + (" and the sensitivity model" if model else "")
            + " only",
            err=True,
        )
    found = Pipeline(Classifier(store, rasa, model), store, rasa, model)
    try:
        yield found
    except IntegrationError as exc:
        where = found.rasa.base_url if found.rasa else "Rasa"
        typer.echo(f"error: Rasa at {where} stopped answering: {exc.message}", err=True)
        raise typer.Exit(EXIT_CANNOT_RUN) from exc
    finally:
        found.close()
