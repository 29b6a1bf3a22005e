"""The ``ff`` command line: a Typer app whose subcommands come from plugins.

FuseFlow errors become one line on stderr and the exit code of their class; any
other exception is reported as an internal error. ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import sys
from importlib import metadata
from typing import Optional

import click
import typer

from fuseflow.ir.errors import FuseFlowError
from fuseflow.ir.plugins import registry

DISTRIBUTIONS = ("ff-ir", "ff-frontend", "ff-fusion", "ff-sim", "ff-dse")


def _versions() -> str:
    parts = []
    for dist in DISTRIBUTIONS:
        try:
            parts.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    return "fuseflow (" + ", ".join(parts) + ")"


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(_versions())
        raise typer.Exit()


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="ff",
        help="FuseFlow: compile and simulate sparse deep learning models on streaming dataflow.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.callback()
    def _root(
        version: Optional[bool] = typer.Option(  # noqa: UP007, UP045 - typer needs Optional
            None, "--version", callback=_version_callback, is_eager=True, help="Show versions and exit."
        ),
        debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    ) -> None:
        """FuseFlow command line."""

    for entry in registry("command").entries():
        cmd = entry.item
        if cmd.app is not None:
            app.add_typer(cmd.app, name=cmd.name, help=cmd.help or None)
        elif cmd.command is not None:
            app.command(name=cmd.name, help=cmd.help or None)(cmd.command)
    return app


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        app = build_app()
        rv = app(args=args, prog_name="ff", standalone_mode=False)
        if isinstance(rv, int) and rv != 0:  # typer.Exit(code) comes back as a return value
            sys.exit(rv)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except (click.ClickException, typer.TyperException) as e:  # typer >= 0.20 vendors click's classes
        show = getattr(e, "show", None)
        if callable(show):
            show()
        else:
            typer.echo(f"error: {e}", err=True)
        sys.exit(getattr(e, "exit_code", 2))
    except (click.exceptions.Abort, typer.Abort):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except FuseFlowError as e:
        if debug:
            raise
        typer.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except MemoryError as e:  # outside the engine's own guard (loading data, checking outputs)
        if debug:
            raise
        typer.echo(f"error: out of memory{': ' + str(e) if str(e) else ''} (the run needs more memory than "
                   "this machine has; try a smaller data set or fusion)", err=True)
        sys.exit(7)
    except Exception as e:  # noqa: BLE001 - the CLI's last line of defence
        if debug:
            raise
        typer.echo(f"internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback)", err=True)
        sys.exit(70)
