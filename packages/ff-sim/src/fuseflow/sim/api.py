"""``simulate``: the one entry point (engines are plugins, looked up by name)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fuseflow.ir.dataflow import Program
from fuseflow.ir.plugins import registry
from fuseflow.sim.check import check as check_outputs
from fuseflow.sim.hw import HwConfig, load_hw
from fuseflow.sim.inputs import prepare_inputs
from fuseflow.sim.options import EngineOptions, apply_compile_settings
from fuseflow.sim.result import SimResult
from fuseflow.sim.reuse import ACTIVE as REUSE
from fuseflow.sim.reuse import SHARED, KernelReuse
from fuseflow.sim.trace import write_trace


def simulate(program: Program, hw: str | Path | HwConfig = "default", engine: str = "fast",
             check: bool = False, trace_path: str | Path | None = None, random_inputs: int | None = None,
             **options: Any) -> SimResult:
    """Simulate every kernel of ``program`` in order on hardware ``hw`` (a preset name,
    a TOML file or an :class:`HwConfig`); ``check`` compares the outputs with PyTorch's.
    Options go to the engine: ``channel_depth``, ``stream_depths``, ``density`` of random
    inputs, ``engine_options`` (an :class:`~fuseflow.sim.options.EngineOptions` or a dict)."""
    opts = EngineOptions.of(options.pop("engine_options", None))
    apply_compile_settings(opts)  # before the engine plugins load the compiled loops
    options["engine_options"] = opts
    eng = registry("engine").get(engine)
    cfg = load_hw(hw)
    start = time.perf_counter()
    shared = SHARED.get()
    token = REUSE.set(KernelReuse({} if shared is None else shared) if opts.reuse else None)
    try:
        result: SimResult = eng.run(program, cfg, random_inputs=random_inputs, trace=trace_path is not None, **options)
    finally:
        REUSE.reset(token)
    result.wall_time = time.perf_counter() - start
    if check:
        env, _ = prepare_inputs(program, random_inputs, options.get("density"))
        rep = check_outputs(program, result.outputs, env, use_recorded=not result.random_inputs)
        result.check, result.max_rel_error = rep.status, rep.max_rel_error  # type: ignore[assignment]  # the check's status literals are SimResult's
        result.first_mismatch, result.check_note = rep.first_mismatch, rep.note
    if trace_path is not None:
        write_trace(result, trace_path)
    return result
