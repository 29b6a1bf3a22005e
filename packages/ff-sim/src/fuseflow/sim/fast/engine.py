"""The ``fast`` engine: same cycles, counters and outputs as the reference engine, much faster.

Instead of one generator per primitive exchanging tokens one at a time, every primitive runs
once, to completion, over its complete input streams (lists of tokens and stamps), in a
topological order of the kernel's DAG. Channels are unbounded (Comal's mode), so a process
never waits for space and its clock only depends on its input stamps: the result is the same.

The one piece of state shared between primitives is the HBM model, whose answers depend on
the order in which requests are issued. The reference scheduler starts every process in node
id order and each one runs until it reads an empty channel; when every stream goes from a
lower id to a higher id, each process therefore runs exactly once, to completion, in id order,
and that is exactly the order used here. A kernel whose ids are not in topological order and
that has two or more memory clients with the memory model on is handed to the reference
kernel runner (as are bounded channels and traces): see docs/fast-engine.md.
"""

from __future__ import annotations

import heapq
import sys
import time
from functools import partial
from typing import Any

import numpy as np
from fuseflow.ir.data import TensorData
from fuseflow.ir.dataflow import Kernel, Program
from fuseflow.ir.errors import SimulationError
from fuseflow.ir.formats import LevelFormat
from fuseflow.ir.graph import NodeKind
from fuseflow.sim.counters import Counters
from fuseflow.sim.engine import run_program
from fuseflow.sim.fast.col import Col, keep_heap, list_in
from fuseflow.sim.fast.colprims import COL_PRIMS
from fuseflow.sim.fast.memory import FastMemory
from fuseflow.sim.fast.prims import FAST_PRIMS, Ended, _nomem
from fuseflow.sim.fast.rebuild import collect_outputs_fast
from fuseflow.sim.fast.stream.engine import STATS as STREAM_STATS
from fuseflow.sim.fast.stream.engine import run_kernel_streaming
from fuseflow.sim.hw import HwConfig, load_hw
from fuseflow.sim.inputs import prepare_inputs
from fuseflow.sim.kernel import KernelContext, KernelRun, run_kernel
from fuseflow.sim.options import EngineOptions, apply_compile_settings
from fuseflow.sim.result import SimResult

MEMORY_KINDS = (NodeKind.LEVEL_SCAN, NodeKind.VAL_ARRAY, NodeKind.LEVEL_WRITE, NodeKind.VAL_WRITE)


class _Run:
    """What a fast primitive sees: its clock, counters, memory and stream kinds."""

    __slots__ = ("node", "ctx", "t", "counters", "mem", "access", "memory", "kinds", "out_names")

    def __init__(self, node: Any, ctx: KernelContext, kinds: dict[str, Any], memory: Any = None) -> None:
        self.memory = memory  # the FastMemory when the memory model is on
        self.access = None  # (t, words > 0) -> done, this client's requests
        mem = _nomem
        if memory is not None:
            run_access = memory.access
            cid = node.id

            def access(t: int, words: int) -> int:
                return run_access(t, words, cid)

            def mem(t: int, words: int) -> int:
                if words > 0:
                    done = access(t, words)
                    if done > t:
                        return done
                return t

            self.access = access
        self.node = node
        self.ctx = ctx
        self.t = 0
        self.counters = Counters()
        self.mem = mem
        self.kinds = kinds
        self.out_names = [spec.name for spec in node.outputs()]

    def kind(self, port: str) -> Any:
        return self.kinds.get(port)

    def fail(self, msg: str, t: int) -> SimulationError:
        return SimulationError(f"{self.node.describe()} at cycle {t}: {msg}")


def _is_memory_client(node: Any, ctx: KernelContext) -> bool:
    if node.kind is NodeKind.LEVEL_SCAN:
        a = node.attrs
        if a.tensor is None:
            return False
        try:
            fmt = ctx.stored(a.tensor).levels[a.level].format
        except Exception:  # noqa: BLE001 - let the run report it
            return True
        return fmt is not LevelFormat.DENSE
    return node.kind in MEMORY_KINDS


def plan(kernel: Kernel, ctx: KernelContext) -> list[int] | None:
    """Node order for the fast run, or None when only the reference gives exact figures."""
    g = kernel.graph
    ids = sorted(g.nodes)
    if all(s.src.node < s.dst.node for s in g.streams):
        return ids
    # not in id order: a topological order is exact unless memory requests can interleave
    if ctx.memory is not None and sum(_is_memory_client(g.nodes[n], ctx) for n in ids) >= 2:
        return None
    indeg = {n: 0 for n in ids}
    succ: dict[int, list[int]] = {n: [] for n in ids}
    for s in g.streams:
        indeg[s.dst.node] += 1
        succ[s.src.node].append(s.dst.node)
    heap = [n for n in ids if indeg[n] == 0]
    heapq.heapify(heap)
    order = []
    while heap:
        n = heapq.heappop(heap)
        order.append(n)
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                heapq.heappush(heap, m)
    if len(order) != len(ids):
        return None  # a cycle: let the reference report it
    return order


_SLACK = 64 << 20  # bytes: smaller buffers are not worth a copy
_RESERVE = 512 << 20  # bytes of memory left below which a run stops, before the OS kills it


def memory_left() -> int | None:
    """Bytes the OS can still give (Linux MemAvailable), or None where unknown."""
    from fuseflow.ir.sysmem import available_bytes

    return available_bytes()


def _out_of_memory(kernel: Kernel, node: Any, node_ins: dict[str, Any], why: str) -> SimulationError:
    """A clear stop (exit 7) instead of a MemoryError trace, or the OS killing the run."""
    return SimulationError(
        f"kernel {kernel.name}: out of memory at {node.describe()} ({why}). The fast engine holds each "
        f"stream whole ({sum(len(o[0]) for o in node_ins.values()):,} tokens come in here); try a smaller "
        "data set, sparse storage of a mostly-zero input (e.g. gcn -m features=csr) or less fusion")


def _fit(outs: dict[str, tuple[Any, Any]]) -> dict[str, tuple[Any, Any]]:
    """Copy out the output columns that fill under a quarter of a big buffer. Spaccs,
    joiners, reducers and sparse scanners size theirs for the worst case (as long as their
    input); a view keeps that whole buffer until its stream dies, so the streams made
    meanwhile cannot reuse its pages and fault in fresh ones (the main cost of big runs
    on this machine). Same tokens: a shared column is copied once, in place."""
    memo: dict[int, np.ndarray] = {}

    def fit(a: Any) -> Any:
        if not isinstance(a, np.ndarray):
            return a
        b = a.base
        if not isinstance(b, np.ndarray) or b.nbytes < _SLACK or 4 * a.nbytes > b.nbytes:
            return a
        got = memo.get(id(a))
        if got is None:
            got = memo[id(a)] = a.copy()
        return got

    for port, (toks, st) in outs.items():
        if isinstance(toks, Col):
            toks.codes = fit(toks.codes)
            toks.vals = fit(toks.vals)
        fst = fit(st)
        if fst is not st:
            outs[port] = (toks, fst)
    return outs


def run_kernel_fast(program: Program, kernel: Kernel, env: dict[str, TensorData], hw: HwConfig,
                    opts: EngineOptions | None = None) -> KernelRun:
    opts = opts or EngineOptions()
    if opts.streaming:
        got = run_kernel_streaming(program, kernel, env, hw, opts=opts)
        if got is not None:
            return got
    ctx = KernelContext(program, env, hw)
    order = plan(kernel, ctx)
    if order is None:
        STREAM_STATS["reference"] += 1
        return run_kernel(program, kernel, env, hw)
    g = kernel.graph
    fm = FastMemory(hw.memory) if ctx.memory is not None else None
    ins: dict[int, dict[str, tuple[int, str]]] = {n: {} for n in g.nodes}
    kinds: dict[int, dict[str, Any]] = {n: {} for n in g.nodes}
    for s in g.streams:
        if s.src.node not in g.nodes or s.dst.node not in g.nodes:
            raise SimulationError(f"kernel {kernel.name}: stream {s.id} joins a missing node")
        ins[s.dst.node][s.dst.port] = (s.src.node, s.src.port)
        kinds[s.dst.node][s.dst.port] = s.kind
    for nid in sorted(g.nodes):
        node = g.nodes[nid]
        for spec in node.inputs():
            if spec.name not in ins[nid] and not spec.optional:
                raise SimulationError(f"kernel {kernel.name}: {node.describe()} input {spec.name!r} is not connected")
    produced: dict[int, dict[str, tuple[list, list]]] = {}
    runs: dict[int, _Run] = {}
    readers: dict[int, int] = {n: 0 for n in g.nodes}  # consumers still to run, per producer
    for nid in g.nodes:
        for src in {src for src, _ in ins[nid].values()}:
            readers[src] += 1
    for nid in order:
        node = g.nodes[nid]
        run = _Run(node, ctx, kinds[nid], fm)
        node_ins = {port: produced[src][sport] for port, (src, sport) in ins[nid].items()}
        t0 = time.perf_counter() if opts.profile else 0.0
        col = COL_PRIMS.get(node.kind) if opts.columnar else None
        try:
            try:
                outs = col(run, node, node_ins) if col is not None else None
            except IndexError as e:  # compiled loops check their bounds: a bug of ours, not the input's
                raise SimulationError(f"{node.describe()}: the fast engine's compiled loop went out of bounds "
                                      f"({e}); please report it; --engine reference gives the same figures") from e
            path = "col" if outs is not None else "loop"
            if outs is None:
                outs = FAST_PRIMS[node.kind](run, node, {p: list_in(s) for p, s in node_ins.items()})
        except MemoryError as e:
            raise _out_of_memory(kernel, node, node_ins, str(e)) from None
        except Ended as e:
            raise SimulationError(f"deadlock: {node.describe()} waiting to read {e} (ended)") from None
        except KeyError as e:  # inputs were checked above: this is a bug of the engine, not a deadlock
            raise SimulationError(f"{node.describe()}: the fast engine failed (KeyError: {e}); please report it; "
                                  "--engine reference gives the same figures") from e
        outs = _fit(outs)
        left = memory_left()
        if left is not None and left < _RESERVE:
            raise _out_of_memory(kernel, node, node_ins, f"{left / 2**30:.1f} GiB of memory left after it")
        tokens = 0
        for name in run.out_names:
            o = outs.get(name)
            if o is not None:
                tokens += len(o[0])
        run.counters.tokens += tokens
        runs[nid] = run
        if opts.profile:
            import resource  # Unix only: imported when profiling

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
            print(f"fast: {kernel.name} {node.describe():40s} {path:4s} {time.perf_counter() - t0:8.3f}s "
                  f"{tokens:12d} tokens, peak {peak} MB",
                  file=sys.stderr, flush=True)
        del node_ins
        for src in {src for src, _ in ins[nid].values()}:
            readers[src] -= 1
            if readers[src] == 0:
                del produced[src]  # free whole streams as soon as nobody needs them
        if readers[nid]:
            produced[nid] = outs
        del outs
    total = Counters()
    per: dict[str, Counters] = {}
    for nid in sorted(g.nodes):
        r = runs[nid]
        per[r.node.describe()] = r.counters
        total.add(r.counters)
    outputs = collect_outputs_fast(program, kernel, ctx)
    cycles = max((r.t for r in runs.values()), default=0)
    return KernelRun(kernel.name, cycles, total, per, outputs)


class FastEngine:
    """Whole-stream evaluation of each primitive; exact against the reference engine."""

    name = "fast"

    def run(self, program: Program, hw: HwConfig | str = "default", **options: Any) -> SimResult:
        """Options as the reference engine. Bounded channels and traces use the reference."""
        from fuseflow.sim.fast.warmup import announce_cold_start

        opts = EngineOptions.of(options.get("engine_options"))
        apply_compile_settings(opts)  # simulate() chose before the loops loaded; here it is only checked
        announce_cold_start()
        cfg = load_hw(hw).with_options(options.get("channel_depth"), options.get("stream_depths"))
        env, made = prepare_inputs(program, options.get("random_inputs"), options.get("density"))
        trace = bool(options.get("trace"))
        if trace or cfg.channel_depth is not None or cfg.stream_depths:
            return run_program(program, cfg, env, made, self.name, trace)
        # one heap for all kernels: the next kernel's streams reuse the pages of the last
        # one's instead of faulting in fresh ones (GPT-3 unfused: 22 kernels)
        with keep_heap():
            return run_program(program, cfg, env, made, self.name, False, partial(run_kernel_fast, opts=opts))
