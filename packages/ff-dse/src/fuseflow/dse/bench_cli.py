"""``ff bench``: time a model on this machine beside its simulated time."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def bench_command(
    model: str = typer.Argument(..., help="Zoo model name or path/to/file.py:factory."),
    dataset: str | None = typer.Option(None, "--dataset", "-d", help="Data set (see `ff models`)."),  # noqa: UP007
    model_opt: list[str] = typer.Option([], "-m", "--model-opt", help="Model option KEY=VALUE (repeatable)."),
    fusion: str = typer.Option("partial", "--fusion", help="Fusion of the simulated design."),
    hw: str = typer.Option("default", "--hw", help="Hardware preset or TOML file (its clock_ghz states cycles as time)."),
    engine: str = typer.Option("fast", "--engine", help="Simulation engine."),
    repeats: int = typer.Option(10, "--repeats", min=1, help="Timed runs per baseline (the median is reported)."),
    warmup: int = typer.Option(3, "--warmup", min=0, help="Untimed runs before timing."),
    compiled: bool = typer.Option(True, "--compile/--no-compile", help="Also time torch.compile on the CPU."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
    out: Path | None = typer.Option(None, "--out", help="Also write the figures as JSON here."),  # noqa: UP007
) -> None:
    """Time the PyTorch model on this CPU (eager, torch.compile) and CUDA when present, beside
    the simulated design's time at the hardware's clock, with the ratio."""
    from fuseflow.compiled import CompiledProgram
    from fuseflow.dse.bench import Baseline, time_module
    from fuseflow.frontend.api import build_model, check_workload
    from fuseflow.frontend.capture import capture
    from fuseflow.fusion.api import compile_captured
    from fuseflow.ir.errors import FrontendError
    from fuseflow.sim.hw import load_hw

    opts = {}
    for item in model_opt:
        k, sep, v = item.partition("=")
        if not sep:
            raise FrontendError(f"model option {item!r} must be KEY=VALUE")
        opts[k.strip()] = v.strip()
    check_workload(model, opts, dataset)
    cfg = load_hw(hw)
    module, inputs, name, index_names, _meta = build_model(model, opts, dataset)
    prog = capture(module, inputs, name=name, fusion=fusion, index_names=index_names)
    cm = CompiledProgram(compile_captured(prog).program, module, inputs)
    res = cm.simulate(hw=cfg, engine=engine, check=True)
    label = f"{model}{' on ' + dataset if dataset else ''}, {fusion} fusion, {engine} engine, hw {cfg.name}"
    base = Baseline(time_module(module, inputs, compiled=compiled, warmup=warmup, repeats=repeats),
                    int(res.cycles), cfg.clock_ghz, label, {"check": res.check})
    if as_json:
        typer.echo(json.dumps(base.to_dict(), indent=2))
    else:
        typer.echo(base.table())
        typer.echo(f"  check against PyTorch: {res.check}")
    if out is not None:
        out.write_text(json.dumps(base.to_dict(), indent=2))
