"""The ``fast`` engine: same cycles, counters and outputs as the reference engine, much faster.
Kernels run on the streaming engine (``fast.stream``: compiled step functions over bounded queues),
or on the reference where it is not exact (reference-only primitives, ...: docs/fast-engine.md)."""

from __future__ import annotations

import sys
import time
from functools import partial
from typing import Any

from fuseflow.ir.data import TensorData
from fuseflow.ir.dataflow import Kernel, Program
from fuseflow.ir.errors import SimulationError
from fuseflow.ir.sysmem import available_bytes
from fuseflow.sim.engine import run_program
from fuseflow.sim.fast.stream.engine import RESERVE, STATS, WHY, run_kernel_streaming
from fuseflow.sim.hw import HwConfig
from fuseflow.sim.kernel import KernelRun, run_kernel
from fuseflow.sim.options import EngineOptions, apply_compile_settings
from fuseflow.sim.result import SimResult

memory_left = available_bytes  # bytes the OS can still give, or None (a name the tests replace)


def out_of_memory(kernel: str, where: str, why: str) -> SimulationError:
    """A clear stop (exit 7) instead of a MemoryError trace, or the OS killing the run."""
    return SimulationError(
        f"kernel {kernel}: out of memory at {where} ({why}); try a smaller data set, sparse storage of a "
        "mostly-zero input (e.g. gcn -m features=csr), less fusion or a smaller --queue-grown")


def run_kernel_fast(program: Program, kernel: Kernel, env: dict[str, TensorData], hw: HwConfig,
                    opts: EngineOptions | None = None) -> KernelRun:
    """The kernel on the streaming engine, or on the reference where that is not exact."""
    opts = opts or EngineOptions()
    t0 = time.perf_counter()
    try:
        got = run_kernel_streaming(program, kernel, env, hw, opts=opts)
    except MemoryError as e:
        raise out_of_memory(kernel.name, "a streamed primitive", str(e) or "MemoryError") from None
    path, why = "streamed", ""
    if got is None:
        STATS["reference"] += 1
        path, why = "reference", f" ({WHY[-1].removeprefix(kernel.name + ': ')})"  # every refusal says why
        got = run_kernel(program, kernel, env, hw)
    if opts.profile:
        import resource  # Unix only: imported when profiling

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"fast: {kernel.name:40s} {path:9s} {time.perf_counter() - t0:8.3f}s, peak {peak} MB{why}",
              file=sys.stderr, flush=True)
    left = memory_left()
    if left is not None and left < RESERVE:
        raise out_of_memory(kernel.name, "its end", f"{left / 2**30:.1f} GiB of memory left")
    return got


class FastEngine:
    """Streamed step functions per primitive; exact against the reference engine."""

    name = "fast"

    def run(self, program: Program, hw: HwConfig | str = "default", **options: Any) -> SimResult:
        """Options as the reference engine. Bounded channels and traces use the reference."""
        from fuseflow.sim.fast.warmup import announce_cold_start

        opts = EngineOptions.of(options.get("engine_options"))
        apply_compile_settings(opts)  # simulate() chose before the loops loaded; here it is only checked
        announce_cold_start()
        return run_program(program, hw, options, self.name, partial(run_kernel_fast, opts=opts))
