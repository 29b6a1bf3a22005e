"""``ff sim PROGRAM``: simulate a compiled program and report cycles, FLOPs, bytes."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from fuseflow.ir.dataflow import Program
from fuseflow.ir.errors import CheckError, DataError


def sim_command(
    program: Path | None = typer.Argument(None, help="Compiled program (.ffir, .fftxt, ...)."),  # noqa: UP007
    hw: str = typer.Option("default", "--hw", help="Hardware preset (default, no-hbm) or a TOML file."),
    engine: str = typer.Option("fast", "--engine", help="Simulator engine: fast (default) or reference."),
    check: bool = typer.Option(False, "--check", help="Compare outputs with PyTorch; fail on a mismatch."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    trace: Path | None = typer.Option(None, "--trace", help="Write a Chrome trace-event file."),  # noqa: UP007
    random_inputs: int | None = typer.Option(  # noqa: UP007
        None, "--random-inputs", min=0, help="Seed: give inputs without data seeded random values."),
    data_dir: Path | None = typer.Option(  # noqa: UP007
        None, "--data-dir", help="Read inputs from a SAM/Comal tensor data directory."),
    channel_depth: int | None = typer.Option(  # noqa: UP007
        None, "--channel-depth", min=0, help="Bound every stream to this many tokens (0 = unbounded)."),
    warmup: bool = typer.Option(False, "--warmup", help="Compile the fast engine's loops ahead of time "
                                "(once per machine), then simulate PROGRAM if one is given."),
    verify: bool = typer.Option(True, "--verify/--no-verify",
                                help="Verify the program (as `ff ir validate`) before simulating."),
    queue_capacity: int = typer.Option(1 << 14, "--queue-capacity", help="Fast engine: tokens per stream queue at first."),
    queue_grown: int = typer.Option(1 << 18, "--queue-grown", help="Fast engine: a busy queue doubles up to this."),
    threads: int = typer.Option(2, "--threads", help="Fast engine: threads running step functions (1-64)."),
    profile: bool = typer.Option(False, "--profile", help="Fast engine: per-primitive time and memory on stderr."),
    show_queues: bool = typer.Option(False, "--show-queues", help="Fast engine: each kernel's biggest queues."),
    jit: bool = typer.Option(True, "--jit/--no-jit", help="Fast engine: --no-jit runs its loops as plain Python."),
    boundscheck: bool = typer.Option(False, "--boundscheck", help="Fast engine: bounds-check the step functions."),
    reuse: bool = typer.Option(True, "--reuse/--no-reuse", help="Reuse the figures of a kernel equal to one "
                               "already simulated (same graph and input structure; see docs/simulator.md)."),
    spill_at: int = typer.Option(1 << 22, "--spill-at", help="Fast engine: a queue the run needs longer than this "
                                 "many tokens overflows to disk (0: never)."),
    spill_dir: Path | None = typer.Option(  # noqa: UP007
        None, "--spill-dir", help="Fast engine: directory for queues that overflow (default: the temporary one)."),
) -> None:
    """Simulate PROGRAM cycle by cycle (Comal's timing model)."""
    from fuseflow.ir import io
    from fuseflow.sim.api import simulate
    from fuseflow.sim.options import EngineOptions, apply_compile_settings

    engine_options = EngineOptions(queue_capacity=queue_capacity, queue_grown=queue_grown, threads=threads,
                                   profile=profile, show_queues=show_queues, jit=jit, boundscheck=boundscheck,
                                   reuse=reuse, spill_at=spill_at,
                                   spill_dir=None if spill_dir is None else str(spill_dir), intermediates=False)
    apply_compile_settings(engine_options)
    if warmup:
        from fuseflow.sim.fast.warmup import warmup as build_loops

        typer.echo("compiling the fast engine's loops (numba caches them for later runs):")
        typer.echo(f"done in {build_loops(typer.echo):.1f} s")
    if program is None:
        if warmup:
            return
        raise typer.BadParameter("give a PROGRAM to simulate (or --warmup alone)", param_hint="PROGRAM")

    prog = io.load(program)
    if data_dir is not None:
        if not data_dir.is_dir():
            raise DataError(f"--data-dir {data_dir}: not a directory")
        from fuseflow.ir.comal import complete_from_data_dir

        prog = complete_from_data_dir(prog, data_dir)  # a graph written by the original compiler
        _load_data_dir(prog, data_dir)
    if verify:
        from fuseflow.ir.verify import verify_program

        verify_program(prog)
    res = simulate(prog, hw=hw, engine=engine, check=check, trace_path=trace, random_inputs=random_inputs,
                   channel_depth=channel_depth, engine_options=engine_options)
    if as_json:
        typer.echo(json.dumps(res.to_json_dict()))
    else:
        typer.echo(f"{prog.name}: {res.cycles} cycles, {res.flops} flops, {res.bytes_moved} bytes "
                   f"({res.engine} engine, hw {res.hw}, {res.wall_time:.2f}s)")
        for k in res.kernels:
            typer.echo(f"  {k.name:<24} {k.cycles:>10} cycles {k.flops:>10} flops {k.bytes_moved:>10} bytes"
                       + (f"  (reused {k.reused_from})" if k.reused_from else ""))
        if reuse and trace is None:  # a trace simulates every kernel
            typer.echo(f"reuse: {len(res.reused)} of {len(res.kernels)} kernels reused the figures of an "
                       "identical kernel (--no-reuse simulates every one)")
        if check:
            err = "" if res.max_rel_error is None else f", max rel error {res.max_rel_error:.3g}"
            typer.echo(f"check: {res.check or 'n/a'} ({res.check_note}{err})")
        if trace is not None:
            typer.echo(f"trace: {trace}")
    if check and res.check == "fail":
        m = res.first_mismatch or {}
        raise CheckError(f"{m.get('tensor')} differs from the reference at {tuple(m.get('index', ()))}: "
            f"simulated {m.get('got')}, expected {m.get('expected')}"
            + (f" ({m['problem']})" if "problem" in m else ""))


def _load_data_dir(prog: Program, folder: Path) -> None:
    """Inputs from a SAM/Comal data directory: every tensor the kernels read (or a view's
    source, as the folder names the model's inputs) that has a ``tensor_<T>_mode_shape`` file."""
    from fuseflow.ir import samdata
    from fuseflow.sim.inputs import tensors_read, with_view_sources

    names = with_view_sources(prog, tensors_read(prog))
    found = 0
    for name in names:
        if name not in prog.data and (folder / f"tensor_{name}_mode_shape").exists():
            prog.data[name] = samdata.read_tensor(folder, name, prog.program.tensor(name).format)
            found += 1
    if not found:
        raise DataError(f"--data-dir {folder}: no tensor_<T>_mode_shape file for any input "
                        f"({', '.join(tensors_read(prog))})")
