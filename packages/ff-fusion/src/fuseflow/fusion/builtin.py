"""ff-fusion's built-in plugin: the ``ff compile`` and ``ff show`` commands."""

from __future__ import annotations

from pathlib import Path

import typer
from fuseflow.ir.errors import UsageError, memory_guard
from fuseflow.ir.hookspecs import hookimpl
from fuseflow.ir.plugins import CliCommand


def _kv(items: list[str]) -> dict[str, str]:
    out = {}
    for it in items:
        if "=" not in it:
            raise UsageError(f"model option {it!r} must be KEY=VALUE")
        k, v = it.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _par(items: list[str]) -> list[tuple[str, int]]:
    out = []
    for it in items:
        idx, _, f = it.rpartition(":")
        if not f.isdigit() or int(f) < 1:
            raise UsageError(f"--par {it!r} must be INDEX:FACTOR with a positive factor (e.g. i:4, "
                               "or *:4 for each kernel's outermost output index)")
        idx = idx or "*"
        out.append((idx, int(f)))
    return out


def compile_command(
    model: str = typer.Argument(..., help="Zoo model name or path/to/file.py:factory."),
    model_opt: list[str] = typer.Option([], "-m", "--model-opt", help="Model option KEY=VALUE (repeatable)."),
    dataset: str | None = typer.Option(None, "--dataset", help="Data set NAME[:KEY=VALUE,...]."),  # noqa: UP007
    fusion: str = typer.Option("partial", "--fusion", help="unfused | partial | full | SPEC."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the program here (.ffir/.fftxt)."),  # noqa: UP007
    order: str | None = typer.Option(None, "--order", help="'list', an order number K, a full order i,k,j, or a prefix i,j,... (the first valid order starting so)."),  # noqa: UP007
    par: list[str] = typer.Option([], "--par", help="Parallelize INDEX:FACTOR (repeatable, nests)."),
    block: int | None = typer.Option(None, "--block", help="Sparsity block size B (BxB tiles)."),  # noqa: UP007
    report: bool = typer.Option(False, "--report", help="Print the per-group compile report."),
    limit: int = typer.Option(10, "--limit", help="With --order list: how many orders to print per group."),
) -> None:
    """Capture a model and compile it to a dataflow program."""
    from fuseflow.fusion import api

    opts = _kv(model_opt)
    if block is not None and block < 1:
        raise UsageError(f"--block {block}: the block size must be >= 1")
    if limit < 1:
        raise UsageError(f"--limit {limit}: must be >= 1")
    if order == "list":
        if block is not None:
            opts.setdefault("block", str(block))
        prog = api.capture(model, opts, dataset, fusion)
        for ol in api.list_orders(prog, limit):
            count = "more than can be counted" if ol.count is None else str(ol.count)
            typer.echo(f"group {ol.group}: {count} valid orders over {','.join(ol.vars)}")
            for k, o in enumerate(ol.first):
                typer.echo(f"  {k}: {','.join(o)}")
        return
    with memory_guard(f"compiling {model}" + (f" on {dataset}" if dataset else "")):
        result = api.compile_model(model, opts, dataset, fusion, order, _par(par), block)
    if report:
        typer.echo(api.format_report(result.reports), nl=False)
    if output is not None:
        from fuseflow.ir import io

        with memory_guard(f"writing {output}"):
            io.save(result.program, output)
        typer.echo(f"wrote {output} ({len(result.program.kernels)} kernels)")
    elif not report:
        typer.echo(api.format_report(result.reports), nl=False)


def show_command(
    file: Path = typer.Argument(..., help="A program file."),
    fmt: str = typer.Option("text", "--format", help="text | dot"),
    out_dir: Path | None = typer.Option(None, "--out", help="With dot: write kernel DOT files (and SVG when `dot` exists) here."),  # noqa: UP007
) -> None:
    """Show a program: its text form, or Graphviz DOT per kernel."""
    from fuseflow.fusion.dot import render_kernels, to_dot
    from fuseflow.ir import io

    prog = io.load(file)
    if fmt == "text":
        typer.echo(io.to_text(prog), nl=False)
        return
    if fmt != "dot":
        raise UsageError(f"unknown --format {fmt!r} (text or dot)")
    if out_dir is None:
        for k in prog.kernels:
            typer.echo(to_dot(k))
        return
    for path in render_kernels(prog, out_dir):
        typer.echo(f"wrote {path}")


@hookimpl
def fuseflow_cli_commands() -> list[CliCommand]:
    return [
        CliCommand("compile", command=compile_command, help="Compile a model to a dataflow program."),
        CliCommand("show", command=show_command, help="Show a program (text or Graphviz DOT)."),
    ]
