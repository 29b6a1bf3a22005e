"""Running one kernel: a process per node, a channel per stream, then the outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from fuseflow.ir.data import StoredTensor, TensorData, resolve_view, store
from fuseflow.ir.dataflow import Kernel, Program
from fuseflow.ir.errors import DataError, SimulationError, memory_guard
from fuseflow.ir.graph import NodeKind, StreamKind
from fuseflow.sim.channel import Channel
from fuseflow.sim.counters import Counters
from fuseflow.sim.hw import HwConfig
from fuseflow.sim.memory import Memory
from fuseflow.sim.outputs import encode, joined, rebuild
from fuseflow.sim.prims import PRIMITIVES
from fuseflow.sim.process import Proc, run_network

READERS = (NodeKind.LEVEL_SCAN, NodeKind.VAL_ARRAY, NodeKind.LOCATE)
WRITERS = (NodeKind.LEVEL_WRITE, NodeKind.VAL_WRITE)


class _Void(Channel):
    """An unconnected output: tokens are dropped (Comal's stream id 0)."""

    def push(self, tok: Any, stamp: int) -> None:
        self.pushed += 1


@dataclass
class KernelRun:
    name: str
    cycles: int
    counters: Counters
    per_primitive: dict[str, Counters]
    outputs: dict[str, TensorData]
    busy: dict[str, list[list[int]]] = field(default_factory=dict)  # trace intervals per primitive


class KernelContext:
    """What primitives may ask of their kernel: stored tensors, hardware, memory, records."""

    def __init__(self, program: Program, env: dict[str, TensorData], hw: HwConfig) -> None:
        self.program = program
        self.env = env
        self.hw = hw
        self.memory = Memory(hw.memory) if hw.memory.enabled else None
        self._stored: dict[str, StoredTensor] = {}
        self.levels: dict[str, dict[int, list[Any]]] = {}
        self.values: dict[str, list[Any]] = {}
        # the fast engine's writers record here instead: a level's codes (or ``DenseLevel``), float32 chunks
        self.level_cols: dict[str, dict[int, Any]] = {}
        self.value_cols: dict[str, list[np.ndarray]] = {}
        self.kinds: dict[tuple[int, str], StreamKind] = {}  # (node id, input port) -> its stream's kind

    def stored(self, name: str) -> StoredTensor:
        if name not in self._stored:
            data = resolve_view(self.program.program.tensors, self.env, name)
            if data is None:
                raise SimulationError(f"no data for tensor {name!r}")
            try:
                self._stored[name] = store(data, self.program.program.tensor(name).format)
            except DataError as e:
                raise SimulationError(f"tensor {name!r}: {e}") from None
        return self._stored[name]

    def mem(self, proc: Proc, words: int) -> None:
        """Charge an off-chip access of ``words`` words to ``proc`` (blocking)."""
        if self.memory is not None and words > 0:
            proc.t = max(proc.t, self.memory.access(proc.t, words, proc.node.id))

    def value_record(self, tensor: str) -> list[Any]:
        return self.values.setdefault(tensor, [])


def build(kernel: Kernel, ctx: KernelContext, trace: bool = False) -> list[Proc]:
    """A process per node of the kernel's graph, connected by a channel per stream."""
    g = kernel.graph
    ins: dict[int, dict[str, Channel]] = {nid: {} for nid in g.nodes}
    outs: dict[int, dict[str, Channel]] = {nid: {} for nid in g.nodes}
    for s in g.streams:
        if s.src.node not in g.nodes or s.dst.node not in g.nodes:
            raise SimulationError(f"kernel {kernel.name}: stream {s.id} joins a missing node")
        name = s.name or f"s{s.id} ({g.nodes[s.src.node].describe()}.{s.src.port} -> "\
                         f"{g.nodes[s.dst.node].describe()}.{s.dst.port})"
        ch = Channel(name, ctx.hw.depth_of(s.id, s.name))
        outs[s.src.node][s.src.port] = ch
        ins[s.dst.node][s.dst.port] = ch
        ctx.kinds[(s.dst.node, s.dst.port)] = s.kind
    procs: list[Proc] = []
    for nid in sorted(g.nodes):
        node = g.nodes[nid]
        for spec in node.inputs():
            if spec.name not in ins[nid] and not spec.optional:
                raise SimulationError(f"kernel {kernel.name}: {node.describe()} input {spec.name!r} is not connected")
        for spec in node.outputs():
            if spec.name not in outs[nid]:
                outs[nid][spec.name] = _Void(f"{node.describe()}.{spec.name} (unconnected)")
        proc = PRIMITIVES[node.kind](node, ins[nid], outs[nid], ctx)
        if trace:
            proc.busy = []
        procs.append(proc)
    return procs


def run_kernel(program: Program, kernel: Kernel, env: dict[str, TensorData], hw: HwConfig,
               trace: bool = False) -> KernelRun:
    ctx = KernelContext(program, env, hw)
    procs = build(kernel, ctx, trace)
    run_network(procs)
    total = Counters()
    for p in procs:
        total.add(p.counters)
    return KernelRun(kernel.name, max((p.t for p in procs), default=0), total,
                     {p.describe(): p.counters for p in procs}, collect_outputs(program, kernel, ctx),
                     {p.describe(): p.busy for p in procs if p.busy})


def collect_outputs(program: Program, kernel: Kernel, ctx: KernelContext) -> dict[str, TensorData]:
    written = {n.attrs.tensor for n in kernel.graph.nodes.values() if n.kind in WRITERS and n.attrs.tensor}
    names = [t for t in kernel.outputs if t in written] + sorted(t for t in written if t not in kernel.outputs)
    out: dict[str, TensorData] = {}
    for name in names:
        decl = program.program.tensor(name)
        with memory_guard(f"in kernel {kernel.name}, collecting output {name} {list(decl.shape)}"):
            levels: dict[int, Any] = {lv: encode(toks) for lv, toks in ctx.levels.get(name, {}).items()}
            levels.update(ctx.level_cols.get(name, {}))  # a level has one writer, on one engine
            recs = ctx.value_cols.get(name)  # a kernel's value writers record all one way
            out[name] = rebuild(decl, levels, ctx.values.get(name, []) if not recs else joined(recs))
    return out
