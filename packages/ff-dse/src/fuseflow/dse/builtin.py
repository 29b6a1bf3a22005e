"""ff-dse's built-in plugin: the ``local``/``ray`` executors and the ``ff dse`` / ``ff demo`` commands."""

from __future__ import annotations

from typing import Any

from fuseflow.ir.hookspecs import hookimpl
from fuseflow.ir.plugins import CliCommand


@hookimpl
def fuseflow_executors() -> list[Any]:
    from fuseflow.dse.executors import builtin_executors

    return builtin_executors()  # type: ignore[return-value]  # registry maps names to callables typed as Any


@hookimpl
def fuseflow_cli_commands() -> list[CliCommand]:
    from fuseflow.dse.bench_cli import bench_command
    from fuseflow.dse.cli import demo_command, dse_app

    return [
        CliCommand("dse", app=dse_app, help="Design-space exploration (ff dse MODEL ...; run, report, study)."),
        CliCommand("demo", command=demo_command,
                   help="Figure-12-style study of all four zoo models; writes ./ff-demo/ with plots."),
        CliCommand("bench", command=bench_command,
                   help="Time a model on this machine (CPU, CUDA) beside its simulated time."),
    ]
