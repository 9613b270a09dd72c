"""`gangway flows test` and `gangway simulate`: a flow played against the real bot.

Both start a private stack (bot.entrypoints.flow_test_stack): Rasa and its action
server from `.venv-rasa` with the trained model, unless `--rasa-url` names one already
running (with its token, its action server, and the port where it expects gangway),
then gangway on a temporary database with the flow asked for.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from bot.config import load_settings

if TYPE_CHECKING:  # the stack's modules load when a command runs, not at import
    from bot.entrypoints.flow_test_rasa import RasaEndpoints
    from bot.entrypoints.flow_test_stack import Prospect

__all__ = ["flows_test", "simulate"]

RasaUrl = Annotated[
    str | None,
    typer.Option(
        "--rasa-url",
        help="Play against this running Rasa instead of starting one "
        "(with --rasa-token, --action-server-url, --gangway-port, --service-token).",
    ),
]
RasaToken = Annotated[str | None, typer.Option("--rasa-token", envvar="RASA_TOKEN")]
ActionUrl = Annotated[str | None, typer.Option("--action-server-url")]
GangwayPort = Annotated[
    int | None, typer.Option("--gangway-port", help="Where that Rasa expects gangway.")
]
ServiceToken = Annotated[
    str | None, typer.Option("--service-token", envvar="GANGWAY_SERVICE_TOKEN")
]


def _logs() -> Path:
    """Where the private stack's parts write their logs."""
    return load_settings().state_dir / "flow-tests" / "log"


def _rasa(
    url: str | None,
    token: str | None,
    action_url: str | None,
    port: int | None,
    service_token: str | None,
) -> Callable[[], AbstractContextManager[RasaEndpoints]]:
    """How to get Rasa: the running one given, all its parts named, or a new one."""
    from bot.entrypoints.flow_test_rasa import RasaEndpoints, started_rasa
    from bot.entrypoints.supervisor import rasa_model_path

    if url is not None:
        missing = [
            flag
            for flag, value in (
                ("--rasa-token", token),
                ("--action-server-url", action_url),
                ("--gangway-port", port),
                ("--service-token", service_token),
            )
            if not value
        ]
        if missing:
            typer.echo(f"with --rasa-url, also give {', '.join(missing)}", err=True)
            raise typer.Exit(2)
        assert token and action_url and port and service_token
        given = RasaEndpoints(url, token, action_url, port, service_token)

        @contextmanager
        def running() -> Iterator[RasaEndpoints]:
            yield given

        return running

    @contextmanager
    def started() -> Iterator[RasaEndpoints]:
        logs = _logs()
        logs.mkdir(parents=True, exist_ok=True)
        with started_rasa(rasa_model_path(os.environ), logs) as endpoints:
            yield endpoints

    return started


def flows_test(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Test files or folders (default: every flows/tests/*.yml)."),
    ] = None,
    rasa_url: RasaUrl = None,
    rasa_token: RasaToken = None,
    action_server_url: ActionUrl = None,
    gangway_port: GangwayPort = None,
    service_token: ServiceToken = None,
) -> None:
    """Run conversation tests against the real bot: a line per test, file:line for each
    failure. Exit 0 all passed, 1 some failed, 2 a file is invalid or the bot did not start."""
    from bot.adapters.flow_test_files import TESTS_DIR, test_files
    from bot.entrypoints.flow_test_run import run_flow_tests
    from bot.entrypoints.flow_test_stack import local_stack

    chosen = test_files(files or [TESTS_DIR])
    absent = [path for path in chosen if not path.is_file()]
    for path in absent:
        typer.echo(f"{path}: no such file", err=True)
    if absent or not chosen:
        if not chosen:
            typer.echo(f"no test files in {', '.join(map(str, files or [TESTS_DIR]))}", err=True)
        raise typer.Exit(2)
    settings = load_settings()
    code = run_flow_tests(
        chosen,
        _rasa(rasa_url, rasa_token, action_server_url, gangway_port, service_token),
        in_force=settings.gangway_flow,
        results_path=settings.flow_test_results,
        out=sys.stdout,
        stack=partial(local_stack, logs=_logs()),
    )
    raise typer.Exit(code)


def simulate(
    flow: Annotated[
        Path | None, typer.Option("--flow", help="The flow file (default: the one in force).")
    ] = None,
    variant: Annotated[
        str | None, typer.Option("--variant", help="Chat under this A/B variant of the flow.")
    ] = None,
    lang: Annotated[
        str | None, typer.Option("--lang", help="The language the conversation starts in.")
    ] = None,
    rasa_url: RasaUrl = None,
    rasa_token: RasaToken = None,
    action_server_url: ActionUrl = None,
    gangway_port: GangwayPort = None,
    service_token: ServiceToken = None,
) -> None:
    """Chat with the bot as a prospect; after each message: the replies, then the level,
    the state, what was found (never what you typed) and the flow version. End with an
    empty line or Ctrl-D."""
    from bot.adapters.flow_files import load_flow
    from bot.adapters.yaml_files import FlowFileError
    from bot.domain.flow_variants import not_running
    from bot.entrypoints.flow_test_rasa import StackError
    from bot.entrypoints.flow_test_stack import local_stack

    flow_file = flow or load_settings().gangway_flow
    if not flow_file.is_file():
        typer.echo(f"{flow_file}: no such flow file", err=True)
        raise typer.Exit(2)
    try:
        flow_in_file = load_flow(flow_file)
    except FlowFileError as exc:
        typer.echo(f"{exc}\nthe flow cannot be used (`gangway flows validate`)", err=True)
        raise typer.Exit(2) from exc
    languages = flow_in_file.languages
    if lang is not None and lang not in languages:
        typer.echo(f"--lang {lang}: the flow speaks {', '.join(languages)}", err=True)
        raise typer.Exit(2)
    runs = not_running(flow_in_file, variant)
    if runs is not None:
        typer.echo(f"--variant {variant}: not a running variant of the flow ({runs})", err=True)
        raise typer.Exit(2)
    rasa = _rasa(rasa_url, rasa_token, action_server_url, gangway_port, service_token)
    typer.echo("starting the bot (Rasa takes a minute) ...")
    try:
        with rasa() as endpoints, local_stack(endpoints, flow_file, _logs()) as stack:
            prospect = stack.prospect(variant, lang)
            typer.echo(
                f"flow {stack.flow.name} {prospect.version()}"
                f"{f', variant {variant}' if variant else ''}: type as the prospect; "
                "an empty line ends. `tap: Yes` taps a button."
            )
            chat(prospect, sys.stdin, sys.stdout)
    except StackError as exc:
        typer.echo(f"the bot could not start: {exc}", err=True)
        raise typer.Exit(2) from exc


def chat(prospect: Prospect, lines: TextIO, out: TextIO) -> None:
    """Read the prospect's messages from ``lines`` until an empty one or the end."""
    while True:
        out.write("you> ")
        out.flush()
        line = lines.readline()
        if not line.strip():
            out.write("\n")
            return
        text = line.strip()
        try:
            if text.lower().startswith("tap:"):
                seen = prospect.tap(text[4:].strip())
            else:
                seen = prospect.say(text)
        except LookupError as exc:
            out.write(f"  ({exc})\n")
            continue
        for reply in seen.replies:
            out.write("bot> " + reply.replace("\n", "\n     ") + "\n")
        if seen.buttons:
            out.write("     buttons: " + " | ".join(f"[{b}]" for b in seen.buttons) + "\n")
        if not seen.replies:
            out.write("     (no reply)\n")
        found = ", ".join(seen.evidence) or "nothing"
        out.write(
            f"  -- level {seen.level} | state {seen.state} | language {seen.language} "
            f"| found: {found} | flow {prospect.version()}\n"
        )
