"""ff-ir's built-in plugin: named sparse formats and the ``ff ir`` / ``ff plugins`` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from fuseflow.ir.formats import NAMED_FORMATS, named_format
from fuseflow.ir.hookspecs import hookimpl
from fuseflow.ir.plugins import HOOKS, CliCommand, FormatSpec, registry

ir_app = typer.Typer(help="Read, check and convert IR files (.ffir binary, .fftxt text, .tortilla).",
                     no_args_is_help=True)


@ir_app.command("show")
def ir_show(file: Path) -> None:
    """Print a program in the readable text form."""
    from fuseflow.ir import io

    typer.echo(io.to_text(io.load(file)), nl=False)


@ir_app.command("validate")
def ir_validate(file: Path) -> None:
    """Parse and verify a program; exit non-zero naming the first problems."""
    from fuseflow.ir import io
    from fuseflow.ir.verify import verify_program

    prog = io.load(file)
    verify_program(prog)
    n = sum(len(k.graph.nodes) for k in prog.kernels)
    typer.echo(f"{file}: ok ({len(prog.program.assignments)} expressions, {len(prog.kernels)} kernels, {n} nodes)")


@ir_app.command("convert")
def ir_convert(
    src: Path,
    dst: Path,
    to: Optional[str] = typer.Option(None, "--to", help="binary, text or tortilla (default: by extension)."),  # noqa: UP007, UP045
    kernel: Optional[str] = typer.Option(None, "--kernel", help="Keep only this kernel (tortilla holds one graph)."),  # noqa: UP007, UP045
) -> None:
    """Convert between binary (.ffir), text (.fftxt) and tortilla (.tortilla / .pb) forms."""
    from fuseflow.ir import io

    prog = io.load(src)
    if kernel is not None:
        prog = prog.only_kernel(kernel)
    io.save(prog, dst, form=to)
    typer.echo(f"wrote {dst}")


def plugins_command() -> None:
    """List what is registered, by kind, and which plugin and distribution provide it."""
    for what in HOOKS:
        reg = registry(what)
        typer.echo(f"{PLURAL.get(what, what + 's')}:")
        for e in reg.entries():
            src = e.distribution or "in-process"
            typer.echo(f"  {e.name:<20} plugin {e.plugin} ({src})")


PLURAL = {"fusion strategy": "fusion strategies"}


@hookimpl
def fuseflow_formats() -> list[FormatSpec]:
    specs = [FormatSpec(name, fmt) for name, fmt in NAMED_FORMATS.items()]
    for b in (16, 32, 64):
        fmt = named_format(f"BSR{b}")
        assert fmt is not None
        specs.append(FormatSpec(f"BSR{b}", fmt, f"CSR of {b}x{b} dense blocks"))
    return specs


@hookimpl
def fuseflow_cli_commands() -> list[CliCommand]:
    return [
        CliCommand("ir", app=ir_app, help="Read, check and convert IR files."),
        CliCommand("plugins", command=plugins_command, help="List registered plugins."),
    ]
