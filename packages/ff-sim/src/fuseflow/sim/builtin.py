"""ff-sim's built-in plugin: the reference engine and the ``ff sim`` command."""

from __future__ import annotations

from typing import Any

from fuseflow.ir.hookspecs import hookimpl
from fuseflow.ir.plugins import CliCommand


@hookimpl
def fuseflow_engines() -> list[Any]:
    from fuseflow.sim.engine import ReferenceEngine
    from fuseflow.sim.fast.engine import FastEngine

    return [ReferenceEngine(), FastEngine()]


@hookimpl
def fuseflow_cli_commands() -> list[CliCommand]:
    from fuseflow.sim.cli import sim_command

    return [CliCommand("sim", command=sim_command, help="Simulate a compiled program (cycles, FLOPs, bytes).")]
