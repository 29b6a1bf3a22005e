"""The cost model: FLOPs and bytes of a compiled program, read off its dataflow graphs
(no simulation).

The estimate walks each kernel's graph, the one the simulator runs, in topological order and
carries an expected token count per stream instead of the tokens themselves: a stream is
``Flow(n, fibers, dim)``, n data tokens in ``fibers`` fibers over coordinates 0..dim-1. A
scanner multiplies the refs it gets by its level's mean fiber length (measured on the input
data, or, for a tensor an earlier kernel writes, taken from what its writers received);
joiners assume independent coordinates; ALUs, reducers, accumulators and writers count as
the simulator's primitives do (one FLOP per scalar, tile elements or 2mnk per tile op;
words read and written by scanners, value arrays and writers). Because it follows the
lowering, a change to the compiler moves the estimate with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from fuseflow.dse.result import Estimate
from fuseflow.ir.data import StoredTensor, resolve_view, store
from fuseflow.ir.dataflow import Kernel, Program
from fuseflow.ir.formats import LevelFormat
from fuseflow.ir.graph import Node, NodeKind

WORD_BYTES = 4
SEG_WORDS_PER_REF = 2


#: largest histogram a flow carries (entries); past it, positions count as uniform
HIST_CAP = 1 << 22


@dataclass(frozen=True)
class Flow:
    """Expected data tokens of a stream: ``n`` in ``fibers`` fibers of ``dim`` coordinates.
    ``hist``, where known, spreads the n tokens over their values (a coordinate stream) or the
    positions they point at (a ref stream): a scanner visits its fibers by it, so fibers that
    are reached more often (a high-degree node's row, two hops away) weigh more."""

    n: float
    fibers: float = 1.0
    dim: float = 1.0
    hist: np.ndarray | None = None

    def scaled(self, n: float) -> Flow:
        h = None if self.hist is None or self.n <= 0 else self.hist * (n / self.n)
        return Flow(n, self.fibers, self.dim, h)

    @property
    def density(self) -> float:
        space = self.fibers * self.dim
        return min(1.0, self.n / space) if space > 0 else 0.0


@dataclass
class LevelStats:
    fibers: float
    coords: float
    lengths: np.ndarray | None = None  # per fiber, for a compressed level of known data
    crd: np.ndarray | None = None  # coordinates, position by position

    @property
    def mean(self) -> float:
        return self.coords / self.fibers if self.fibers > 0 else 0.0


@dataclass
class Tally:
    flops: float = 0.0
    words: float = 0.0


def _stats_of(st: StoredTensor) -> list[LevelStats]:
    out, fibers = [], 1.0
    for lv in st.levels:
        if lv.format is LevelFormat.DENSE:
            coords = fibers * lv.dim
        elif lv.format is LevelFormat.COMPRESSED and lv.seg is not None:
            fibers = float(len(lv.seg) - 1)
            coords = float(lv.seg[-1]) if len(lv.seg) else 0.0
            out.append(LevelStats(fibers, coords, np.diff(lv.seg).astype(np.float64), lv.crd))
            fibers = coords
            continue
        else:
            coords = float(len(lv.crd)) if lv.crd is not None else fibers
        out.append(LevelStats(fibers, coords))
        fibers = coords
    return out


class GraphCost:
    """Walks a program's kernels in order; tensors written by a kernel get the level
    statistics its writers saw, for the kernels after it."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self.levels: dict[str, list[LevelStats]] = {}
        self.tile_words: dict[str, int] = {}

    # -- tensor statistics --------------------------------------------------------------
    def stats(self, tensor: str) -> list[LevelStats]:
        if tensor in self.levels:
            return self.levels[tensor]
        tp = self.program.program
        decl = tp.tensor(tensor)
        data = resolve_view(tp.tensors, dict(self.program.data), tensor)
        if data is not None:
            st = store(data, decl.format)
            self.levels[tensor] = _stats_of(st)
            self.tile_words[tensor] = int(np.prod(st.vals.shape[1:])) if st.vals.ndim > 1 else 1
        elif decl.view_of is not None and decl.view_of in self.levels:
            self.levels[tensor] = self._view_stats(tensor, decl.view_of)
        else:  # no data and no writer: assume dense
            self.levels[tensor] = self._dense_stats(tensor)
        return self.levels[tensor]

    def _dense_stats(self, tensor: str) -> list[LevelStats]:
        decl = self.program.program.tensor(tensor)
        block = decl.format.block or (1,) * decl.order
        out, fibers = [], 1.0
        for m in decl.format.mode_order:
            coords = fibers * max(1, decl.shape[m] // block[m])
            out.append(LevelStats(fibers, coords))
            fibers = coords
        return out

    def _view_stats(self, view: str, base: str) -> list[LevelStats]:
        """A reordered or reformatted copy: same stored entries, spread uniformly."""
        src = self.levels[base]
        nnz = src[-1].coords if src else 1.0
        decl = self.program.program.tensor(view)
        block = decl.format.block or (1,) * decl.order
        dims = [max(1, decl.shape[m] // block[m]) for m in decl.format.mode_order]
        total = float(math.prod(dims)) or 1.0
        density = min(1.0, nnz / total)
        out, fibers, below = [], 1.0, total
        for lvl, d in enumerate(dims):
            below /= d
            if decl.format.levels[lvl] is LevelFormat.DENSE:
                coords = fibers * d
            else:  # a coordinate is stored when any entry under it is
                coords = fibers * d * (1.0 - (1.0 - density) ** below)
            out.append(LevelStats(fibers, coords))
            fibers = coords
        return out

    # -- one kernel -----------------------------------------------------------------------
    def kernel(self, k: Kernel) -> Tally:
        g = k.graph
        flows: dict[tuple[int, str], Flow] = {}
        into: dict[int, dict[str, Flow]] = {nid: {} for nid in g.nodes}
        feeds: dict[tuple[int, str], list[tuple[int, str]]] = {}
        for s in g.streams:
            feeds.setdefault((s.src.node, s.src.port), []).append((s.dst.node, s.dst.port))
        tally = Tally()
        written: dict[str, dict[int, Flow]] = {}
        for nid in g.topological_order():
            node = g.nodes[nid]
            outs = self._node(node, into[nid], tally, written)
            for port, flow in outs.items():
                flows[(nid, port)] = flow
                for dst, dport in feeds.get((nid, port), []):
                    into[dst][dport] = flow
        for tensor, by_level in written.items():
            self.levels[tensor] = [LevelStats(max(f.fibers, 1.0), f.n) for _, f in sorted(by_level.items())]
        return tally

    def _node(self, node: Node, ins: dict[str, Flow], tally: Tally,
              written: dict[str, dict[int, Flow]]) -> dict[str, Flow]:
        a, kind = node.attrs, node.kind
        one = Flow(1.0)
        first = next(iter(ins.values()), one)
        if kind is NodeKind.ROOT:
            return {"ref": Flow(1.0, hist=np.ones(1))}
        if kind is NodeKind.LEVEL_SCAN:
            refs = ins.get("ref", one)
            if a.tensor is None:  # a scan of the index space alone
                dim = float(a.dim or 1)
                f = Flow(refs.n * dim, refs.n, dim)
                return {"crd": f, "ref": f}
            lv = self.stats(a.tensor)[a.level or 0]
            dim = float(a.dim or (lv.mean or 1.0))
            crd, f = _scan(refs, lv, a.format, dim)
            if a.format is LevelFormat.COMPRESSED:
                tally.words += SEG_WORDS_PER_REF * refs.n + f.n
            elif a.format is LevelFormat.SINGLETON:
                tally.words += f.n
            return {"crd": crd, "ref": f}
        if kind is NodeKind.LOCATE:
            f = ins.get("crd", first)
            base = ins.get("base")
            located = f
            if f.hist is not None and base is not None and base.hist is not None and a.dim:
                if len(base.hist) * len(f.hist) <= HIST_CAP and base.n > 0:  # base*dim + crd, independent
                    located = Flow(f.n, f.fibers, f.dim, np.outer(base.hist / base.n, f.hist).ravel())
                else:
                    located = Flow(f.n, f.fibers, f.dim)
            elif base is not None and (base.hist is None or base.n > 1):
                located = Flow(f.n, f.fibers, f.dim)
            return {"crd": f, "ref": ins.get("ref", f), "located": located}
        if kind is NodeKind.VAL_ARRAY:
            f = ins.get("ref", first)
            self.stats(str(a.tensor))
            tally.words += f.n * self.tile_words.get(str(a.tensor), _tile(a.block))
            return {"val": f}
        if kind is NodeKind.REPEAT_SIG:
            return {"repsig": ins.get("crd", first)}
        if kind is NodeKind.REPEAT:
            sig, x = ins.get("repsig", first), ins.get("in", first)
            return {"out": Flow(sig.n, sig.fibers, sig.dim, None if x.hist is None else
                                (x.hist * (sig.n / x.n) if x.n > 0 else None))}
        if kind in (NodeKind.INTERSECT, NodeKind.UNION):
            crds = [ins[p] for p in sorted(ins) if p.startswith("crd")]
            ref_flows = [ins.get(f"ref{i}", crds[i]) for i in range(len(crds))]
            if kind is NodeKind.INTERSECT:
                return _intersect(crds, ref_flows)
            base = crds[0]
            n = base.fibers * base.dim * (1.0 - math.prod(1.0 - c.density for c in crds))
            return {"crd": Flow(n, base.fibers, base.dim),
                    **{f"ref{i}": Flow(n, base.fibers, base.dim) for i in range(len(crds))}}
        if kind is NodeKind.ALU:
            f = ins.get("a", first)
            tally.flops += f.n * _alu_flops(node)
            return {"val": f}
        if kind is NodeKind.REDUCE:
            v = ins.get("val", first)
            tally.flops += v.n * _tile(a.block)
            parent = ins.get("crd")
            out = Flow(v.fibers, parent.fibers, parent.dim) if parent else Flow(v.fibers, 1.0, max(v.fibers, 1.0))
            return {"val": out}
        if kind is NodeKind.SPACC1:
            # sums the inner fibers of every outer (reduced) coordinate of an enclosing fiber
            outer, inner, v = ins.get("crd_outer", one), ins.get("crd_inner", first), ins.get("val", first)
            tally.flops += v.n * _tile(a.block)
            f = _merged(inner, outer)
            return {"crd": f, "val": f}
        if kind is NodeKind.SPACC2:
            outer, mid, inner = ins.get("crd_outer", one), ins.get("crd_mid", first), ins.get("crd_inner", first)
            v = ins.get("val", first)
            tally.flops += v.n * _tile(a.block)
            mids = _merged(mid, outer)
            inners = Flow(mids.n * inner.dim * (1.0 - (1.0 - inner.density) ** max(1.0, inner.fibers / max(mids.n, 1.0))),
                          mids.n, inner.dim)
            return {"crd_mid": mids, "crd_inner": inners, "val": inners}
        if kind in (NodeKind.CRD_DROP, NodeKind.CRD_HOLD):
            return {"outer": ins.get("outer", first), "inner": ins.get("inner", first)}
        if kind in (NodeKind.BROADCAST, NodeKind.FORK):
            f = ins.get("in", first)
            n = int(a.arity or 1)
            lane = f if kind is NodeKind.BROADCAST else f.scaled(f.n / n)
            return {f"out{i}": lane for i in range(n)}
        if kind is NodeKind.JOIN:
            lanes = [ins[p] for p in sorted(ins) if p.startswith("in")]
            if not lanes:
                return {"out": one}
            # at v's own level every lane saw every fiber; below it the lanes split them
            fibers = lanes[0].fibers if not a.level else sum(f.fibers for f in lanes)
            return {"out": Flow(sum(f.n for f in lanes), fibers, lanes[0].dim)}
        if kind is NodeKind.LEVEL_WRITE:
            f = ins.get("crd", first)
            tally.words += f.n + f.fibers
            written.setdefault(str(a.tensor), {})[a.level or 0] = f
            return {}
        if kind is NodeKind.VAL_WRITE:
            f = ins.get("val", first)
            tally.words += f.n * _tile(a.block)
            return {}
        return {}

    def run(self) -> Estimate:
        per = []
        for k in self.program.kernels:
            t = self.kernel(k)
            per.append((k.name, t.flops, t.words * WORD_BYTES))
        return Estimate(sum(f for _, f, _ in per), sum(b for _, _, b in per), tuple(per))


def _scan(refs: Flow, lv: LevelStats, fmt: LevelFormat | None, dim: float) -> tuple[Flow, Flow]:
    """What a level scanner emits for ``refs``: its coordinates (histogram over their values)
    and positions (histogram over the level's positions), when the refs' histogram and the
    level's data are known; otherwise mean fiber lengths."""
    if fmt is LevelFormat.DENSE:
        n = refs.n * dim
        d = int(dim)
        crd_hist = np.full(d, refs.n) if d <= HIST_CAP else None
        pos = np.repeat(refs.hist, d) if refs.hist is not None and len(refs.hist) * d <= HIST_CAP else None
        return Flow(n, refs.n, dim, crd_hist), Flow(n, refs.n, dim, pos)
    if lv.lengths is not None and refs.hist is not None and len(refs.hist) == len(lv.lengths):
        n = float(refs.hist @ lv.lengths)
        width = max(dim, lv.mean)
        if lv.coords > HIST_CAP or lv.crd is None:
            return Flow(n, refs.n, width), Flow(n, refs.n, width)
        pos = np.repeat(refs.hist, lv.lengths.astype(np.int64))
        crd_hist = np.bincount(lv.crd.astype(np.int64), weights=pos, minlength=int(dim)) if dim <= HIST_CAP else None
        return Flow(n, refs.n, width, crd_hist), Flow(n, refs.n, width, pos)
    n = refs.n * lv.mean
    f = Flow(n, refs.n, max(dim, lv.mean))
    return f, f


def _intersect(crds: list[Flow], refs: list[Flow]) -> dict[str, Flow]:
    """Coordinates in every input: the most selective input with a histogram, thinned by the
    others' densities. A full (dense) input's refs then point where those coordinates are."""
    base = crds[0]
    with_hist = [i for i, c in enumerate(crds) if c.hist is not None and len(c.hist) == int(base.dim)]
    if not with_hist:
        n = base.fibers * base.dim * math.prod(c.density for c in crds)
        return {"crd": Flow(n, base.fibers, base.dim),
                **{f"ref{i}": r.scaled(n) for i, r in enumerate(refs)}}
    j = min(with_hist, key=lambda i: crds[i].density)
    hj = crds[j].hist
    assert hj is not None
    m: np.ndarray = hj * math.prod(c.density for i, c in enumerate(crds) if i != j)
    n = float(m.sum())
    out = {"crd": Flow(n, base.fibers, base.dim, m)}
    for i, r in enumerate(refs):
        h = r.hist
        if i != j and crds[i].density >= 0.999 and h is not None and len(m) and len(h) % len(m) == 0:
            parent = h.reshape(-1, len(m)).sum(axis=1)
            total = parent.sum()
            out[f"ref{i}"] = Flow(n, r.fibers, r.dim, np.outer(parent / total, m).ravel() if total > 0 else None)
        else:
            out[f"ref{i}"] = r.scaled(n)
    return out


def _merged(inner: Flow, outer: Flow) -> Flow:
    """The union, per enclosing fiber, of the inner fibers under each of its outer coordinates."""
    per = outer.n / max(outer.fibers, 1.0)  # inner fibers merged into one
    unique = inner.dim * (1.0 - (1.0 - inner.density) ** max(per, 1.0))
    return Flow(outer.fibers * unique, outer.fibers, inner.dim)


def _tile(block: Any) -> int:
    return int(math.prod(block)) if block else 1


def _alu_flops(node: Node) -> float:
    """FLOPs of one ALU token: 1 for a scalar, the tile's elements, or 2mnk for a tile
    contraction (the compiler tiles every tiled index by the same B, so k = max(block))."""
    a = node.attrs
    if not a.block:
        return 1.0
    from fuseflow.ir.program import BinaryOp
    from fuseflow.sim import ops

    tile = ops.parse_tile_label(a.label)
    if tile is not None and isinstance(a.op, BinaryOp) and ops.is_contraction(a.op, tile[1], tile[2]):
        return 2.0 * _tile(a.block) * max(a.block)
    return float(_tile(a.block))


def estimate(program: Program) -> Estimate:
    """FLOPs and bytes of ``program`` from its compiled dataflow graphs."""
    return GraphCost(program).run()


def relative_error(estimated: float, measured: float) -> float:
    return abs(estimated - measured) / measured if measured else (0.0 if not estimated else math.inf)
