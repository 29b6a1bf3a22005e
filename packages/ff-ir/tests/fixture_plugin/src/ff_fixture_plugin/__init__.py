"""A tiny FuseFlow plugin used by ff-ir's tests to prove entry-point discovery.

It registers, through the ``fuseflow`` entry-point group:

- the format ``FIXTURE_DCSC`` (doubly compressed, column-major levels);
- the simulator engine ``fixture-echo``: ``run(program, hw=None, **options)`` simulates
  nothing; it returns an :class:`EchoResult` holding the program name, its kernel count
  and a copy of the program's recorded expected outputs (``program.expected``);
- the CLI command ``ff fixture-hello``, which prints one greeting line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import typer

from fuseflow.ir.formats import LevelFormat, TensorFormat
from fuseflow.ir.hookspecs import hookimpl
from fuseflow.ir.plugins import CliCommand, FormatSpec

FIXTURE_DCSC = TensorFormat((LevelFormat.COMPRESSED, LevelFormat.COMPRESSED), (1, 0))


@dataclass
class EchoResult:
    program: str
    kernels: int
    outputs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


class EchoEngine:
    """An engine that answers with the outputs the program already records."""

    name = "fixture-echo"

    def run(self, program: Any, hw: Any = None, **options: Any) -> EchoResult:
        return EchoResult(program.name, len(program.kernels), dict(program.expected), dict(options))


def hello(name: str = typer.Option("world", "--name", help="Whom to greet.")) -> None:
    """Print a greeting (proves plugin CLI commands are mounted)."""
    typer.echo(f"hello, {name}, from ff-fixture-plugin")


@hookimpl
def fuseflow_formats() -> list[FormatSpec]:
    return [FormatSpec("FIXTURE_DCSC", FIXTURE_DCSC, "fixture: DCSC under another name")]


@hookimpl
def fuseflow_engines() -> list[Any]:
    return [EchoEngine()]


@hookimpl
def fuseflow_cli_commands() -> list[CliCommand]:
    return [CliCommand("fixture-hello", command=hello, help="Fixture plugin: print a greeting.")]
