"""The reference engine: runs a program's kernels in order, one Kahn network each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fuseflow.ir.data import TensorData
from fuseflow.ir.dataflow import Program
from fuseflow.ir.errors import SimulationError, out_of_memory
from fuseflow.sim.counters import Counters
from fuseflow.sim.hw import HwConfig, load_hw
from fuseflow.sim.inputs import prepare_inputs, with_view_sources
from fuseflow.sim.kernel import KernelRun, run_kernel
from fuseflow.sim.result import KernelResult, SimResult
from fuseflow.sim.reuse import ACTIVE as REUSE


class ReferenceEngine:
    """Written for clarity: one generator process per primitive, Comal's timing rules."""

    name = "reference"

    def run(self, program: Program, hw: HwConfig | str = "default", **options: Any) -> SimResult:
        """Options: random_inputs (seed), density, channel_depth, stream_depths, trace (bool)."""
        return run_program(program, hw, options, self.name)


def run_program(program: Program, hw_spec: HwConfig | str, options: dict[str, Any], engine: str,
                run_one: Callable[..., KernelRun] | None = None) -> SimResult:
    """Run the kernels in order, each on the outputs of those before it, and sum their
    figures. ``run_one(program, kernel, env, hw)`` runs one kernel (the fast engine's) unless
    channels are bounded or a trace is asked for: then the reference does."""
    hw = load_hw(hw_spec).with_options(options.get("channel_depth"), options.get("stream_depths"))
    env, made = prepare_inputs(program, options.get("random_inputs"), options.get("density"))
    trace = bool(options.get("trace"))
    if trace or hw.channel_depth is not None or hw.stream_depths:
        run_one = None
    word = hw.memory.word_bytes
    kernels: list[KernelResult] = []
    total = Counters()
    per: dict[str, Counters] = {}
    outputs: dict[str, TensorData] = {}
    busy: dict[str, dict[str, list[list[int]]]] = {}
    reuse = None if trace else REUSE.get()  # a trace needs every kernel simulated
    keep = getattr(options.get("engine_options"), "intermediates", True)
    last_read = {t: i for i, k in enumerate(program.kernels) for t in with_view_sources(program, k.inputs)}
    for i, k in enumerate(program.kernels):
        try:
            key, run = reuse.lookup(program, k, env, hw, engine) if reuse is not None else ("", None)
            if run is None:
                run = run_kernel(program, k, env, hw, trace) if run_one is None else run_one(program, k, env, hw)
                if reuse is not None:
                    reuse.remember(key, k, run)
        except (IndexError, KeyError, ValueError, TypeError, ZeroDivisionError) as e:
            # a verified graph can still route a stream nonsensically (a locate without its base ref)
            raise SimulationError(f"kernel {k.name}: the streams do not fit the tensors ({type(e).__name__}: "
                                  f"{e}); the graph or its data is malformed") from e
        except MemoryError as e:  # the fast engine names the primitive itself; the rest land here
            raise out_of_memory(f"in kernel {k.name}", e) from None
        env.update(run.outputs)
        outputs.update(run.outputs)
        if not keep:  # free what no later kernel reads (GCN on mag: 2.7 GB per intermediate)
            for t in [t for t in env if last_read.get(t, -1) <= i and t not in program.program.outputs]:
                del env[t]
                outputs.pop(t, None)
        kernels.append(KernelResult(k.name, run.cycles, run.counters.flops, run.counters.bytes_moved(word),
                                    run.counters, run.per_primitive,
                                    reuse.reused.get(k.name, "") if reuse is not None else ""))
        total.add(run.counters)
        per.update({f"{k.name}/{name}": c for name, c in run.per_primitive.items()})
        if trace:
            busy[k.name] = run.busy
    return SimResult(
        cycles=sum(kr.cycles for kr in kernels), flops=total.flops, bytes_moved=total.bytes_moved(word), kernels=kernels,
        counters=total, per_primitive=per, outputs=outputs, engine=engine, hw=hw.name,
        tokens_moved=total.tokens, trace=busy, random_inputs=made,
        reused=dict(reuse.reused) if reuse is not None else {})

