"""`gangway flows`: check marketing's flow files and draw the conversation statechart.

`validate` checks flow files and the routing file (``flows/routing.yml``, or any file
``bot.adapters.routing_file.is_routing_file`` recognises) each by its own rules.

Exit codes: 0 all good; 1 a flow or routing file has errors, or the diagram could not be drawn;
2 the command was used wrongly (a file that does not exist, an unknown picture format).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from bot.entrypoints import flow_versions_cli

__all__ = ["flows_app"]

flows_app = typer.Typer(
    help="Marketing's flow files (flows/*.yml): check them, draw the statechart.",
    no_args_is_help=True,
)
# propose, pending, approve, reject, versions: governed flow changes.
flow_versions_cli.register(flows_app)


def _flow_files(paths: list[Path]) -> list[Path]:
    """The files to check: each path given (a folder stands for its *.yml); exit 2 if absent."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.yml"))
            if not found:
                typer.echo(f"{path}: this folder holds no .yml flow files", err=True)
                raise typer.Exit(2)
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            typer.echo(f"{path}: no such file", err=True)
            raise typer.Exit(2)
    return files


@flows_app.command("validate")
def validate(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Flow or routing files, or folders, to check (default: every flows/*.yml)."
        ),
    ] = None,
    domain: Annotated[
        Path | None,
        typer.Option(help="The Rasa domain whose utter_* responses every flow must word."),
    ] = None,
) -> None:
    """Check flow and routing files; print file:line and what to change for each problem."""
    from bot.adapters.flow_files import DEFAULT_DOMAIN_PATH, FLOWS_DIR, validate_files
    from bot.adapters.routing_file import (
        DEFAULT_ROUTING_PATH,
        is_routing_file,
        routing_products,
        validate_routing_files,
    )

    domain_path = domain or DEFAULT_DOMAIN_PATH
    if not domain_path.is_file():
        typer.echo(f"{domain_path}: no such file (the Rasa domain)", err=True)
        raise typer.Exit(2)
    # Never hand validate_files an empty list: it would then check every flows/*.yml,
    # the routing file included, as a flow.
    paths = _flow_files(files) if files else sorted(FLOWS_DIR.glob("*.yml"))
    routing = [path for path in paths if is_routing_file(path)]
    flows = [path for path in paths if path not in routing]
    # sys.stdout looked up now, not at import: the caller may have replaced it.
    # Qualified products must be routing products: checked against the routing file
    # given, else the shipped one.
    products = routing_products(routing[0] if routing else DEFAULT_ROUTING_PATH)
    code = validate_files(flows, sys.stdout, domain_path, products) if flows else 0
    if not flows and not files:
        typer.echo(f"no flow files found in {FLOWS_DIR}")
        code = 1
    if routing:
        code = max(code, validate_routing_files(routing, sys.stdout))
    raise typer.Exit(code)


@flows_app.command("diagram")
def diagram(
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Where to write the picture: a .png or .svg file, or .mmd/.md (Mermaid)."
        ),
    ],
) -> None:
    """Draw the conversation statechart: PNG or SVG (needs Graphviz), or Mermaid source."""
    from bot.entrypoints.diagram import GraphvizMissing, write_diagram

    try:
        written = write_diagram(out)
    except ValueError as exc:  # a suffix that names no format
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    except GraphvizMissing as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    except (RuntimeError, OSError) as exc:
        typer.echo(f"could not draw the diagram to {out}: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"statechart drawn to {written}")
