"""Readers of stored tensors: root, level scanner, value array, locate."""

from __future__ import annotations

import math

import numpy as np
from fuseflow.ir.data import Level
from fuseflow.ir.formats import LevelFormat
from fuseflow.sim.ops import zero_like
from fuseflow.sim.prims.common import DONE, EMPTY, fiber_stop, is_stop, stop
from fuseflow.sim.process import Proc, Wait


class Root(Proc):
    """Emits ref 0 then D (one cycle each)."""

    def run(self) -> Wait:
        for tok in (0, DONE):
            yield from self.emit(self.outs["ref"], tok)
            self.t += 1


class LevelScan(Proc):
    """Fiber lookup of one storage level: ref r -> its coordinates and positions, then a stop.

    Stop rule: input Sk gives S(k+1); a fiber closes with S0 unless the next input is a
    stop Sk, which is folded into S(k+1). Input N gives N on both outputs (no stop).
    """

    def run(self) -> Wait:
        a = self.node.attrs
        if a.tensor is None:  # a dense scan of an index space (no tensor): only ``dim``
            if a.dim is None or a.format is not LevelFormat.DENSE:
                raise self.fail("a scanner without a tensor must be dense and have a dim")
            lv = Level(LevelFormat.DENSE, int(a.dim))
        else:
            lv = self.ctx.stored(a.tensor).levels[a.level]
        cfg, mcfg = self.ctx.hw.scanner, self.ctx.hw.memory
        inp, oc, orf = self.ins["ref"], self.outs["crd"], self.outs["ref"]
        fmt, dim, seg, crd = lv.format, lv.dim, lv.seg, lv.crd
        dense = fmt is LevelFormat.DENSE
        lat = cfg.output_latency
        batch = max(1, mcfg.crd_batch)
        if fmt is LevelFormat.COMPRESSED and cfg.data_load_factor:
            assert seg is not None and crd is not None
            f = cfg.data_load_factor
            self.t += math.ceil(len(seg) * f) + math.ceil(len(crd) * f)
        if not dense:
            self.t += cfg.startup_delay
        while True:
            tok = yield from self.deq(inp)
            if tok is DONE:
                yield from self.emit_each(DONE, oc, orf)
                return
            if is_stop(tok) or tok is EMPTY:
                yield from self.emit_each(stop(tok.level + 1) if is_stop(tok) else EMPTY, oc, orf)
                self.t += 1
                continue
            r = int(tok)
            self.t += cfg.initial_delay + cfg.miss_latency
            if dense:  # coordinates 0 .. dim-1, nothing to read
                lo, hi = r * dim, (r + 1) * dim
            elif fmt is LevelFormat.COMPRESSED:
                assert seg is not None
                lo, hi = int(seg[r]), int(seg[r + 1])
                self.counters.seg_reads += mcfg.seg_words_per_ref
                self.ctx.mem(self, mcfg.seg_words_per_ref)
            else:  # singleton: one coordinate per parent position
                lo, hi = r, r + 1
            for p in range(lo, hi):
                if crd is not None and (p - lo) % batch == 0:  # a sparse level reads its coordinates in batches
                    n = min(batch, hi - p)
                    self.counters.crd_reads += n
                    self.ctx.mem(self, n)
                yield from self.emit(oc, p - lo if crd is None else int(crd[p]), self.t + lat)
                yield from self.emit(orf, p, self.t + lat)
                self.t += cfg.sequential_interval
            s = yield from fiber_stop(self, inp)
            yield from self.emit_each(s, oc, orf)
            self.t += 1


class ValArray(Proc):
    """ref r -> vals[r] (a float32 or a tile); N -> the value 0; stops pass."""

    def run(self) -> Wait:
        vals = self.ctx.stored(self.node.attrs.tensor).vals
        tiled = vals.ndim > 1
        words = int(np.prod(vals.shape[1:])) if tiled else 1
        block = vals.shape[1] if tiled else 1
        lat = self.ctx.hw.timing.val_array_latency.at(block)
        batch = max(1, self.ctx.hw.memory.val_batch)
        zero = np.zeros(vals.shape[1:], dtype=np.float32) if tiled else zero_like(0.0)
        inp, out = self.ins["ref"], self.outs["val"]
        line = -1
        while True:
            tok = yield from self.deq(inp)
            if tok is DONE:
                yield from self.emit(out, DONE)
                return
            if is_stop(tok):
                yield from self.emit(out, tok)
            elif tok is EMPTY:
                yield from self.emit(out, zero)
            else:
                r = int(tok)
                self.counters.val_reads += words
                if tiled:
                    self.ctx.mem(self, words)
                elif r // batch != line:  # a new batch of values
                    line = r // batch
                    self.ctx.mem(self, min(batch, len(vals) - line * batch))
                yield from self.emit(out, vals[r], self.t + lat)
            self.t += 1


class Locate(Proc):
    """Looks coordinates of a sparse stream up in a dense level: located = base * dim + crd.

    ``base`` (optional, the dense operand's parent ref) must be aligned token for token
    with ``crd``; without it the level is a top-level one (base 0). crd and ref pass.
    """

    def run(self) -> Wait:
        a = self.node.attrs
        dim = self.ctx.stored(a.tensor).levels[a.level].dim
        ic, ir, ib = self.ins["crd"], self.ins.get("ref"), self.ins.get("base")  # ref optional: crd stands in
        oc, orf, ol = self.outs["crd"], self.outs["ref"], self.outs["located"]
        while True:
            r = (yield from self.deq(ir)) if ir is not None else None
            c = yield from self.deq(ic)
            r = c if ir is None else r
            b = (yield from self.deq(ib)) if ib is not None else 0
            if c is DONE or r is DONE:
                if not (c is DONE and r is DONE and b in (0, DONE)):
                    raise self.fail(f"streams end out of step (crd {c}, ref {r}, base {b})")
                yield from self.emit_each(DONE, oc, orf, ol)
                return
            if is_stop(c) or c is EMPTY:
                if r != c or (ib is not None and b != c):
                    raise self.fail(f"streams out of step: crd {c}, ref {r}, base {b}")
                loc = c
            elif b is EMPTY:
                loc = EMPTY
            elif is_stop(b) or b is DONE:
                raise self.fail(f"base stream out of step: crd {c}, base {b}")
            else:
                loc = int(b) * dim + int(c)
            yield from self.emit(oc, c)
            yield from self.emit(orf, r)
            yield from self.emit(ol, loc)
            self.t += 1
