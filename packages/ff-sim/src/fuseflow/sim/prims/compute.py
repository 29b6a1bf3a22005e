"""Arithmetic primitives: ALU (unary, binary, tile matmul), reduce, sparse accumulators."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
from fuseflow.ir.graph import Attrs
from fuseflow.ir.program import BinaryOp, ReduceOp, UnaryOp
from fuseflow.sim import ops
from fuseflow.sim.prims.common import DONE, EMPTY, is_payload, is_stop, stop
from fuseflow.sim.process import Proc, Wait


def _flops(v: Any) -> int:
    return int(v.size) if isinstance(v, np.ndarray) and v.ndim > 0 else 1


def tile_size(a: Attrs) -> int:
    """A blocked primitive's tile side (its block's largest), 1 for scalars."""
    return int(max(a.block)) if a.block else 1


def unary_value(op: UnaryOp, scalar: float | None, tile: Any, x: Any) -> Any:
    """A one-input ALU's result on payload ``x`` (a float32 or a tile)."""
    if tile is None:
        return ops.unary(op, x, scalar)
    return ops.tile_unary(tile[0], op, x, scalar, tile[1], tile[2])


def binary_value(op: BinaryOp, matmul: bool, tile: Any, x: Any, y: Any) -> tuple[Any, int] | None:
    """A two-input ALU's (result, FLOPs) when ``x`` or ``y`` is a payload; None when the
    operands are out of step. Both engines compute values through it."""
    px, py = is_payload(x), is_payload(y)
    if tile is not None:
        xa = x if px else ops.ZERO
        ya = y if py else ops.ZERO
        v = ops.tile_binary(op, xa, ya, tile[1], tile[2])
        return v, (ops.einsum_flops(xa, ya, tile[1], tile[2]) if matmul else _flops(v))
    if px and py:
        v = ops.binary(op, x, y, matmul)
    elif px and y is EMPTY:  # absent operand: f(v, 0), never -0.0
        v = ops.binary(op, x, ops.zero_like(x), matmul) + ops.ZERO
    elif x is EMPTY and py:
        v = ops.binary(op, ops.zero_like(y), y, matmul) + ops.ZERO
    else:
        return None
    flops = 2 * x.shape[0] * x.shape[1] * y.shape[1] if (
        matmul and px and py and isinstance(x, np.ndarray)) else _flops(v)
    return v, flops


def fold(acc: Any, x: Any, is_max: bool) -> Any:
    """A reducer's accumulator after payload ``x`` (None: nothing yet)."""
    if acc is None:
        return ops.as_value(x)
    return np.maximum(acc, x) if is_max else acc + x


def is_matmul(op: BinaryOp, label: str | None, tile: Any) -> bool:
    return label == "tile_matmul" or (tile is not None and ops.is_contraction(op, tile[1], tile[2]))


def reduce_zero(block: Any) -> Any:
    """What a sum over an empty fiber gives: a zero tile in blocked mode."""
    return np.zeros(block, dtype=np.float32) if block else ops.ZERO


class Alu(Proc):
    def run(self) -> Wait:
        a = self.node.attrs
        tile = ops.parse_tile_label(a.label)
        if (a.arity or 1) == 1:
            yield from self._unary(cast(UnaryOp, a.op), a.scalar, tile)
        else:
            op = cast(BinaryOp, a.op)
            yield from self._binary(op, is_matmul(op, a.label, tile), tile)

    def _unary(self, op: UnaryOp, scalar: float | None, tile: Any = None) -> Wait:
        if not isinstance(op, UnaryOp):
            raise self.fail(f"a one-input ALU needs a unary op, not {op}")
        lat = self.ctx.hw.timing.unary_latency.at(tile_size(self.node.attrs))
        inp, out = self.ins["a"], self.outs["val"]
        while True:
            x = yield from self.deq(inp)
            if x is DONE:
                yield from self.emit(out, DONE)
                return
            if is_payload(x):
                self.counters.alu_ops += 1
                self.counters.flops += _flops(x)
                yield from self.emit(out, unary_value(op, scalar, tile, x), self.t + lat)
            else:  # stops and N pass
                yield from self.emit(out, x)
            self.t += 1

    def _binary(self, op: BinaryOp, matmul: bool, tile: Any = None) -> Wait:
        if not isinstance(op, BinaryOp):
            raise self.fail(f"a two-input ALU needs a binary op, not {op}")
        tm = self.ctx.hw.timing
        b = tile_size(self.node.attrs)
        lat = (tm.matmul_latency if matmul else tm.alu_latency).at(b)
        ii = (tm.matmul_ii if matmul else tm.alu_ii).at(b)
        ia, ib, out = self.ins["a"], self.ins["b"], self.outs["val"]
        while True:
            x = yield from self.deq(ia)
            y = yield from self.deq(ib)
            if is_payload(x) or is_payload(y):
                got = binary_value(op, matmul, tile, x, y)
                if got is None:
                    raise self.fail(f"operands out of step: {x} and {y}")
                self.counters.alu_ops += 1
                self.counters.flops += got[1]
                yield from self.emit(out, got[0], self.t + lat)
            elif x is EMPTY and y is EMPTY:
                yield from self.emit(out, EMPTY)
            elif x is DONE and y is DONE:
                yield from self.emit(out, DONE)
                return
            elif is_stop(x) and x == y:
                yield from self.emit(out, x)
            else:
                raise self.fail(f"operands out of step: {x} and {y}")
            self.t += ii


class Reduce(Proc):
    """Reduces the innermost fiber: Sk emits the result, then S(k-1) if k > 0.

    An empty fiber sums to 0; its max is N (no stored value). N inputs are skipped. With a
    parent crd stream (``crd``): one value per parent coordinate, and a parent stop met
    before any coordinate is an empty parent fiber, whose bare stop on the values gives no value.
    """

    def run(self) -> Wait:
        a = self.node.attrs
        is_max = a.op is ReduceOp.MAX
        lat = self.ctx.hw.timing.reduce_latency.at(tile_size(self.node.attrs))
        zero = reduce_zero(a.block)
        inp, par, out = self.ins["val"], self.ins.get("crd"), self.outs["val"]
        while True:
            p: Any = (yield from self.deq(par)) if par is not None else None
            if is_stop(p):  # an empty parent fiber
                x = yield from self.deq(inp)
                if not is_stop(x) or x.level != p.level + 1:
                    raise self.fail(f"empty parent fiber {p} but values show {x}")
                yield from self.emit(out, p)
                self.t += 1
                continue
            v, x = yield from self._fold(is_max, zero)
            if x is DONE or p is DONE:
                if par is not None and x is not p:
                    raise self.fail(f"values and parent stream end out of step ({x}, {p})")
                yield from self.emit(out, DONE)
                return
            yield from self.emit(out, v, self.t + lat)
            if x.level > 0:
                if par is not None:
                    q = yield from self.deq(par)
                    if not is_stop(q) or q.level != x.level - 1:
                        raise self.fail(f"values close {x} but the parent shows {q}")
                yield from self.emit(out, stop(x.level - 1))
            self.t += 1

    def _fold(self, is_max: bool, zero: Any) -> Wait:
        """Folds the values up to the next stop (or D): (the fiber's value, that token)."""
        acc: Any = None
        while True:
            x = yield from self.deq(self.ins["val"])
            if is_payload(x):
                acc = fold(acc, x, is_max)
                self.counters.reduce_ops += 1  # one op per value, as Comal counts
                self.counters.flops += _flops(x)
                self.t += 1
            elif x is not EMPTY:  # N is free, as in Comal (the dequeue still moved t)
                return ((EMPTY if is_max else zero) if acc is None else acc), x


def _acc(table: dict[Any, Any], key: Any, v: Any, proc: Proc) -> None:
    if v is EMPTY:
        v = ops.ZERO
    table[key] = table[key] + v if key in table else ops.as_value(v)
    proc.counters.reduce_ops += 1
    proc.counters.flops += _flops(v)


class Spacc1(Proc):
    """Order-1 sparse accumulator: sums (inner crd, val) pairs over the outer index and,
    at each outer stop Sk, flushes them in ascending order followed by Sk."""

    def run(self) -> Wait:
        oc, ic, iv = self.ins["crd_outer"], self.ins["crd_inner"], self.ins["val"]
        out_c, out_v = self.outs["crd"], self.outs["val"]
        acc: dict[int, Any] = {}
        outer_empty = True  # no outer coordinate since the last outer stop
        preconsumed = False  # the next (empty) outer fiber's inner stop was already taken
        while True:
            o = yield from self.peek(oc)
            i = yield from self.peek(ic)
            v = yield from self.peek(iv)
            if is_payload(o):
                outer_empty = False
                if is_payload(i):
                    _acc(acc, i, v, self)
                    yield from self.deq_each(ic, iv)
                elif is_stop(i):
                    yield from self.deq_each(oc, ic, iv)
                elif i is EMPTY:  # an empty inner fiber; its stop may follow
                    yield from self.deq_each(ic, iv)
                    nxt = yield from self.peek(ic)
                    if not is_stop(nxt):
                        yield from self.deq(oc)
                else:
                    raise self.fail(f"inner stream ended before the outer one (outer {o})")
            elif is_stop(o):
                if outer_empty and not preconsumed and is_stop(i) and i.level == o.level + 1:
                    yield from self.deq_each(ic, iv)  # the empty outer fiber's own inner stop
                preconsumed = False
                for c in sorted(acc):
                    yield from self.emit(out_c, c)
                    yield from self.emit(out_v, acc[c])
                yield from self.emit_each(o, out_c, out_v)
                acc.clear()
                yield from self.deq(oc)
                outer_empty = True
                i2 = yield from self.peek(ic)
                o2 = yield from self.peek(oc)
                if is_stop(i2) and is_stop(o2) and i2.level == o2.level + 1:
                    yield from self.deq_each(ic, iv)  # Comal's look-ahead: the next fiber is empty
                    preconsumed = True
            elif o is DONE:
                if i is DONE:
                    yield from self.emit_each(DONE, out_c, out_v)
                    return
                yield from self.deq_each(ic, iv)
            else:
                raise self.fail("an N outer coordinate is not supported")
            self.t += 1


class Spacc2(Proc):
    """Order-2 sparse accumulator: sums (mid, inner) -> val over the outer index and
    flushes at each outer stop Sn: mid fibers in order, each with its inner fiber."""

    def run(self) -> Wait:
        oc = self.ins["crd_outer"]
        self.acc: dict[tuple[int, int], Any] = {}
        outer_empty = True
        while True:
            o = yield from self.peek(oc)
            if o is DONE:
                yield from self.deq_each(*(self.ins[name] for name in ("crd_mid", "crd_inner", "val")))
                yield from self.emit_each(DONE, *self.outs.values())
                return
            if is_stop(o):
                n = o.level
                if outer_empty:  # its mid and inner streams carry bare stops
                    yield from self._expect("crd_mid", stop(n + 1))
                    yield from self._expect("crd_inner", stop(n + 2), "val")
                yield from self._flush(n)
                yield from self.deq(oc)
                outer_empty = True
            elif is_payload(o):
                outer_empty = False
                yield from self._mid_fiber()
                yield from self.deq(oc)
            else:
                raise self.fail("an N outer coordinate is not supported")
            self.t += 1

    def _expect(self, port: str, s: Any, also: str | None = None) -> Wait:
        tok = yield from self.deq(self.ins[port])
        if tok != s:
            raise self.fail(f"{port}: expected {s}, got {tok}")
        if also:
            yield from self.deq(self.ins[also])

    def _mid_fiber(self) -> Wait:
        im = self.ins["crd_mid"]
        while True:
            m = yield from self.peek(im)
            if is_payload(m):
                level = yield from self._inner_fiber(int(m))
                yield from self.deq(im)
                if level > 0:  # the inner stop also closed the mid fiber
                    yield from self._expect("crd_mid", stop(level - 1))
                    return
            elif is_stop(m):  # an empty mid fiber: the inner stream has its bare stop
                yield from self.deq(im)
                yield from self._expect("crd_inner", stop(m.level + 1), "val")
                return
            else:
                raise self.fail(f"unexpected mid token {m}")
            self.t += 1

    def _inner_fiber(self, m: int) -> Wait:
        ii, iv = self.ins["crd_inner"], self.ins["val"]
        while True:
            j = yield from self.peek(ii)
            v = yield from self.peek(iv)
            yield from self.deq_each(ii, iv)
            if is_payload(j):
                _acc(self.acc, (m, int(j)), v, self)
                self.t += 1
            elif is_stop(j):
                return j.level
            elif j is EMPTY:
                nxt = yield from self.peek(ii)
                if not is_stop(nxt):
                    return 0
            else:
                raise self.fail("inner stream ended inside a fiber")

    def _flush(self, n: int) -> Wait:
        om, oi, ov = self.outs["crd_mid"], self.outs["crd_inner"], self.outs["val"]
        groups: list[tuple[int, list[tuple[int, Any]]]] = []  # (mid, [(inner, value), ...]) in order
        for (m, j) in sorted(self.acc):  # one sort of all entries: linear after it, not per mid
            if not groups or groups[-1][0] != m:
                groups.append((m, []))
            groups[-1][1].append((j, self.acc[(m, j)]))
        for k, (m, entries) in enumerate(groups):
            yield from self.emit(om, m)
            for j, v in entries:
                yield from self.emit(oi, j)
                yield from self.emit(ov, v)
            s = stop(n + 1) if k == len(groups) - 1 else stop(0)
            yield from self.emit_each(s, oi, ov)
        yield from self.emit(om, stop(n))
        if not groups:
            yield from self.emit_each(stop(n + 1), oi, ov)
        self.acc.clear()
