"""Analytic FLOPs and bytes of a compiled configuration, without simulating.

Model (uniform, independent sparsity):

* A tensor has a *density* d: the stored fraction of its positions (from ``Program.data``
  for inputs and parameters, block-padded for blocked formats, 1 for dense formats;
  estimated from its expression for intermediates).
* MUL/DIV/MASK intersect: d = d_l * d_r; ADD/SUB/MAX union: d = 1 - (1-d_l)(1-d_r);
  a reduction over R positions: d = 1 - (1-d)^R. Unary ops keep d.
* FLOPs: one per produced point of each unary/binary op (MASK is free) and one per
  reduced input point; points = (product of index sizes) * density.
* Bytes: each access is streamed in its dataflow order (a topological order of the
  accesses' storage orders, like the paper's partial order graph). At storage level l
  the scanner reads as many coordinates as there are iteration points over the order's
  prefix up to that level's index (filtered by every intersected access), so a tensor
  under an outer index it does not use is re-read; compressed levels cost 4 B per
  coordinate and 8 B per fiber, values 4 B per element. Kernel outputs are written once.
* Fusion: an intermediate produced inside the same group is not stored or read; its
  producer is inlined into the consumer and *recomputed* once per visit of the
  consumer's loop nest over it (the factor is 1 when the nests agree). Unfused and
  partial groups write and read the intermediates between kernels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fuseflow.dse.result import Estimate
from fuseflow.ir.formats import LevelFormat, TensorFormat
from fuseflow.ir.program import (
    Access,
    Assignment,
    Binary,
    BinaryOp,
    Const,
    Expr,
    Reduce,
    TensorDecl,
    TensorProgram,
    Unary,
    index_vars,
)

VALUE_BYTES = 4
CRD_BYTES = 4
SEG_BYTES = 8  # two segment bounds per fiber


def _prod(xs: Any) -> float:
    return float(math.prod(xs)) if xs else 1.0


def _nonempty(d: float, n: float) -> float:
    """Probability that n positions of density d hold at least one stored value."""
    if n <= 0 or d <= 0:
        return 0.0 if n > 0 else 1.0
    if d >= 1:
        return 1.0
    return float(-np.expm1(n * np.log1p(-d)))


def data_density(decl: TensorDecl, data: Any) -> float:
    """Stored fraction of a tensor's positions (block-padded; 1 for dense formats)."""
    size = _prod(decl.shape)
    if decl.format.is_dense or size == 0:
        return 1.0
    if data is None:
        return 1.0
    block = decl.format.block
    if block is None:
        return min(1.0, data.nnz() / size)
    coords, values = data.to_coo()
    keep = values != 0
    bc = coords[:, keep] // np.asarray(block, dtype=np.int64)[:, None]
    nblocks = len(np.unique(bc.T, axis=0)) if bc.size else 0
    return min(1.0, nblocks * _prod(block) / size)


def footprint(decl: TensorDecl, d: float) -> float:
    """Bytes of a tensor of density d stored in its format."""
    fmt: TensorFormat = decl.format
    dims = [decl.shape[m] for m in fmt.mode_order]
    block = [fmt.block[m] for m in fmt.mode_order] if fmt.block else [1] * len(dims)
    total = VALUE_BYTES * _prod(decl.shape) * d
    fibers = 1.0
    for lv, lf in enumerate(fmt.levels):
        coords = _prod(dims[: lv + 1]) / _prod(block[: lv + 1])
        entries = coords * _nonempty(d, _prod(dims[lv + 1:]))
        if lf is LevelFormat.COMPRESSED:
            total += CRD_BYTES * entries + SEG_BYTES * fibers
        elif lf is LevelFormat.SINGLETON:
            total += CRD_BYTES * entries
        fibers = entries
    return total


@dataclass
class _Nest:
    """One assignment's loop nest: index sizes, dataflow order and filtering accesses."""

    dims: dict[str, int]
    order: list[str]
    filters: list[tuple[Access, float]] = field(default_factory=list)

    def points(self, indices: set[str] | list[str]) -> float:
        s = set(indices)
        pts = _prod(self.dims[i] for i in s)
        for acc, d in self.filters:
            own = set(acc.indices)
            if own & s:
                pts *= _nonempty(d, _prod(self.dims[i] for i in own - s))
        return pts

    def prefix(self, index: str) -> list[str]:
        return self.order[: self.order.index(index) + 1]


def _storage_indices(acc: Access, decl: TensorDecl) -> list[str]:
    return [acc.indices[m] for m in decl.format.mode_order] if len(acc.indices) == decl.order else list(acc.indices)


def _dataflow_order(a: Assignment, tp: TensorProgram) -> list[str]:
    """Topological order of the accesses' storage orders, ties by first use; first use on a cycle."""
    first = list(dict.fromkeys([*a.output.indices, *index_vars(a.value)]))
    edges: dict[str, set[str]] = {i: set() for i in first}
    for acc in [a.output, *_accesses(a.value)]:
        decl = tp.tensors.get(acc.tensor)
        seq = _storage_indices(acc, decl) if decl else list(acc.indices)
        for u, v in zip(seq, seq[1:], strict=False):
            if u != v:
                edges[u].add(v)
    indeg = {i: 0 for i in first}
    for u in edges:
        for v in edges[u]:
            indeg[v] += 1
    out: list[str] = []
    ready = [i for i in first if indeg[i] == 0]
    while ready:
        u = ready.pop(0)
        out.append(u)
        for v in sorted(edges[u], key=first.index):
            indeg[v] -= 1
            if indeg[v] == 0:
                ready.append(v)
        ready.sort(key=first.index)
    return out if len(out) == len(first) else first


def _accesses(e: Expr) -> list[Access]:
    from fuseflow.ir.program import accesses

    return accesses(e)


def _intersected(e: Expr, under_union: bool = False) -> list[Access]:
    """Accesses that filter the iteration (not under a union op)."""
    if isinstance(e, Access):
        return [] if under_union else [e]
    if isinstance(e, Unary):
        return _intersected(e.operand, under_union)
    if isinstance(e, Binary):
        u = under_union or e.op.is_union
        return _intersected(e.lhs, u) + _intersected(e.rhs, u)
    if isinstance(e, Reduce):
        return _intersected(e.body, under_union)
    return []


@dataclass(frozen=True)
class _Cost:
    flops: float
    bytes: float


class CostModel:
    """Estimates of one program (tensor program + input data) under a grouping."""

    def __init__(self, tp: TensorProgram, data: dict[str, Any]) -> None:
        self.tp = tp
        self.data = data
        self.producer = {a.output.tensor: a for a in tp.assignments}
        self.density: dict[str, float] = {}
        for name, decl in tp.tensors.items():
            if name not in self.producer and decl.view_of is None:
                self.density[name] = data_density(decl, data.get(name))
        for a in tp.assignments:  # program order: producers before consumers
            self.density[a.output.tensor] = self._out_density(a)

    # -- densities and flops --------------------------------------------------------
    def dens(self, tensor: str) -> float:
        decl = self.tp.tensors.get(tensor)
        if decl is not None and decl.view_of is not None:
            return self.density.get(decl.view_of, 1.0)
        return self.density.get(tensor, 1.0)

    def _dims(self, a: Assignment) -> dict[str, int]:
        dims: dict[str, int] = {}
        for acc in [a.output, *_accesses(a.value)]:
            decl = self.tp.tensors.get(acc.tensor)
            if decl is not None:
                for i, n in zip(acc.indices, decl.shape, strict=False):
                    dims.setdefault(i, int(n))
        for i in index_vars(a.value):
            dims.setdefault(i, 1)
        return dims

    def _expr(self, e: Expr, dims: dict[str, int]) -> tuple[set[str], float, float]:
        """(free indices, density, flops) of an expression."""
        if isinstance(e, Access):
            return set(e.indices), self.dens(e.tensor), 0.0
        if isinstance(e, Const):
            return set(), 1.0, 0.0
        if isinstance(e, Unary):
            idx, d, f = self._expr(e.operand, dims)
            return idx, d, f + _prod(dims[i] for i in idx) * d
        if isinstance(e, Binary):
            li, ld, lf = self._expr(e.lhs, dims)
            ri, rd, rf = self._expr(e.rhs, dims)
            idx = li | ri
            d = 1 - (1 - ld) * (1 - rd) if e.op.is_union else ld * rd
            work = 0.0 if e.op is BinaryOp.MASK else _prod(dims[i] for i in idx) * d
            return idx, d, lf + rf + work
        if isinstance(e, Reduce):
            bi, bd, bf = self._expr(e.body, dims)
            n = _prod(dims[i] for i in e.indices)
            return bi - set(e.indices), _nonempty(bd, n), bf + _prod(dims[i] for i in bi) * bd
        raise TypeError(f"not an expression: {e!r}")

    def _out_density(self, a: Assignment) -> float:
        decl = self.tp.tensors.get(a.output.tensor)
        if decl is not None and decl.format.is_dense:
            return 1.0
        return self._expr(a.value, self._dims(a))[1]

    # -- per-assignment cost with inlining -------------------------------------------
    def nest(self, a: Assignment) -> _Nest:
        dims = self._dims(a)
        filters = [(acc, self.dens(acc.tensor)) for acc in _intersected(a.value)]
        return _Nest(dims, _dataflow_order(a, self.tp), filters)

    def scan_bytes(self, acc: Access, nest: _Nest) -> float:
        decl = self.tp.tensors.get(acc.tensor)
        if decl is None:
            return 0.0
        fmt = decl.format
        seq = _storage_indices(acc, decl)
        block = [fmt.block[m] for m in fmt.mode_order] if fmt.block else [1] * len(seq)
        own = (acc, self.dens(acc.tensor))
        scan = _Nest(nest.dims, nest.order, [*nest.filters, own])
        total, fibers = 0.0, 1.0
        for lv, lf in enumerate(fmt.levels):
            pts = scan.points(scan.prefix(seq[lv])) / _prod(block[: lv + 1])
            if lf is LevelFormat.COMPRESSED:
                total += CRD_BYTES * pts + SEG_BYTES * fibers
            elif lf is LevelFormat.SINGLETON:
                total += CRD_BYTES * pts
            fibers = pts
        if seq:
            total += VALUE_BYTES * scan.points(scan.prefix(seq[-1]))
        else:
            total += VALUE_BYTES
        return total

    def recompute_factor(self, acc: Access, nest: _Nest) -> float:
        """Visits of the consumer's loop nest per full evaluation of the inlined producer."""
        decl = self.tp.tensors.get(acc.tensor)
        seq = _storage_indices(acc, decl) if decl else list(acc.indices)
        if not seq:
            return 1.0
        prefix = nest.prefix(seq[0])
        alone = _Nest(nest.dims, nest.order, [(acc, self.dens(acc.tensor))])
        own = [i for i in prefix if i in acc.indices]
        base = alone.points(own)
        return max(1.0, nest.points(prefix) / base) if base > 0 else 1.0

    def cost(self, a: Assignment, group: set[str], depth: int = 0) -> _Cost:
        """FLOPs and bytes of ``a`` with in-group producers inlined (not the output write)."""
        nest = self.nest(a)
        flops = self._expr(a.value, nest.dims)[2]
        nbytes = 0.0
        for acc in _accesses(a.value):
            prod = self.producer.get(acc.tensor)
            if prod is not None and prod.name in group and prod.name != a.name and depth < 32:
                inner = self.cost(prod, group, depth + 1)
                k = self.recompute_factor(acc, nest)
                flops += k * inner.flops
                nbytes += k * inner.bytes
            else:
                nbytes += self.scan_bytes(acc, nest)
        return _Cost(flops, nbytes)

    def group_cost(self, names: tuple[str, ...]) -> _Cost:
        group = set(names)
        consumers: dict[str, set[str]] = {}
        for a in self.tp.assignments:
            for acc in _accesses(a.value):
                consumers.setdefault(acc.tensor, set()).add(a.name)
        flops = nbytes = 0.0
        for name in names:
            a = self.tp.assignment(name)
            t = a.output.tensor
            used_outside = bool(consumers.get(t, set()) - group) or t in self.tp.outputs
            views = [n for n, d in self.tp.tensors.items() if d.view_of == t]
            if consumers.get(t, set()) <= group and not used_outside and not views and consumers.get(t):
                continue  # only inlined into its consumers
            c = self.cost(a, group)
            flops += c.flops
            decl = self.tp.tensors.get(t)
            nbytes += c.bytes + (footprint(decl, self.dens(t)) if decl else 0.0)
        return _Cost(flops, nbytes)


def groups_of(program: Any) -> list[tuple[str, tuple[str, ...]]]:
    """(name, assignments) per kernel of a dataflow Program, else the program's groups."""
    kernels = getattr(program, "kernels", None)
    if kernels:
        return [(k.name, tuple(k.assignments)) for k in kernels if k.assignments]
    tp: TensorProgram = getattr(program, "program", program)
    if tp.groups:
        return [(g.name, g.assignments) for g in tp.groups]
    return [(a.name, (a.name,)) for a in tp.assignments]


def estimate(program: Any, groups: list[tuple[str, tuple[str, ...]]] | None = None) -> Estimate:
    """FLOPs and bytes of a dataflow Program (or TensorProgram) under its (or the given) grouping."""
    tp: TensorProgram = getattr(program, "program", program)
    data = getattr(program, "data", None) or {}
    model = CostModel(tp, data)
    rows = []
    for name, names in groups if groups is not None else groups_of(program):
        c = model.group_cost(names)
        rows.append((name, c.flops, c.bytes))
    return Estimate(sum(r[1] for r in rows), sum(r[2] for r in rows), tuple(rows))


def relative_error(estimated: float, measured: float) -> float:
    return abs(estimated - measured) / measured if measured else (0.0 if not estimated else math.inf)
