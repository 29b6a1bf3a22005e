"""Kernels whose values are tiles (blocked mode), or any values but float32 scalars.

Their value queues carry handles (exact integers in float32) into the kernel's :class:`Pool`.
ALUs and reducers run their scalar step function for the timing, then compute the values it
emitted with the reference's functions (``prims.compute``), stacked tiles at once where they can.
"""

from __future__ import annotations

import bisect
import itertools
import math
import threading
from typing import Any

import numpy as np
from fuseflow.ir.dataflow import Kernel
from fuseflow.ir.errors import SimulationError
from fuseflow.ir.graph import Attrs, NodeKind
from fuseflow.ir.program import ReduceOp
from fuseflow.sim import ops
from fuseflow.sim.fast.codes import C_DONE, C_EMPTY, C_VAL, STOP0
from fuseflow.sim.fast.stream.common import CAP, END, FLOPS, HEAD, K0
from fuseflow.sim.prims.common import EMPTY
from fuseflow.sim.prims.compute import binary_value, fold, is_matmul, reduce_zero, unary_value

I64 = np.int64
F32 = np.float32
LIMIT = 1 << 24  # float32 holds every integer below this exactly
COLLECT_BYTES = 64 << 20
CHUNK_BYTES = 8 << 20  # big enough to amortise a numpy call, small enough to stay in the heap


class Pool:
    """Values by handle: stacks of values of one shape each (axis 0: the stack)."""

    def __init__(self, kernel: str) -> None:
        self.kernel = kernel
        self.segs: list[np.ndarray] = []
        self.starts = np.zeros(0, I64)  # each stack's first handle
        self.firsts: list[int] = []  # the same, for bisect
        self.n = 0
        self.sizes = np.zeros(1024, I64)  # words per value (1 for a scalar), by handle
        self.maxw = 1
        self.lock = threading.Lock()
        self.kept: set[int] = set()  # stacks never freed (the stored values)
        self.grown = 0  # bytes added since the last collection
        self.live = 0  # bytes of made values the last collection kept

    def add(self, stack: np.ndarray, keep: bool = False) -> np.ndarray:
        """Appends a stack of values; returns their handles (float32). ``keep``: the stack
        is never freed (stored values, their views cost nothing)."""
        k = len(stack)
        w = max(1, math.prod(stack.shape[1:]))
        with self.lock:
            h = self.n
            if h + k >= LIMIT:
                raise SimulationError(
                    f"kernel {self.kernel}: more than {LIMIT:,} tile values (the fast engine's limit for "
                    "blocked kernels); try --engine reference, or a smaller model")
            if h + k > len(self.sizes):  # at least doubled
                self.sizes = np.concatenate([self.sizes, np.zeros(max(len(self.sizes), k), I64)])
            self.sizes[h:h + k] = w
            self.maxw = max(self.maxw, w)
            if keep:
                self.kept.add(len(self.segs))
            else:
                self.grown += stack.nbytes
            self.segs.append(stack)
            self.firsts.append(h)
            self.starts = np.append(self.starts, h)
            self.n = h + k
        return np.arange(h, h + k, dtype=F32)

    def add_values(self, vals: list[Any]) -> np.ndarray:
        """Handles (float32) of values of any shapes: one stack per run of one shape."""
        runs = itertools.groupby(vals, lambda v: (np.shape(v), getattr(v, "dtype", None)))
        return np.concatenate([self.add(np.stack([np.asarray(v) for v in run])) for _, run in runs])

    @property
    def due(self) -> bool:
        """Worth a collection: the made values grew past 64 MB and twice what was kept."""
        return self.grown > max(COLLECT_BYTES, self.live)

    def collect(self, live: np.ndarray) -> None:
        """Frees the stacks none of the ``live`` handles (all a queue or record holds) points into."""
        used = set(np.unique(self._where(live)).tolist()) if len(live) else set()
        kept = 0
        for k, seg in enumerate(self.segs):
            if seg is None or k in self.kept:
                continue
            if k in used:
                kept += seg.nbytes
            else:
                self.segs[k] = None  # type: ignore[call-overload]  # freed; its handles are dead
        self.live, self.grown = kept, 0

    def _where(self, hs: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.starts, hs, side="right") - 1

    def values(self, codes: np.ndarray, hs: np.ndarray) -> list[Any]:
        """The values of handles ``hs`` (N where the code is not a value)."""
        return [self.get(int(h)) if c == C_VAL else EMPTY for c, h in zip(codes.tolist(), hs.tolist(), strict=True)]

    def get(self, h: int) -> Any:
        s = bisect.bisect_right(self.firsts, h) - 1
        v = self.segs[s][h - self.firsts[s]]
        return v if v.ndim else v[()]  # a scalar as the reference has it (np.float32)

    def gather(self, hs: np.ndarray) -> np.ndarray | None:
        """The stacked values of handles ``hs`` when they have one shape and dtype, else None."""
        if not len(hs):
            return None
        seg = self._where(hs)
        s0 = int(seg[0])
        if (seg == s0).all():
            return self.segs[s0][hs - self.starts[s0]]
        first = self.segs[s0]
        if any(self.segs[s].shape[1:] != first.shape[1:] or self.segs[s].dtype != first.dtype
               for s in np.unique(seg).tolist()):
            return None
        out = np.empty((len(hs),) + first.shape[1:], first.dtype)
        for s in np.unique(seg).tolist():
            m = seg == s
            out[m] = self.segs[s][hs[m] - self.starts[s]]
        return out


def tiled(a: Attrs) -> bool:
    """An ALU over tiles (its values take the pool)."""
    return ops.parse_tile_label(a.label) is not None or a.label == "tile_matmul" or bool(a.block)


def boxed(kernel: Kernel, ctx: Any) -> Pool | None:
    """The kernel's pool when its values are not all float32 scalars (else None)."""
    for node in kernel.graph.nodes.values():
        a = node.attrs
        if (node.kind is NodeKind.ALU and tiled(a)) or (node.kind is NodeKind.REDUCE and a.block):
            return Pool(kernel.name)
        if node.kind is NodeKind.VAL_ARRAY:
            try:
                vals = ctx.stored(a.tensor).vals
            except Exception:  # noqa: BLE001 - the reference reports it
                continue
            if vals.ndim != 1 or vals.dtype != F32:
                return Pool(kernel.name)
    return None


def stored(pool: Pool, vals: np.ndarray) -> tuple[np.ndarray, int, float, int]:
    """A value array's stored values as the pool's first stacks: (the handles of ``vals``,
    words per tile (0: scalars), the handle of N's value, block)."""
    hs = pool.add(np.ascontiguousarray(vals), keep=True)
    z = pool.add(np.zeros((1,) + vals.shape[1:], F32), keep=True)
    tiled = vals.ndim > 1
    return hs, math.prod(vals.shape[1:]) if tiled else 0, float(z[0]), int(vals.shape[1]) if tiled else 1


class AluValues:
    """Computes a boxed ALU's values after each call of its scalar step function."""

    def __init__(self, pool: Pool, node: Any, qa: int, qb: int, qo: int) -> None:
        a = node.attrs
        self.pool = pool
        self.tile = ops.parse_tile_label(a.label)
        self.op, self.scalar = a.op, a.scalar
        self.unary = qb < 0
        self.matmul = False if self.unary else is_matmul(a.op, a.label, self.tile)
        self.qa, self.qb, self.qo = qa, qb, qo
        self.heads = (0, 0, 0)

    def before(self, q: Any, st: np.ndarray) -> None:
        c = q.ctl
        self.heads = (int(c[self.qa, HEAD]), int(c[self.qb, HEAD]) if self.qb >= 0 else 0, int(c[self.qo, END]))

    def after(self, q: Any, st: np.ndarray) -> None:
        ha, hb, e0 = self.heads
        pay = np.flatnonzero(q.Q[self.qo][0, e0:int(q.ctl[self.qo, END])] == C_VAL)  # 1:1 with the inputs
        step = max(1, CHUNK_BYTES // (4 * self.pool.maxw))  # a few MB of tiles per numpy call
        for lo in range(0, len(pay), step):
            p = pay[lo:lo + step]
            a = (q.Q[self.qa][0, ha + p], q.V[self.qa][ha + p])
            b = None if self.unary else (q.Q[self.qb][0, hb + p], q.V[self.qb][hb + p])
            hs, flops = self._values(a, b)
            q.V[self.qo][e0 + p] = hs
            st[FLOPS] += flops - len(p)  # the step function counted one per value

    def _values(self, a: tuple[np.ndarray, np.ndarray],
                b: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, int]:
        """Handles and FLOPs of the results on operands (codes, handles) ``a`` and ``b`` (None: unary)."""
        pool = self.pool
        if (a[0] == C_VAL).all() and (b is None or (b[0] == C_VAL).all()):
            X = pool.gather(a[1].astype(I64))
            Y = None if b is None else pool.gather(b[1].astype(I64))
            got = None if X is None or (b is not None and Y is None) else self._stack(X, Y)
            if got is not None:
                return pool.add(np.ascontiguousarray(got[0])), got[1] * len(got[0])
        xs = pool.values(*a)
        if b is None:  # every x is a payload (the step passes N through)
            vals = [unary_value(self.op, self.scalar, self.tile, x) for x in xs]
            return pool.add_values(vals), sum(int(np.size(x)) for x in xs)
        rs = [binary_value(self.op, self.matmul, self.tile, x, y) for x, y in zip(xs, pool.values(*b), strict=True)]
        done = [r for r in rs if r is not None]
        if len(done) < len(rs):  # the step function emits values for payloads only
            raise SimulationError(f"kernel {pool.kernel}: ALU operands out of step")
        return pool.add_values([r[0] for r in done]), sum(r[1] for r in done)

    def _stack(self, X: np.ndarray, Y: np.ndarray | None) -> tuple[np.ndarray, int] | None:
        """Results and FLOPs per token on stacks (``Y`` None: unary), bit-exact, or None where unsure."""
        op, tile = self.op, self.tile
        if X.dtype != F32 or (Y is not None and Y.dtype != F32):
            return None
        if Y is None:
            if tile is None:
                return ops.unary(op, X, self.scalar), max(1, math.prod(X.shape[1:]))
            if tile[0] != "tile" or X.ndim != len(tile[1][0]) + 1:
                return None
            V = ops.tile_unary("tile", op, X, self.scalar, tile[1], tile[2], lead=1)
            return V, max(1, math.prod(X.shape[1:]))
        if tile is not None:
            _, ins, out = tile
            if X.ndim != len(ins[0]) + 1 or Y.ndim != len(ins[1]) + 1 or (self.matmul and not ops.by_matmul(ins, out)):
                return None
            V = ops.tile_binary(op, X, Y, ins, out, lead=1)
            return V, ops.einsum_flops(X[0], Y[0], ins, out) if self.matmul else max(1, math.prod(V.shape[1:]))
        if self.matmul or X.shape != Y.shape:
            return None
        V = ops.binary(op, X, Y)
        return V, max(1, math.prod(V.shape[1:]))


class ReduceValues:
    """A boxed reducer's values: replays the tokens its call consumed and emitted, folding
    each closed fiber's values with ``prims.compute.fold``."""

    def __init__(self, pool: Pool, node: Any, qi: int, qo: int) -> None:
        a = node.attrs
        self.pool = pool
        self.is_max = a.op is ReduceOp.MAX
        self.zero = reduce_zero(a.block)
        self.qi, self.qo = qi, qo
        self.acc: Any = None
        self.heads = (0, 0)

    def before(self, q: Any, st: np.ndarray) -> None:
        self.heads = (int(q.ctl[self.qi, HEAD]), int(q.ctl[self.qo, END]))

    def after(self, q: Any, st: np.ndarray) -> None:
        h0, e0 = self.heads
        h1, e1 = int(q.ctl[self.qi, HEAD]), int(q.ctl[self.qo, END])
        if h1 == h0 and e1 == e0:
            return
        ci, vi = q.Q[self.qi][0, h0:h1].tolist(), q.V[self.qi][h0:h1]
        co, Vo = q.Q[self.qo][0, e0:e1].tolist(), q.V[self.qo]
        i, flops = 0, 0
        slots: list[int] = []
        vals: list[Any] = []
        closing = False  # the value just emitted closed a fiber at a stop Sk, k > 0
        for k, c in enumerate(co):
            if c == C_VAL or c == C_EMPTY:
                while True:
                    x = ci[i]
                    i += 1
                    if x == C_VAL:
                        flops += self._fold(vi[i - 1])
                    elif x != C_EMPTY:
                        break
                if c == C_VAL:
                    slots.append(k)
                    vals.append(self.zero if self.acc is None else self.acc)
                closing = x < STOP0
                self.acc = None
            elif c <= STOP0:
                i += 0 if closing else 1  # a stop that closes no value: a parent's empty fiber
                closing = False
            elif c == C_DONE:
                i += 1
        for x, v in zip(ci[i:], vi[i:].tolist(), strict=True):  # an open fiber goes on
            if x == C_VAL:
                flops += self._fold(v)
        if vals:
            Vo[e0 + np.array(slots, I64)] = self.pool.add_values(vals)
        st[FLOPS] += flops

    def _fold(self, h: float) -> int:
        """Folds the value of handle ``h`` into the open fiber's; its FLOPs past the step's one."""
        v = self.pool.get(int(h))
        self.acc = fold(self.acc, v, self.is_max)
        return int(np.size(v)) - 1


class SpaccValues:
    """A boxed sparse accumulator's values: redoes the sums and flushes its step function
    logs (key, value's queue position) on the values, writing each flush's sums in key order."""

    def __init__(self, pool: Pool, qouter: int, qv: int, qw: int) -> None:
        self.pool = pool
        self.qouter, self.qv, self.qw = qouter, qv, qw
        self.acc: dict[int, Any] = {}
        self.ev = np.zeros((2, 0), I64)
        self.e0 = 0

    def before(self, q: Any, st: np.ndarray) -> None:
        """Room in ``ev`` (the step's event log) for every token a call may take."""
        room = int(q.ctl[self.qv, CAP] + q.ctl[self.qouter, CAP]) + 2
        if self.ev.shape[1] < room:
            self.ev = np.zeros((2, 2 * room), I64)
        st[K0 + 5] = 0
        self.e0 = int(q.ctl[self.qw, END])

    def after(self, q: Any, st: np.ndarray) -> None:
        n = int(st[K0 + 5])
        if not n:
            return
        pool, acc, Vi, Wv = self.pool, self.acc, q.V[self.qv], q.V[self.qw]
        slots = self.e0 + np.flatnonzero(q.Q[self.qw][0, self.e0:int(q.ctl[self.qw, END])] == C_VAL)
        e, flops = 0, 0
        for c, p in zip(self.ev[0, :n].tolist(), self.ev[1, :n].tolist(), strict=True):
            if c >= 0:
                v = pool.get(int(Vi[p])) if p >= 0 else ops.ZERO
                acc[c] = acc[c] + v if c in acc else ops.as_value(v)
                flops += int(np.size(v)) - 1  # the step counted one
                continue
            keys = sorted(acc)
            if keys:
                Wv[slots[e:e + len(keys)]] = pool.add_values([acc[k] for k in keys])
            e += len(keys)
            acc.clear()
        st[FLOPS] += flops


def collect(pool: Pool, q: Any, runners: list[Any]) -> None:
    """Frees the pool's stacks that no queue ``q`` nor writer's record points into (the
    engine calls it between calls when ``pool.due``, while no step function runs)."""
    live = [np.zeros(0, F32)]
    for k in range(len(q.Q)):
        h, e = int(q.ctl[k, HEAD]), int(q.ctl[k, END])
        live.append(q.V[k][h:e][q.Q[k][0, h:e] == C_VAL])
    live += [vals[codes == C_VAL] for r in runners for codes, vals in r.records if vals is not None]
    pool.collect(np.concatenate(live).astype(I64))


def unbox(pool: Pool, codes: np.ndarray, vals: np.ndarray) -> list[Any]:
    """A value writer's record as the reference's: values and N, no stops, no D."""
    keep = (codes > STOP0) & (codes != C_DONE)
    return pool.values(codes[keep], vals[keep])


__all__ = ["AluValues", "Pool", "ReduceValues", "SpaccValues", "boxed", "collect", "stored", "tiled", "unbox"]
