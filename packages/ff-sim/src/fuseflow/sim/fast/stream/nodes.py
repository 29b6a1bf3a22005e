"""One runner per graph node: its step function, queues, state and static parameters;
``build`` gives None for a node the streaming path does not take."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from fuseflow.ir.formats import LevelFormat
from fuseflow.ir.graph import Node, NodeKind, StreamKind
from fuseflow.ir.program import BinaryOp, ReduceOp, UnaryOp
from fuseflow.sim import ops
from fuseflow.sim.fast.codes import C_VAL
from fuseflow.sim.fast.stream import boxed, compute, flow, scan
from fuseflow.sim.fast.stream.common import END, K0, STATE_SLOTS, T
from fuseflow.sim.prims.compute import tile_size

I64 = np.int64
F32 = np.float32

BINARY_CODES = {BinaryOp.ADD: compute.OP_ADD, BinaryOp.SUB: compute.OP_SUB, BinaryOp.MUL: compute.OP_MUL,
                BinaryOp.DIV: compute.OP_DIV, BinaryOp.MAX: compute.OP_MAX, BinaryOp.MASK: compute.OP_MASK}
_NO_MEM = (False, np.zeros((1, 1), I64), np.zeros(4, I64), 1, 0, 0, np.zeros((2, 1), I64))  # memory off
_NO_SIZES = np.zeros(0, I64)
_NO_EVENTS = np.zeros((2, 0), I64)


class Runner:
    """A node in a streaming run. ``call(q, hz)`` runs its step function once over the
    engine's queue arrays ``q`` (``q.Q``, ``q.V``, ``q.ctl``) with horizon ``hz``."""

    def __init__(self, node: Node, ins: list[int], outs: list[int], step: Callable[[Any, int, Runner], int],
                 client: bool = False, vals: Any = None, state: dict[int, int] | None = None) -> None:
        self.node = node
        self.ins = ins  # queue ids it reads
        self.outs = outs  # queue ids it writes (streams, unconnected ports, records)
        self.step = step  # (queues, horizon, this runner) -> status
        self.client = client  # a memory client: its requests wait for the horizon
        self.vals = vals  # values computed around each call (``before``/``after``): see ``boxed``
        self.st = np.zeros(STATE_SLOTS, I64)
        for k, v in (state or {}).items():  # its initial state slots
            self.st[k] = v
        self.fst = np.zeros(1, F32)
        self.rep = np.zeros(2, I64)  # [queue, room needed]
        self.done = False
        self.status = -99
        self.hz, self.cap = -1, -1  # the horizon it blocked at (MEM_WAIT); its call's (``_schedule``)
        self.grow: Callable[[int], None] | None = None  # GROW_STATE: room for n coordinates
        self.records: list[tuple[np.ndarray, np.ndarray | None]] = []  # a writer's drained record

    def call(self, q: Any, hz: int) -> int:
        if self.vals is None:
            return self.step(q, hz, self)
        self.vals.before(q, self.st)
        status = self.step(q, hz, self)
        self.vals.after(q, self.st)
        return status

    @property
    def t(self) -> int:
        return int(self.st[T])


class Ports:
    """The queue ids of a node's ports: streams, plus a sink queue for each unconnected
    output and a record queue for each writer (both made on demand by ``new``)."""

    def __init__(self, ins: dict[str, int], outs: dict[str, int], new: Callable[[str], int]) -> None:
        self.ins = ins
        self.outs = outs
        self.new = new

    def out(self, port: str) -> int:
        if port not in self.outs:
            self.outs[port] = self.new("sink")
        return self.outs[port]


def _mem(ctx: Any, fm: Any, node: Node, pool: boxed.Pool | None = None,
         tile: int = 0) -> Callable[[int], tuple]:
    """hz -> the memory argument of a step call. A request is at most the configured
    batches, ``tile`` words, or (a boxed writer) the pool's biggest value."""
    if fm is None:
        return lambda hz: (*_NO_MEM, hz)
    mstate = fm.client(node.id)
    cfg = ctx.hw.memory
    words = max(cfg.crd_batch, cfg.seg_words_per_ref, cfg.val_batch, cfg.write_batch, tile, 1)
    return lambda hz: (True, fm.slots, mstate, fm.ii, fm.lat, fm.startup,
                       fm.buffer(words if pool is None else max(words, pool.maxw), node.id), hz)


def build(node: Node, ports: Ports, ctx: Any, fm: Any, kinds: dict[str, StreamKind],
          pool: boxed.Pool | None = None) -> Runner | None:
    """``pool``: the kernel's values are handles into it (see ``boxed``)."""
    maker: Any = _MAKERS.get(node.kind)
    return None if maker is None else maker(node, ports, ctx, fm, kinds, pool)


def _qv(q: Any, qs: list[int]) -> tuple[tuple, tuple]:
    """The token and value arrays of queues ``qs``."""
    return tuple(q.Q[x] for x in qs), tuple(q.V[x] for x in qs)


def _grown(tables: list[np.ndarray], which: range, n: int) -> None:
    """Tables ``which`` grown (contents kept) to at least n entries and twice their size."""
    size = max(n, 2 * len(tables[0]))
    for k in which:
        new = np.zeros(size, tables[k].dtype)
        new[:len(tables[k])] = tables[k]
        tables[k] = new


def _root_maker(node, ports, ctx, fm, kinds, pool):
    qo = ports.out("ref")
    return Runner(node, [], [qo], lambda q, hz, h: flow.root_step(q.ctl, qo, q.Q[qo], q.V[qo], h.st, h.rep))


def _broadcast_fork(node, ports, ctx, fm, kinds, pool):
    """Broadcast and fork: one input, ``arity`` outputs."""
    if (n := node.attrs.arity or 0) < 1:
        return None
    qi = ports.ins["in"]
    qos = [ports.out(f"out{k}") for k in range(n)]
    qo = np.array(qos, I64)
    step = flow.broadcast_step if node.kind is NodeKind.BROADCAST else flow.fork_step
    return Runner(node, [qi], qos, lambda q, hz, h: step(q.ctl, qi, q.Q[qi], q.V[qi], qo, *_qv(q, qos), h.st, h.rep))


def _repeat_sig(node, ports, ctx, fm, kinds, pool):
    qi, qo = ports.ins["crd"], ports.out("repsig")
    fiber_n = kinds.get("crd") is StreamKind.CRD
    return Runner(node, [qi], [qo], lambda q, hz, h: flow.repeat_sig_step(
        q.ctl, qi, q.Q[qi], qo, q.Q[qo], q.V[qo], fiber_n, h.st, h.rep))


def _repeat(node, ports, ctx, fm, kinds, pool):
    qi, qs, qo = ports.ins["in"], ports.ins["repsig"], ports.out("out")
    return Runner(node, [qi, qs], [qo], lambda q, hz, h: flow.repeat_step(
        q.ctl, qi, q.Q[qi], q.V[qi], qs, q.Q[qs], qo, q.Q[qo], q.V[qo], h.st, h.rep))


def _locate(node, ports, ctx, fm, kinds, pool):
    a = node.attrs
    dim = int(ctx.stored(a.tensor).levels[a.level].dim)
    qc = ports.ins["crd"]
    qr, qb = ports.ins.get("ref", -1), ports.ins.get("base", -1)
    qos = [ports.out(p) for p in ("crd", "ref", "located")]
    qo = np.array(qos, I64)
    ins = [x for x in (qc, qr, qb) if x >= 0]
    return Runner(node, ins, qos, lambda q, hz, h: flow.locate_step(
        q.ctl, qc, q.Q[qc], q.V[qc], qr, q.Q[qr if qr >= 0 else qc], q.V[qr if qr >= 0 else qc],
        qb, q.Q[qb if qb >= 0 else qc], dim, qo, *_qv(q, qos), h.st, h.rep))


_SCAN_FORMATS = {LevelFormat.DENSE: scan.DENSE, LevelFormat.COMPRESSED: scan.COMPRESSED,
                 LevelFormat.SINGLETON: scan.SINGLETON}


def _level_scan(node, ports, ctx, fm, kinds, pool):
    a = node.attrs
    cfg = ctx.hw.scanner
    seg = crd = np.zeros(0, I64)
    t0 = 0
    if a.tensor is None:
        if a.dim is None or a.format is not LevelFormat.DENSE:
            return None
        fmt, dim = scan.DENSE, int(a.dim)
    else:
        lv = ctx.stored(a.tensor).levels[a.level]
        fmt, dim = _SCAN_FORMATS.get(lv.format, -1), int(lv.dim)
        if fmt < 0 or (fmt != scan.DENSE and lv.crd is None) or (fmt == scan.COMPRESSED and lv.seg is None):
            return None
        if fmt != scan.DENSE:
            crd = np.ascontiguousarray(lv.crd, I64)
            t0 = cfg.startup_delay
        if fmt == scan.COMPRESSED:
            seg = np.ascontiguousarray(lv.seg, I64)
            f = cfg.data_load_factor
            t0 += math.ceil(len(seg) * f) + math.ceil(len(crd) * f)
    client = fmt != scan.DENSE
    mem = _mem(ctx, fm if client else None, node)
    qi, qc, qr = ports.ins["ref"], ports.out("crd"), ports.out("ref")
    L = max(1, cfg.output_latency)
    seq, delay = cfg.sequential_interval, cfg.initial_delay + cfg.miss_latency
    swr, batch = ctx.hw.memory.seg_words_per_ref, max(1, ctx.hw.memory.crd_batch)
    return Runner(node, [qi], [qc, qr], lambda q, hz, h: scan.level_scan_step(
        q.ctl, qi, q.Q[qi], qc, q.Q[qc], q.V[qc], qr, q.Q[qr], q.V[qr], fmt, dim, seg, crd, L, seq, delay,
        swr, batch, mem(hz), h.st, h.rep), client, state={T: t0})


def _val_array(node, ports, ctx, fm, kinds, pool):
    vals = ctx.stored(node.attrs.tensor).vals
    words, zero, block = 0, 0.0, 1
    if pool is not None:
        vals, words, zero, block = boxed.stored(pool, vals)
    elif vals.ndim != 1 or vals.dtype != F32:
        return None
    vals = np.ascontiguousarray(vals)
    mem = _mem(ctx, fm, node, tile=words)
    qi, qo = ports.ins["ref"], ports.out("val")
    L = ctx.hw.timing.val_array_latency.at(block)
    batch = max(1, ctx.hw.memory.val_batch)
    return Runner(node, [qi], [qo], lambda q, hz, h: scan.val_array_step(
        q.ctl, qi, q.Q[qi], qo, q.Q[qo], q.V[qo], vals, L, batch, words, zero, mem(hz), h.st, h.rep),
        True, state={K0: -1})  # no batch loaded


def _alu(node, ports, ctx, fm, kinds, pool):
    """A scalar ALU's step computes its values (unary: ``_UnaryValues``); ``boxed.AluValues`` a boxed one's."""
    a = node.attrs
    if pool is None and boxed.tiled(a):
        return None
    qo = ports.out("val")
    tm = ctx.hw.timing
    b = tile_size(node.attrs)
    if (a.arity or 1) == 1:
        if not isinstance(a.op, UnaryOp):
            return None
        qi = ports.ins["a"]
        L = tm.unary_latency.at(b)
        vals = (boxed.AluValues(pool, node, qi, -1, qo) if pool is not None
                else _UnaryValues(qo, ops.UNARY[a.op], F32(0.0 if a.scalar is None else a.scalar)))
        return Runner(node, [qi], [qo], lambda q, hz, h: compute.alu1_step(
            q.ctl, qi, q.Q[qi], q.V[qi], qo, q.Q[qo], q.V[qo], L, h.st, h.rep), vals=vals)
    if a.arity != 2 or a.op not in BINARY_CODES:
        return None
    qa, qb = ports.ins["a"], ports.ins["b"]
    code = BINARY_CODES[a.op]
    vals = boxed.AluValues(pool, node, qa, qb, qo) if pool is not None else None
    mm = vals is not None and vals.matmul
    L, ii = (tm.matmul_latency if mm else tm.alu_latency).at(b), (tm.matmul_ii if mm else tm.alu_ii).at(b)
    return Runner(node, [qa, qb], [qo], lambda q, hz, h: compute.alu2_step(
        q.ctl, qa, q.Q[qa], q.V[qa], qb, q.Q[qb], q.V[qb], qo, q.Q[qo], q.V[qo], code, L, ii, h.st, h.rep),
        vals=vals)


class _UnaryValues:
    """A scalar unary ALU's values: its step emits the inputs, this applies ``op`` to them."""

    def __init__(self, qo: int, op: Callable[[Any, Any], Any], scalar: np.float32) -> None:
        self.qo, self.op, self.scalar = qo, op, scalar
        self.e0 = 0

    def before(self, q: Any, st: np.ndarray) -> None:
        self.e0 = int(q.ctl[self.qo, END])

    def after(self, q: Any, st: np.ndarray) -> None:
        v = q.V[self.qo][self.e0:int(q.ctl[self.qo, END])]
        pay = np.flatnonzero(q.Q[self.qo][0, self.e0:self.e0 + len(v)] == C_VAL)
        if len(pay):
            with np.errstate(all="ignore"):
                got = self.op(v[pay], self.scalar)
            v[pay] = np.asarray(got).astype(F32, copy=False)


def _reduce(node, ports, ctx, fm, kinds, pool):
    a = node.attrs
    if (a.block and pool is None) or a.op not in (ReduceOp.SUM, ReduceOp.MAX):
        return None
    qi, qp, qo = ports.ins["val"], ports.ins.get("crd", -1), ports.out("val")
    is_max = a.op is ReduceOp.MAX
    L = ctx.hw.timing.reduce_latency.at(tile_size(node.attrs))
    vals = boxed.ReduceValues(pool, node, qi, qo) if pool is not None else None
    return Runner(node, [qi] + ([qp] if qp >= 0 else []), [qo], lambda q, hz, h: compute.reduce_step(
        q.ctl, qi, q.Q[qi], q.V[qi], qp, q.Q[qp if qp >= 0 else qi], qo, q.Q[qo], q.V[qo], is_max, L, h.st, h.fst,
        h.rep), vals=vals)


def _spacc1(node, ports, ctx, fm, kinds, pool):
    qo_, qi, qv = ports.ins["crd_outer"], ports.ins["crd_inner"], ports.ins["val"]
    qc, qw = ports.out("crd"), ports.out("val")
    tables = [np.zeros(64, F32), np.zeros(64, np.uint8), np.zeros(64, I64)]  # acc, present, touched
    vals = boxed.SpaccValues(pool, qo_, qv, qw) if pool is not None else None
    r = Runner(node, [qo_, qi, qv], [qc, qw], lambda q, hz, h: compute.spacc1_step(
        q.ctl, qo_, q.Q[qo_], qi, q.Q[qi], qv, q.Q[qv], q.V[qv], qc, q.Q[qc], q.V[qc], qw, q.Q[qw], q.V[qw],
        tables[0], tables[1], tables[2], _NO_EVENTS if vals is None else vals.ev, h.st, h.rep),
        vals=vals, state={K0 + 1: 1})  # no outer coordinate yet
    r.grow = lambda n: _grown(tables, range(3), n)
    return r


def _spacc2(node, ports, ctx, fm, kinds, pool):
    qoc, qm, qi, qv = (ports.ins[p] for p in ("crd_outer", "crd_mid", "crd_inner", "val"))
    qom, qoi, qov = (ports.out(p) for p in ("crd_mid", "crd_inner", "val"))
    tables = [np.zeros(64, I64), np.zeros(64, F32), np.zeros((128, 2), I64)]  # keys, values, index
    vals = boxed.SpaccValues(pool, qoc, qv, qov) if pool is not None else None
    r = Runner(node, [qoc, qm, qi, qv], [qom, qoi, qov], lambda q, hz, h: compute.spacc2_step(
        q.ctl, qoc, q.Q[qoc], qm, q.Q[qm], qi, q.Q[qi], qv, q.Q[qv], q.V[qv], qom, q.Q[qom], q.V[qom],
        qoi, q.Q[qoi], q.V[qoi], qov, q.Q[qov], q.V[qov], tables[0], tables[1], tables[2],
        _NO_EVENTS if vals is None else vals.ev, h.st, h.rep), vals=vals, state={K0 + 1: 1})  # outer fiber empty

    def grow(n: int) -> None:
        _grown(tables, range(2), n)
        tables[2] = np.zeros((2 * len(tables[0]), 2), I64)
        compute.rehash(tables[0], int(r.st[K0 + 3]), tables[2])

    r.grow = grow
    return r


def _join(node, ports, ctx, fm, kinds, pool):
    if (n := node.attrs.arity or 0) < 1:
        return None
    qls = [ports.ins[f"in{k}"] for k in range(n)]
    ql = np.array(qls, I64)
    qc, qo = ports.ins.get("count", -1), ports.out("out")
    delta = int(node.attrs.level or 0)
    parked = np.full(n, flow.NONE, I64)
    return Runner(node, qls + ([qc] if qc >= 0 else []), [qo], lambda q, hz, h: flow.join_step(
        q.ctl, ql, *_qv(q, qls), qc, q.Q[qc if qc >= 0 else qls[0]],
        qo, q.Q[qo], q.V[qo], delta, parked, h.st, h.rep), state={K0 + 3: flow.NONE})  # no stop held


def _joiner(node, ports, ctx, fm, kinds, pool):
    if (n := node.attrs.arity or 0) < 1:
        return None
    qcs = [ports.ins[f"crd{k}"] for k in range(n)]
    qrs = [ports.ins[f"ref{k}"] for k in range(n)]
    qoc = ports.out("crd")
    qors = [ports.out(f"ref{k}") for k in range(n)]
    qc, qr, qor = np.array(qcs, I64), np.array(qrs, I64), np.array(qors, I64)
    union = node.kind is NodeKind.UNION
    return Runner(node, qcs + qrs, [qoc] + qors, lambda q, hz, h: compute.joiner_step(
        q.ctl, qc, tuple(q.Q[x] for x in qcs), qr, *_qv(q, qrs), qoc, q.Q[qoc], q.V[qoc], qor, *_qv(q, qors),
        union, h.st, h.rep))


def _level_write(node, ports, ctx, fm, kinds, pool):
    qi, qrec = ports.ins["crd"], ports.new("record")
    mem = _mem(ctx, fm, node)
    batch = max(1, ctx.hw.memory.write_batch)
    return Runner(node, [qi], [qrec], lambda q, hz, h: scan.level_write_step(
        q.ctl, qi, q.Q[qi], qrec, q.Q[qrec], batch, mem(hz), h.st, h.rep), True)


def _val_write(node, ports, ctx, fm, kinds, pool):
    qi, qrec = ports.ins["val"], ports.new("record")
    mem = _mem(ctx, fm, node, pool)
    return Runner(node, [qi], [qrec], lambda q, hz, h: scan.val_write_step(
        q.ctl, qi, q.Q[qi], q.V[qi], qrec, q.Q[qrec], q.V[qrec], pool.sizes if pool is not None else _NO_SIZES,
        mem(hz), h.st, h.rep), True)


_MAKERS = {NodeKind.ROOT: _root_maker, NodeKind.BROADCAST: _broadcast_fork, NodeKind.FORK: _broadcast_fork,
           NodeKind.REPEAT_SIG: _repeat_sig, NodeKind.REPEAT: _repeat, NodeKind.LOCATE: _locate,
           NodeKind.LEVEL_SCAN: _level_scan, NodeKind.VAL_ARRAY: _val_array, NodeKind.ALU: _alu,
           NodeKind.REDUCE: _reduce, NodeKind.SPACC1: _spacc1, NodeKind.SPACC2: _spacc2, NodeKind.JOIN: _join,
           NodeKind.INTERSECT: _joiner, NodeKind.UNION: _joiner, NodeKind.LEVEL_WRITE: _level_write,
           NodeKind.VAL_WRITE: _val_write}
