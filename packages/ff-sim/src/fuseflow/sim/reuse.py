"""Reuse of the figures of a kernel already simulated in the same run (e.g. GPT-3's 12 decoders).
Kernels are the same when their keys are (a hash of the text form, tensors renamed; the tensors'
declarations and stored read structure; hardware; engine: no primitive branches on a value). On a
hit the figures are copied, the outputs interpreted in the first one's structure (``DENSE_LIMIT``)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass, field, replace

import numpy as np
from fuseflow.ir.data import TensorData, resolve_view
from fuseflow.ir.dataflow import Kernel, Program
from fuseflow.ir.errors import FuseFlowError, SimulationError
from fuseflow.ir.graph import Node
from fuseflow.ir.program import Access, Binary, BinaryOp, Expr, Reduce, ReduceOp, TensorRole, Unary, accesses
from fuseflow.ir.text import node_text, stream_text
from fuseflow.sim.hw import HwConfig
from fuseflow.sim.kernel import READERS, KernelContext, KernelRun

DENSE_LIMIT = 4 << 30  # bytes the interpreter may use for one reused kernel's outputs

#: the reuse of the simulation running in this context (set by ``simulate``)
ACTIVE: ContextVar[KernelReuse | None] = ContextVar("fuseflow_sim_reuse", default=None)
#: figures shared beyond one simulation (e.g. by a study's evaluations, fuseflow.dse.shared_figures)
SHARED: ContextVar[MutableMapping[str, _Figures] | None] = ContextVar("fuseflow_sim_shared", default=None)


@dataclass
class _Figures:
    source: str  # the kernel simulated
    nodes: dict[str, int]  # per-primitive name -> node id
    run: KernelRun
    structure: dict[int, np.ndarray | None]  # canonical output -> COO coords (None: dense)


@dataclass
class KernelReuse:
    """Figures of the kernels simulated so far in one run, by key."""

    cache: MutableMapping[str, _Figures] = field(default_factory=dict)
    reused: dict[str, str] = field(default_factory=dict)  # kernel -> the kernel it reused
    skipped: dict[str, str] = field(default_factory=dict)  # kernel -> why a hit was simulated

    def lookup(self, program: Program, kernel: Kernel, env: dict[str, TensorData], hw: HwConfig,
               engine: str) -> tuple[str, KernelRun | None]:
        """The kernel's key and, on a hit that can be evaluated, its run (figures copied, outputs interpreted)."""
        names = canonical_names(kernel)
        key = kernel_key(program, kernel, names, env, hw, engine)
        fig = self.cache.get(key)
        if fig is None:
            return key, None
        why = too_big(program, kernel)
        outputs = None
        if why is None:
            try:
                outputs = interpreted_outputs(program, kernel, names, env, fig.structure)
            except (FuseFlowError, MemoryError, ValueError) as e:  # the interpreter cannot: simulate it
                why = f"the interpreter failed ({type(e).__name__}: {e})"
        if outputs is None:  # simulated after all
            self.skipped[kernel.name] = why or "an output is not computed by the kernel's expressions"
            return key, None
        self.reused[kernel.name] = fig.source
        now = {nid: node.describe() for nid, node in kernel.graph.nodes.items()}  # per-primitive names renamed
        per = {now.get(fig.nodes.get(n, -1), n): replace(c) for n, c in fig.run.per_primitive.items()}
        return key, KernelRun(kernel.name, fig.run.cycles, replace(fig.run.counters), per, outputs)

    def remember(self, key: str, kernel: Kernel, run: KernelRun) -> None:
        if key in self.cache:
            return
        canon = {t: i for i, t in enumerate(canonical_names(kernel))}
        structure: dict[int, np.ndarray | None] = {}
        for t, data in run.outputs.items():
            if t not in canon:
                return  # an output not named in the graph: never reused
            structure[canon[t]] = None if data.dense is not None else data.coords
        nodes = {n.describe(): n.id for n in kernel.graph.nodes.values()}
        self.cache[key] = _Figures(kernel.name, nodes, replace(run, outputs={}, busy={}), structure)


def canonical_names(kernel: Kernel) -> list[str]:
    """The tensors of the kernel's graph in order of first appearance (by node id)."""
    tensors = (kernel.graph.nodes[nid].attrs.tensor for nid in sorted(kernel.graph.nodes))
    return list(dict.fromkeys(t for t in tensors if t is not None))


def kernel_key(program: Program, kernel: Kernel, names: list[str], env: dict[str, TensorData],
               hw: HwConfig, engine: str) -> str:
    canon = {t: f"t{i}" for i, t in enumerate(names)}
    h = hashlib.sha256()

    def put(text: str) -> None:
        h.update(text.encode() + b"\n")

    put(f"engine {engine}")
    put(f"hw {hw!r}")
    for nid in sorted(kernel.graph.nodes):
        n = kernel.graph.nodes[nid]
        t = n.attrs.tensor
        put(node_text(n if t is None else Node(n.id, n.kind, replace(n.attrs, tensor=canon[t]))))
    for s in kernel.graph.streams:
        put(stream_text(s))
    put("writes " + ",".join(canon.get(t, "?") for t in kernel.outputs))
    read = {n.attrs.tensor for n in kernel.graph.nodes.values() if n.kind in READERS and n.attrs.tensor}
    tensors = program.program.tensors
    ctx = KernelContext(program, env, hw)
    for t in names:
        decl = tensors.get(t)
        put(f"{canon[t]} undeclared" if decl is None else
            f"{canon[t]} {list(decl.shape)} {decl.dtype.value} {decl.format.spec()}")
        if decl is not None and t in read and not decl.format.is_dense:  # dense: the shape is the structure
            for part in _structure(ctx, t):
                h.update(part)
    return h.hexdigest()


def _structure(ctx: KernelContext, name: str) -> Iterator[bytes]:
    """The stored coordinate structure of the sparse input ``name``, in parts to hash."""
    try:
        st = ctx.stored(name)
    except SimulationError:  # no or bad data: the kernel will fail on it; the key only has to differ
        yield b"no data\n"
        return
    for lv in st.levels:
        yield f"level {lv.format.value} {lv.dim}\n".encode()
        for arr in (lv.seg, lv.crd):
            yield b"-" if arr is None else np.ascontiguousarray(arr, dtype=np.int64).tobytes()
    yield f"vals {list(st.vals.shape)}\n".encode()


def too_big(program: Program, kernel: Kernel) -> str | None:
    """Why the interpreter should not evaluate this kernel (dense arrays too large), or None."""
    tp = program.program
    mine = set(kernel.assignments)
    asgs = [a for a in tp.assignments if a.name in mine]
    if not asgs:
        return "the kernel has no expressions"
    ext: dict[str, int] = {}
    tensors: set[str] = set()
    for a in asgs:
        for acc in (a.output, *accesses(a.value)):
            tensors.add(acc.tensor)
            ext.update(zip(acc.indices, tp.tensor(acc.tensor).shape, strict=False))
    arrays = sum(math.prod(tp.tensor(t).shape) for t in tensors)
    widest = max(_widest(a.value, ext)[1] for a in asgs)
    need = 17 * arrays + 24 * widest  # float64 values + bool pattern each; three temporaries
    if need > DENSE_LIMIT:
        return f"its interpreted form needs ~{need / 2**30:.1f} GiB dense (limit {DENSE_LIMIT / 2**30:.0f} GiB)"
    return None


def _widest(e: Expr, ext: dict[str, int]) -> tuple[tuple[str, ...], int]:
    """Axes of ``e``'s value and the largest array the interpreter builds for it."""
    if isinstance(e, Access):
        return tuple(e.indices), math.prod(ext.get(i, 1) for i in e.indices)
    if isinstance(e, Unary):
        return _widest(e.operand, ext)
    if isinstance(e, Binary):
        (a, wa), (b, wb) = _widest(e.lhs, ext), _widest(e.rhs, ext)
        axes = a + tuple(x for x in b if x not in a)
        return axes, max(wa, wb, math.prod(ext.get(i, 1) for i in axes))
    if isinstance(e, Reduce):
        keep_all, w = _widest(e.body, ext)
        keep = tuple(x for x in keep_all if x not in e.indices)
        if e.op is ReduceOp.SUM and isinstance(e.body, Binary) and e.body.op is BinaryOp.MUL:
            (a, wa), (b, wb) = _widest(e.body.lhs, ext), _widest(e.body.rhs, ext)  # einsum: no broadcast
            return keep, max(wa, wb, math.prod(ext.get(i, 1) for i in keep))
        full = keep_all + tuple(x for x in e.indices if x not in keep_all)
        return keep, max(w, math.prod(ext.get(i, 1) for i in full))
    return (), 1


def interpreted_outputs(program: Program, kernel: Kernel, names: list[str], env: dict[str, TensorData],
                        structure: dict[int, np.ndarray | None]) -> dict[str, TensorData] | None:
    """The kernel's outputs by the interpreter, in the cached structure; None when an
    output is not one its expressions compute."""
    from fuseflow.ir.interp import evaluate

    tp = program.only_kernel(kernel.name).program
    produced = {a.output.tensor for a in tp.assignments}
    wanted = {names[i]: coords for i, coords in structure.items()}
    if not set(wanted) <= produced:
        return None
    inputs: dict[str, np.ndarray] = {}
    for name, decl in tp.tensors.items():
        if decl.view_of is not None or decl.role not in (TensorRole.INPUT, TensorRole.PARAM) or name in produced:
            continue
        data = resolve_view(program.program.tensors, env, name)
        if data is not None:
            inputs[name] = data.to_dense()
    values = evaluate(tp, inputs)
    out: dict[str, TensorData] = {}
    for name, coords in wanted.items():
        arr = np.asarray(values[name], dtype=np.float32)
        out[name] = (TensorData.from_dense(arr) if coords is None
                     else TensorData.from_coo(tuple(arr.shape), coords, arr[tuple(coords)]))
    return out
