# ruff: noqa: E702  (a token and its stamp are appended side by side, on one line)
"""Whole-stream primitives: each takes its complete input streams and returns complete outputs.

A stream is a pair of parallel lists ``(tokens, stamps)``. Every function reproduces the
reference process of :mod:`fuseflow.sim.prims` step by step (same clock updates, same stop
and N handling, same float32 arithmetic via :mod:`fuseflow.sim.ops`), but as a plain loop
over lists instead of a generator exchanging one token at a time.

Signature: ``f(run, node, ins) -> dict[port, stream]``; ``run`` carries the clock ``t``,
the counters and the memory (``run.mem(t, words) -> t``).
"""

from __future__ import annotations

import math
from array import array
from typing import Any

import numpy as np
from fuseflow.ir.data import Level
from fuseflow.ir.formats import LevelFormat
from fuseflow.ir.graph import NodeKind, StreamKind
from fuseflow.ir.program import BinaryOp, ReduceOp, UnaryOp
from fuseflow.sim import ops
from fuseflow.sim.fast.codes import C_DONE, C_EMPTY, C_VAL, STOP0
from fuseflow.sim.fast.colwriters import value_write_clock
from fuseflow.sim.prims.common import DONE, EMPTY, Sig, Stop, stop
from fuseflow.sim.prims.compute import spacc2_groups

F32 = np.float32
ZERO = ops.ZERO
_STOP = Stop


class Ended(Exception):
    """A primitive read past the end of a stream (the reference would deadlock)."""


def _flops(v: Any) -> int:
    return int(v.size) if isinstance(v, np.ndarray) and v.ndim > 0 else 1


def _block(node: Any) -> int:
    b = node.attrs.block
    return int(max(b)) if b else 1


def _is_payload(tok: Any) -> bool:
    return type(tok) is not _STOP and tok is not EMPTY and tok is not DONE


# ---------------------------------------------------------------------------------- readers
def root(run, node, ins):
    run.t = 2
    return {"ref": ([0, DONE], array('q', [1, 2]))}


def level_scan(run, node, ins):
    a = node.attrs
    if a.tensor is None:  # a dense scan of an index space (no tensor): only ``dim``
        if a.dim is None or a.format is not LevelFormat.DENSE:
            raise run.fail("a scanner without a tensor must be dense and have a dim", 0)
        lv = Level(LevelFormat.DENSE, int(a.dim))
    else:
        lv = run.ctx.stored(a.tensor).levels[a.level]
    cfg = run.ctx.hw.scanner
    mcfg = run.ctx.hw.memory
    it, ist = ins["ref"]
    fmt = lv.format
    dim = lv.dim
    seg = lv.seg.tolist() if lv.seg is not None else None
    crd = lv.crd.tolist() if lv.crd is not None else None
    lat = cfg.output_latency
    L = lat if lat >= 1 else 1
    seq = cfg.sequential_interval
    mem = run.mem
    t = 0
    if fmt is LevelFormat.COMPRESSED and cfg.data_load_factor:
        f = cfg.data_load_factor
        t += math.ceil(len(seg) * f) + math.ceil(len(crd) * f)
    if fmt is not LevelFormat.DENSE:
        t += cfg.startup_delay
    dense = fmt is LevelFormat.DENSE
    compressed = fmt is LevelFormat.COMPRESSED
    crds = list(range(dim)) if dense else None
    ref_cache: dict[int, list[int]] = {}  # one int object per position, shared by repeats
    delay = cfg.initial_delay + cfg.miss_latency
    swr = mcfg.seg_words_per_ref
    batch = max(1, mcfg.crd_batch)
    oc, ocs, orf = [], array('q'), []
    oca, ocsa, orfa = oc.append, ocs.append, orf.append
    seg_reads = crd_reads = 0
    n = len(it)
    i = 0
    while True:
        if i >= n:
            raise Ended("ref")
        tok = it[i]
        s = ist[i]
        i += 1
        if s > t:
            t = s
        tt = type(tok)
        if tt is _STOP:
            sk = stop(tok.level + 1)
            oca(sk); orfa(sk); ocsa(t + 1)
            t += 1
            continue
        if tok is EMPTY:
            oca(EMPTY); orfa(EMPTY); ocsa(t + 1)
            t += 1
            continue
        if tok is DONE:
            oca(DONE); orfa(DONE); ocsa(t + 1)
            break
        r = int(tok)
        t += delay
        if dense:
            base = r * dim
            oc.extend(crds)
            refs = ref_cache.get(base)
            if refs is None:
                refs = ref_cache[base] = list(range(base, base + dim))
            orf.extend(refs)
            if seq > 0:
                ocs.extend(range(t + L, t + L + seq * dim, seq))
            else:
                ocs.extend([t + L] * dim)
            t += seq * dim
        else:
            if compressed:
                lo, hi = seg[r], seg[r + 1]
                seg_reads += swr
                if swr > 0:
                    t = mem(t, swr)
            else:
                lo, hi = r, r + 1
            if mem is _nomem:
                cnt = hi - lo
                crd_reads += cnt
                oc.extend(crd[lo:hi])
                orf.extend(range(lo, hi))
                if seq > 0:
                    ocs.extend(range(t + L, t + L + seq * cnt, seq))
                else:
                    ocs.extend([t + L] * cnt)
                t += seq * cnt
            else:
                for p in range(lo, hi):
                    if (p - lo) % batch == 0:
                        nn = min(batch, hi - p)
                        crd_reads += nn
                        t = mem(t, nn)
                    oca(crd[p]); orfa(p); ocsa(t + L)
                    t += seq
        if i >= n:
            raise Ended("ref")
        nxt = it[i]
        s = ist[i]
        if s > t:
            t = s
        if type(nxt) is _STOP:
            i += 1
            sk = stop(nxt.level + 1)
        else:
            sk = stop(0)
        oca(sk); orfa(sk); ocsa(t + 1)
        t += 1
    run.t = t
    c = run.counters
    c.seg_reads += seg_reads
    c.crd_reads += crd_reads
    return {"crd": (oc, ocs), "ref": (orf, ocs)}


def _nomem(t: int, words: int) -> int:
    return t


def val_array(run, node, ins):
    a = node.attrs
    vals = run.ctx.stored(a.tensor).vals
    tiled = vals.ndim > 1
    words = int(np.prod(vals.shape[1:])) if tiled else 1
    block = vals.shape[1] if tiled else 1
    lat = run.ctx.hw.timing.val_array_latency.at(block)
    L = lat if lat >= 1 else 1
    batch = max(1, run.ctx.hw.memory.val_batch)
    zero = np.zeros(vals.shape[1:], dtype=np.float32) if tiled else ops.zero_like(0.0)
    vl = list(vals)  # numpy scalars (or tile views), as vals[r] gives
    nv = len(vals)
    mem = run.mem
    nomem = mem is _nomem
    it, ist = ins["ref"]
    out, os_ = [], array('q')
    oa, osa = out.append, os_.append
    t = 0
    line = -1
    reads = 0
    n = len(it)
    i = 0
    access = run.access
    if access is not None and not tiled:
        # the hot case (scalar values, memory on): ints are refs; one request per new batch
        while i < n:
            tok = it[i]
            s = ist[i]
            i += 1
            if s > t:
                t = s
            if type(tok) is int:
                ln = tok // batch
                if ln != line:
                    line = ln
                    w = nv - ln * batch
                    done = access(t, batch if batch < w else w)
                    if done > t:
                        t = done
                oa(vl[tok]); osa(t + L)
                reads += 1
                t += 1
                continue
            if type(tok) is _STOP:
                oa(tok); osa(t + 1)
                t += 1
                continue
            i -= 1  # N, D or anything else: the general loop (re-reading is idempotent)
            break
    while True:
        if i >= n:
            raise Ended("ref")
        tok = it[i]
        s = ist[i]
        i += 1
        if s > t:
            t = s
        if tok is DONE:
            oa(DONE); osa(t + 1)
            break
        if type(tok) is _STOP:
            oa(tok); osa(t + 1)
        elif tok is EMPTY:
            oa(zero); osa(t + 1)
        else:
            r = int(tok)
            reads += 1
            if not nomem:
                if tiled:
                    t = mem(t, words)
                elif r // batch != line:
                    line = r // batch
                    t = mem(t, min(batch, nv - line * batch))
            oa(vl[r]); osa(t + L)
        t += 1
    run.t = t
    run.counters.val_reads += reads * words
    return {"val": (out, os_)}


def locate(run, node, ins):
    a = node.attrs
    dim = run.ctx.stored(a.tensor).levels[a.level].dim
    ct, cs = ins["crd"]
    rin = ins.get("ref")
    bin_ = ins.get("base")
    oc, orf, ol, os_ = [], [], [], array('q')
    t = 0
    n = len(ct)
    for i in range(n):
        if rin is not None:
            r = rin[0][i]
            s = rin[1][i]
            if s > t:
                t = s
        c = ct[i]
        s = cs[i]
        if s > t:
            t = s
        if rin is None:
            r = c
        if bin_ is not None:
            b = bin_[0][i]
            s = bin_[1][i]
            if s > t:
                t = s
        else:
            b = 0
        if c is DONE or r is DONE:
            if not (c is DONE and r is DONE and b in (0, DONE)):
                raise run.fail(f"streams end out of step (crd {c}, ref {r}, base {b})", t)
            oc.append(DONE); orf.append(DONE); ol.append(DONE); os_.append(t + 1)
            run.t = t
            return {"crd": (oc, os_), "ref": (orf, os_), "located": (ol, os_)}
        if type(c) is _STOP or c is EMPTY:
            if r != c or (bin_ is not None and b != c):
                raise run.fail(f"streams out of step: crd {c}, ref {r}, base {b}", t)
            loc = c
        elif b is EMPTY:
            loc = EMPTY
        elif type(b) is _STOP or b is DONE:
            raise run.fail(f"base stream out of step: crd {c}, base {b}", t)
        else:
            loc = int(b) * dim + int(c)
        oc.append(c); orf.append(r); ol.append(loc); os_.append(t + 1)
        t += 1
    raise Ended("crd")


# ---------------------------------------------------------------------------------- writers
def level_write(run, node, ins):
    a = node.attrs
    rec = run.ctx.level_record(a.tensor, a.level)
    batch = max(1, run.ctx.hw.memory.write_batch)
    mem = run.mem
    it, ist = ins["crd"]
    t = 0
    buf = 0
    cw = sw = 0
    for i in range(len(it)):
        tok = it[i]
        s = ist[i]
        if s > t:
            t = s
        if tok is DONE:
            if buf:
                t = mem(t, buf)
            run.t = t
            run.counters.crd_writes += cw
            run.counters.seg_writes += sw
            return {}
        rec.append(tok)
        if type(tok) is _STOP:
            sw += 1
        elif tok is EMPTY:
            continue
        else:
            cw += 1
        buf += 1
        if buf >= batch:
            t = mem(t, buf)
            buf = 0
        t += 1
    raise Ended("crd")


def val_write(run, node, ins):
    if run.access is not None:
        out = _val_write_compiled_clock(run, node, ins)
        if out is not None:
            return out
    a = node.attrs
    rec = run.ctx.value_record(a.tensor)
    mem = run.mem
    it, ist = ins["val"]
    t = 0
    vw = 0
    for i in range(len(it)):
        tok = it[i]
        s = ist[i]
        if s > t:
            t = s
        if tok is DONE:
            run.t = t + 1
            run.counters.val_writes += vw
            return {}
        if type(tok) is _STOP:
            continue
        words = int(tok.size) if isinstance(tok, np.ndarray) and tok.ndim > 0 else 1
        rec.append(tok)
        if tok is EMPTY:
            words = 1
        vw += words
        t = mem(t, words)
        t += 1
    raise Ended("val")


def _val_write_compiled_clock(run, node, ins):
    """The loop above with its clock from the compiled value writer (a tile is one request
    of all its words; the Python model took a step per word). The tokens are recorded
    here; tiles of different sizes in one stream keep the loop."""
    it, ist = ins["val"]
    codes = np.empty(len(it), np.int64)
    wval = 0
    for i in range(len(it)):
        tok = it[i]
        if tok is DONE:
            codes[i] = C_DONE
            break
        if type(tok) is _STOP:
            codes[i] = STOP0 - tok.level
        elif tok is EMPTY:
            codes[i] = C_EMPTY
        else:
            w = int(tok.size) if isinstance(tok, np.ndarray) and tok.ndim > 0 else 1
            if wval and w != wval:
                return None
            wval = w
            codes[i] = C_VAL
    else:
        raise Ended("val")
    end = i + 1
    rec = run.ctx.value_record(node.attrs.tensor)
    rec.extend(tok for tok in it[:end - 1] if type(tok) is not _STOP)
    value_write_clock(run, codes[:end], np.asarray(ist[:end], np.int64), wval or 1)
    return {}


# ---------------------------------------------------------------------------------- compute
def alu(run, node, ins):
    a = node.attrs
    tile = ops.parse_tile_label(a.label)
    if (a.arity or 1) == 1:
        return _unary(run, node, ins, a.op, a.scalar, tile)
    matmul = a.label == "tile_matmul" or (tile is not None and ops.is_contraction(a.op, tile[1], tile[2]))
    return _binary(run, node, ins, a.op, matmul, tile)


def _unary(run, node, ins, op, scalar, tile=None):
    if not isinstance(op, UnaryOp):
        raise run.fail(f"a one-input ALU needs a unary op, not {op}", 0)
    lat = run.ctx.hw.timing.unary_latency.at(_block(node))
    L = lat if lat >= 1 else 1
    f = ops.UNARY[op]
    sc = F32(0.0 if scalar is None else scalar)
    it, ist = ins["a"]
    out, os_ = [], array('q')
    t = 0
    nops = flops = 0
    with np.errstate(all="ignore"):
        for i in range(len(it)):
            x = it[i]
            s = ist[i]
            if s > t:
                t = s
            if x is DONE:
                out.append(DONE); os_.append(t + 1)
                run.t = t
                run.counters.alu_ops += nops
                run.counters.flops += flops
                return {"val": (out, os_)}
            if type(x) is not _STOP and x is not EMPTY:
                nops += 1
                flops += _flops(x)
                if tile is None:
                    v = f(x, sc)
                    if type(v) is not F32:
                        v = ops.as_value(v)
                else:
                    v = ops.tile_unary(tile[0], op, x, scalar, tile[1], tile[2])
                out.append(v); os_.append(t + L)
            else:
                out.append(x); os_.append(t + 1)
            t += 1
    raise Ended("a")


def _binary(run, node, ins, op, matmul, tile=None):
    if not isinstance(op, BinaryOp):
        raise run.fail(f"a two-input ALU needs a binary op, not {op}", 0)
    tm = run.ctx.hw.timing
    b = _block(node)
    lat = (tm.matmul_latency if matmul else tm.alu_latency).at(b)
    ii = (tm.matmul_ii if matmul else tm.alu_ii).at(b)
    L = lat if lat >= 1 else 1
    f = ops.BINARY[op]
    at_, ast = ins["a"]
    bt, bst = ins["b"]
    if tile is None and not matmul:
        res = _binary_vec(run, at_, ast, bt, bst, f, ii, L)
        if res is not None:
            return res
    if tile is not None:
        from fuseflow.sim.fast import tiles  # it builds on this module's helpers

        res = tiles.binary(run, at_, ast, bt, bst, op, matmul, tile, ii, L)
        if res is not None:
            return res
    out, os_ = [], array('q')
    oa, osa = out.append, os_.append
    t = 0
    nops = flops = 0
    zero_like = ops.zero_like
    as_value = ops.as_value
    with np.errstate(all="ignore"):
        for i in range(min(len(at_), len(bt))):
            x = at_[i]
            s = ast[i]
            if s > t:
                t = s
            y = bt[i]
            s = bst[i]
            if s > t:
                t = s
            px = type(x) is not _STOP and x is not EMPTY and x is not DONE
            py = type(y) is not _STOP and y is not EMPTY and y is not DONE
            if (px or py) and tile is not None:
                xa = x if px else ZERO
                ya = y if py else ZERO
                v = ops.tile_binary(op, xa, ya, tile[1], tile[2])
                nops += 1
                flops += ops.einsum_flops(xa, ya, tile[1], tile[2]) if matmul else _flops(v)
                oa(v); osa(t + L)
            elif px or py:
                if px and py:
                    v = as_value(np.matmul(x, y)) if matmul else f(x, y)
                elif px and y is EMPTY:
                    yy = zero_like(x)
                    v = (as_value(np.matmul(x, yy)) if matmul else f(x, yy))
                    if type(v) is not F32 and not matmul:
                        v = as_value(v)
                    v = v + ZERO
                elif x is EMPTY and py:
                    xx = zero_like(y)
                    v = (as_value(np.matmul(xx, y)) if matmul else f(xx, y))
                    if type(v) is not F32 and not matmul:
                        v = as_value(v)
                    v = v + ZERO
                else:
                    raise run.fail(f"operands out of step: {x} and {y}", t)
                if type(v) is not F32:
                    v = as_value(v)
                nops += 1
                if type(v) is F32:
                    flops += 1
                elif matmul and px and py and isinstance(x, np.ndarray):
                    flops += 2 * x.shape[0] * x.shape[1] * y.shape[1]
                else:
                    flops += _flops(v)
                oa(v); osa(t + L)
            elif x is EMPTY and y is EMPTY:
                oa(EMPTY); osa(t + 1)
            elif x is DONE and y is DONE:
                oa(DONE); osa(t + 1)
                run.t = t
                run.counters.alu_ops += nops
                run.counters.flops += flops
                return {"val": (out, os_)}
            elif type(x) is _STOP and x == y:
                oa(x); osa(t + 1)
            else:
                raise run.fail(f"operands out of step: {x} and {y}", t)
            t += ii
    raise Ended("a/b")


def _paired(at_, bt, kind):
    """The regular case of a two-input ALU: both inputs end at the same D and carry a
    payload (a token of type ``kind``) at the same positions, with equal stops and N
    against N elsewhere. Returns (end, tokens a, tokens b, payload mask) or None."""
    try:
        end = _done_end(at_)
    except Ended:
        return None
    if len(bt) < end or bt[end - 1] is not DONE:
        return None
    xs = at_[:end] if end < len(at_) else at_
    ys = bt[:end] if end < len(bt) else bt
    pa = np.fromiter((type(x) is kind for x in xs), dtype=bool, count=end)
    pb = np.fromiter((type(y) is kind for y in ys), dtype=bool, count=end)
    if not np.array_equal(pa, pb):
        return None  # N against a value, or anything unusual: the loop
    for i in np.flatnonzero(~pa).tolist():
        x, y = xs[i], ys[i]
        if type(x) is _STOP:
            if type(y) is not _STOP or x.level != y.level:
                return None
        elif not (x is y and (x is EMPTY or i == end - 1)):
            return None
    return end, xs, ys, pa


def _binary_vec(run, at_, ast, bt, bst, f, ii, L):
    """Scalar streams whose payloads line up (no N against a value): numpy, same float32 results."""
    got = _paired(at_, bt, F32)
    if got is None:
        return None
    end, xs, ys, pa = got
    npay = int(np.count_nonzero(pa))
    with np.errstate(all="ignore"):
        va = np.fromiter((x for x in xs if type(x) is F32), dtype=F32, count=npay)
        vb = np.fromiter((y for y in ys if type(y) is F32), dtype=F32, count=npay)
        vv = f(va, vb)
        del va, vb
        if not isinstance(vv, np.ndarray) or vv.dtype != F32:
            vv = np.asarray(vv).astype(F32)
    vi = iter(vv)
    out = [next(vi) if type(x) is F32 else x for x in xs]
    del vv, vi
    m = np.maximum(_i64(ast)[:end], _i64(bst)[:end])
    t = _clock(m, ii)
    del m
    run.t = int(t[-1])
    t += np.where(pa, L, 1)
    run.counters.alu_ops += npay
    run.counters.flops += npay
    return {"val": (out, _to_array(t))}


def reduce(run, node, ins):
    a = node.attrs
    is_max = a.op is ReduceOp.MAX
    lat = run.ctx.hw.timing.reduce_latency.at(_block(node))
    L = lat if lat >= 1 else 1
    zero = np.zeros(a.block, dtype=np.float32) if a.block else ZERO
    if "crd" in ins:
        return _reduce_with_parent(run, ins, is_max, L, zero)
    it, ist = ins["val"]
    out, os_ = [], array('q')
    acc = None
    t = 0
    nops = flops = 0
    as_value = ops.as_value
    for i in range(len(it)):
        x = it[i]
        s = ist[i]
        if s > t:
            t = s
        tt = type(x)
        if tt is _STOP:
            if acc is None:
                acc = EMPTY if is_max else zero
            out.append(acc); os_.append(t + L)
            if x.level > 0:
                out.append(stop(x.level - 1)); os_.append(t + 1)
            acc = None
            t += 1
        elif x is EMPTY:
            continue
        elif x is DONE:
            out.append(DONE); os_.append(t + 1)
            run.t = t
            run.counters.reduce_ops += nops
            run.counters.flops += flops
            return {"val": (out, os_)}
        else:
            if acc is None:
                acc = as_value(x)
            else:
                acc = np.maximum(acc, x) if is_max else acc + x
            nops += 1
            flops += _flops(x)
            t += 1
    raise Ended("val")


def _reduce_with_parent(run, ins, is_max, L, zero):
    """The reference's Reduce._with_parent: one value per parent coordinate."""
    it, ist = ins["val"]
    pt, pst = ins["crd"]
    out, os_ = [], array("q")
    t = 0
    nops = flops = 0
    i = j = 0
    while True:
        p = pt[j]
        if pst[j] > t:
            t = pst[j]
        j += 1
        if p is DONE:
            x = it[i]
            if ist[i] > t:
                t = ist[i]
            if x is not DONE:
                raise run.fail(f"parent stream ended but values go on ({x})", t)
            out.append(DONE)
            os_.append(t + 1)
            run.t = t
            run.counters.reduce_ops += nops
            run.counters.flops += flops
            return {"val": (out, os_)}
        if type(p) is _STOP:
            x = it[i]
            if ist[i] > t:
                t = ist[i]
            i += 1
            if type(x) is not _STOP or x.level != p.level + 1:
                raise run.fail(f"empty parent fiber {p} but values show {x}", t)
            out.append(p)
            os_.append(t + 1)
            t += 1
            continue
        acc = None
        while True:
            x = it[i]
            if ist[i] > t:
                t = ist[i]
            i += 1
            if type(x) is _STOP:
                out.append((EMPTY if is_max else zero) if acc is None else acc)
                os_.append(t + L)
                if x.level > 0:
                    q = pt[j]
                    if pst[j] > t:
                        t = pst[j]
                    j += 1
                    if type(q) is not _STOP or q.level != x.level - 1:
                        raise run.fail(f"values close {x} but the parent shows {q}", t)
                    out.append(stop(x.level - 1))
                    os_.append(t + 1)
                t += 1
                break
            if x is EMPTY:
                continue
            if x is DONE:
                raise run.fail(f"values ended inside a fiber ({x})", t)
            acc = ops.as_value(x) if acc is None else (np.maximum(acc, x) if is_max else acc + x)
            nops += 1
            flops += _flops(x)
            t += 1


class _Acc:
    __slots__ = ("ops", "flops")

    def __init__(self) -> None:
        self.ops = 0
        self.flops = 0


def _acc(table, key, v, cnt):
    if v is EMPTY:
        v = ZERO
    table[key] = table[key] + v if key in table else ops.as_value(v)
    cnt.ops += 1
    cnt.flops += _flops(v)


class _In:
    """A cursor over one input stream, with the reference's peek/deq clock rules."""

    __slots__ = ("toks", "stamps", "i", "n", "name")

    def __init__(self, stream, name) -> None:
        self.toks, self.stamps = stream
        self.i = 0
        self.n = len(self.toks)
        self.name = name


def spacc1(run, node, ins):
    oc_ = ins["crd_outer"]
    ic_ = ins["crd_inner"]
    iv_ = ins["val"]
    ot, ost = oc_
    it, ist = ic_
    vt, vst = iv_
    no, ni = len(ot), len(it)
    io = ii = 0  # positions (inner and val move together)
    cc, cv, cs = [], [], array('q')
    acc: dict = {}
    cnt = _Acc()
    outer_empty = True
    preconsumed = False
    t = 0
    while True:
        if io >= no or ii >= ni:
            raise Ended("spacc1")
        o = ot[io]; s = ost[io]
        if s > t:
            t = s
        i = it[ii]; s = ist[ii]
        if s > t:
            t = s
        v = vt[ii]; s = vst[ii]
        if s > t:
            t = s
        to, ti = type(o), type(i)
        if to is not _STOP and o is not EMPTY and o is not DONE:
            outer_empty = False
            if ti is not _STOP and i is not EMPTY and i is not DONE:
                if v is EMPTY:
                    v = ZERO
                if i in acc:
                    acc[i] = acc[i] + v
                else:
                    acc[i] = ops.as_value(v)
                cnt.ops += 1
                cnt.flops += 1 if type(v) is F32 else _flops(v)
                ii += 1
            elif ti is _STOP:
                io += 1
                ii += 1
            elif i is EMPTY:
                ii += 1
                if ii >= ni:
                    raise Ended("spacc1")
                nxt = it[ii]; s = ist[ii]
                if s > t:
                    t = s
                # the reference peeks crd_inner only here
                if type(nxt) is not _STOP:
                    io += 1
            else:
                raise run.fail(f"inner stream ended before the outer one (outer {o})", t)
        elif to is _STOP:
            n = o.level
            if outer_empty and not preconsumed and ti is _STOP and i.level == n + 1:
                ii += 1
            preconsumed = False
            for c in sorted(acc):
                cc.append(c); cv.append(acc[c]); cs.append(t + 1)
            cc.append(o); cv.append(o); cs.append(t + 1)
            acc.clear()
            io += 1
            outer_empty = True
            if ii >= ni or io >= no:
                raise Ended("spacc1")
            i2 = it[ii]; s = ist[ii]
            if s > t:
                t = s
            o2 = ot[io]; s = ost[io]
            if s > t:
                t = s
            if type(i2) is _STOP and type(o2) is _STOP and i2.level == o2.level + 1:
                s = vst[ii]  # the val is dequeued without a peek
                if s > t:
                    t = s
                ii += 1
                preconsumed = True
        elif o is DONE:
            if i is DONE:
                cc.append(DONE); cv.append(DONE); cs.append(t + 1)
                run.t = t
                run.counters.reduce_ops += cnt.ops
                run.counters.flops += cnt.flops
                return {"crd": (cc, cs), "val": (cv, cs)}
            ii += 1
        else:
            raise run.fail("an N outer coordinate is not supported", t)
        t += 1


def spacc2(run, node, ins):
    st = _Spacc2(run, ins)
    return st.run()


class _Spacc2:
    def __init__(self, run, ins) -> None:
        self.r = run
        self.t = 0
        self.oc = _In(ins["crd_outer"], "crd_outer")
        self.im = _In(ins["crd_mid"], "crd_mid")
        self.ii = _In(ins["crd_inner"], "crd_inner")
        self.iv = _In(ins["val"], "val")
        self.ports = {"crd_mid": self.im, "crd_inner": self.ii, "val": self.iv}
        self.acc: dict = {}
        self.cnt = _Acc()
        self.om: tuple[list[Any], array[int]] = ([], array('q'))
        self.oi: tuple[list[Any], array[int]] = ([], array('q'))
        self.ov: tuple[list[Any], array[int]] = ([], array('q'))

    def peek(self, c: _In) -> Any:
        if c.i >= c.n:
            raise Ended(c.name)
        s = c.stamps[c.i]
        if s > self.t:
            self.t = s
        return c.toks[c.i]

    def deq(self, c: _In) -> Any:
        tok = self.peek(c)
        c.i += 1
        return tok

    def emit(self, o, tok) -> None:
        o[0].append(tok)
        o[1].append(self.t + 1)

    def run(self):
        r = self.r
        outer_empty = True
        while True:
            o = self.peek(self.oc)
            if o is DONE:
                for c in (self.im, self.ii, self.iv):
                    self.deq(c)
                for o_ in (self.om, self.oi, self.ov):
                    self.emit(o_, DONE)
                r.t = self.t
                r.counters.reduce_ops += self.cnt.ops
                r.counters.flops += self.cnt.flops
                return {"crd_mid": self.om, "crd_inner": self.oi, "val": self.ov}
            if type(o) is _STOP:
                n = o.level
                if outer_empty:
                    self._expect("crd_mid", stop(n + 1))
                    self._expect("crd_inner", stop(n + 2), "val")
                self._flush(n)
                self.deq(self.oc)
                outer_empty = True
            elif o is not EMPTY:
                outer_empty = False
                self._mid_fiber()
                self.deq(self.oc)
            else:
                raise r.fail("an N outer coordinate is not supported", self.t)
            self.t += 1

    def _expect(self, port, s, also=None) -> None:
        tok = self.deq(self.ports[port])
        if tok != s:
            raise self.r.fail(f"{port}: expected {s}, got {tok}", self.t)
        if also:
            self.deq(self.ports[also])

    def _mid_fiber(self) -> None:
        im = self.im
        while True:
            m = self.peek(im)
            if _is_payload(m):
                level = self._inner_fiber(int(m))
                self.deq(im)
                if level > 0:
                    self._expect("crd_mid", stop(level - 1))
                    return
            elif type(m) is _STOP:
                self.deq(im)
                self._expect("crd_inner", stop(m.level + 1), "val")
                return
            else:
                raise self.r.fail(f"unexpected mid token {m}", self.t)
            self.t += 1

    def _inner_fiber(self, m: int) -> int:
        ii, iv = self.ii, self.iv
        while True:
            j = self.peek(ii)
            v = self.peek(iv)
            self.deq(ii)
            self.deq(iv)
            if _is_payload(j):
                _acc(self.acc, (m, int(j)), v, self.cnt)
                self.t += 1
            elif type(j) is _STOP:
                return j.level
            elif j is EMPTY:
                nxt = self.peek(ii)
                if type(nxt) is not _STOP:
                    return 0
            else:
                raise self.r.fail("inner stream ended inside a fiber", self.t)

    def _flush(self, n: int) -> None:
        om, oi, ov = self.om, self.oi, self.ov
        mids = spacc2_groups(self.acc)  # one sort of all entries, shared with the reference
        for k, (m, entries) in enumerate(mids):
            self.emit(om, m)
            for j, v in entries:
                self.emit(oi, j)
                self.emit(ov, v)
            s = stop(n + 1) if k == len(mids) - 1 else stop(0)
            self.emit(oi, s)
            self.emit(ov, s)
        self.emit(om, stop(n))
        if not mids:
            self.emit(oi, stop(n + 1))
            self.emit(ov, stop(n + 1))
        self.acc.clear()


# ---------------------------------------------------------------------------------- joiners
def _joiner(run, node, ins, union):
    n = node.attrs.arity or 0
    crds = [ins[f"crd{i}"] for i in range(n)]
    refs = [ins[f"ref{i}"] for i in range(n)]
    pc = [0] * n  # positions (crd i and ref i are dequeued together)
    oc, ocs = [], array('q')
    orefs = [([], array('q')) for _ in range(n)]
    rng = range(n)
    t = 0
    while True:
        heads = []
        for k in rng:
            c = crds[k]
            p = pc[k]
            if p >= len(c[0]):
                raise Ended(f"crd{k}")
            s = c[1][p]
            if s > t:
                t = s
            heads.append(c[0][p])
        pays = []
        for k in rng:
            c = refs[k]
            p = pc[k]
            if p >= len(c[0]):
                raise Ended(f"ref{k}")
            s = c[1][p]
            if s > t:
                t = s
            pays.append(c[0][p])
        h0 = heads[0]
        if _is_payload(h0):
            match = all(_is_payload(h) and h == h0 for h in heads)
        else:
            match = all(h == h0 for h in heads)
        t1 = t + 1
        if match:
            oc.append(h0); ocs.append(t1)
            for k in rng:
                orefs[k][0].append(pays[k]); orefs[k][1].append(t1)
                pc[k] += 1
            if h0 is DONE:
                run.t = t
                out = {"crd": (oc, ocs)}
                for k in rng:
                    out[f"ref{k}"] = orefs[k]
                return out
        else:
            vals = [h for h in heads if _is_payload(h)]
            if vals:
                m = min(vals)
                if union:
                    oc.append(m); ocs.append(t1)
                for k in rng:
                    h = heads[k]
                    if _is_payload(h) and h == m:
                        if union:
                            orefs[k][0].append(pays[k]); orefs[k][1].append(t1)
                        pc[k] += 1
                    elif union:
                        orefs[k][0].append(EMPTY); orefs[k][1].append(t1)
            else:
                levels = {h.level for h in heads if type(h) is _STOP}
                if len(levels) != 1 or any(h is DONE for h in heads):
                    raise run.fail("input streams out of step: heads " + " ".join(map(str, heads)), t)
                lvl = levels.pop()
                s_ = stop(lvl)
                oc.append(s_); ocs.append(t1)
                for k in rng:
                    orefs[k][0].append(s_); orefs[k][1].append(t1)
                for k in rng:
                    h = heads[k]
                    pc[k] += 1
                    if h is EMPTY and lvl > 0:
                        c = crds[k]
                        p = pc[k]
                        if p >= len(c[0]):
                            raise Ended(f"crd{k}")
                        s = c[1][p]
                        if s > t:
                            t = s
                        nxt = c[0][p]
                        if nxt != s_:
                            raise run.fail(f"input {k}: expected {s_} after N, got {nxt}", t)
                        # deq crd (stamp already applied) and ref
                        rs = refs[k][1][p]
                        if rs > t:
                            t = rs
                        pc[k] += 1
        t += 1


def intersect(run, node, ins):
    return _joiner(run, node, ins, False)


def union(run, node, ins):
    return _joiner(run, node, ins, True)


# ---------------------------------------------------------------------------------- flow
def _done_end(toks) -> int:
    """1 + the index of the first D (by identity: never compare values with ==)."""
    n = len(toks)
    if n and toks[-1] is DONE:
        for i in range(n - 1):  # cheap identity scan only when D is not unique at the end
            if toks[i] is DONE:
                return i + 1
        return n
    for i in range(n):
        if toks[i] is DONE:
            return i + 1
    raise Ended("D")


def _i64(stamps) -> np.ndarray:
    return np.frombuffer(stamps, dtype=np.int64) if isinstance(stamps, array) else np.asarray(stamps, dtype=np.int64)


def _to_array(a: np.ndarray) -> array:
    out = array('q')
    out.frombytes(np.ascontiguousarray(a, dtype=np.int64).tobytes())
    return out


def _clock(stamps: np.ndarray, step: int) -> np.ndarray:
    """Clocks of ``t = max(t, stamp_i); ...; t += step`` at each step (after the max)."""
    if step == 0:
        x = np.maximum(stamps, 0)
        return np.maximum.accumulate(x, out=x)
    k = np.arange(len(stamps), dtype=np.int64)
    k *= step
    x = stamps - k
    k *= -1
    np.maximum(x, k, out=x)
    np.maximum.accumulate(x, out=x)
    x -= k
    return x


def repeat_sig(run, node, ins):
    it, ist = ins["crd"]
    fiber_n = run.kind("crd") is StreamKind.CRD
    R, S, N = Sig.R, Sig.S, Sig.N
    end = _done_end(it)
    toks = it[:end] if end < len(it) else it
    if fiber_n:
        out = [S if type(x) is _STOP else (N if x is EMPTY else R) for x in toks]
    else:
        out = [S if type(x) is _STOP else R for x in toks]
    out[-1] = DONE
    t = _clock(_i64(ist)[:end], 1)
    run.t = int(t[-1])
    t += 1
    return {"repsig": (out, _to_array(t))}


def repeat(run, node, ins):
    res = _repeat_vec(run, ins)
    if res is not None:
        return res
    return _repeat_loop(run, ins)


def _repeat_vec(run, ins):
    """The loop below, by fibers: the input position only moves at S and N signals, so R runs
    are gathers, and the clock is ``t_k = max(t_(k-1) + 1, stamps read at signal k)``."""
    it, ist = ins["in"]
    gt, gst = ins["repsig"]
    R, S, N = Sig.R, Sig.S, Sig.N
    try:
        K = _done_end(gt)
    except Ended:
        return None
    n = len(it)
    events = [k for k in range(K - 1) if gt[k] is not R]
    ev_tok = []
    starts = np.zeros(len(events) + 1, dtype=np.int64)  # input position of each R run
    extra_k, extra_s = [], []  # stamps of look-ahead peeks, at their signal
    p = 0
    for e, k in enumerate(events):
        if p >= n:
            return None
        if gt[k] is S:
            h = it[p]
            p += 1
            if type(h) is _STOP:
                ev_tok.append(stop(h.level + 1))
            elif h is DONE:
                return None
            else:
                if p >= n:
                    return None
                nxt = it[p]
                extra_k.append(k)
                extra_s.append(ist[p])
                if type(nxt) is _STOP:
                    p += 1
                    ev_tok.append(stop(nxt.level + 1))
                else:
                    ev_tok.append(stop(0))
        elif gt[k] is N:
            p += 1
            ev_tok.append(EMPTY)
        else:
            return None
        starts[e + 1] = p
    if p >= n:
        return None
    # position read at each signal: runs end at each event (the event reads the old position)
    ev = np.asarray(events, dtype=np.int64)
    lens = np.diff(np.concatenate(([0], ev + 1, [K])))
    pos = np.repeat(starts, lens)
    sig_s = _i64(gst)[:K]
    in_s = _i64(ist)
    x = np.maximum(sig_s, in_s[pos])
    if extra_k:
        ek = np.asarray(extra_k, dtype=np.int64)
        x[ek] = np.maximum(x[ek], np.asarray(extra_s, dtype=np.int64))
    objs = np.fromiter(it, dtype=object, count=n)  # elements as they are (tiles stay tiles)
    heads = objs[pos]
    del objs
    rmask = np.ones(K, dtype=bool)
    rmask[ev] = False
    rmask[K - 1] = False
    for h in heads[rmask]:
        if type(h) is _STOP or h is DONE:
            return None  # let the loop raise the reference's error
    for e, k in enumerate(events):
        heads[k] = ev_tok[e]
    heads[K - 1] = DONE
    out = heads.tolist()
    t = _clock(x, 1)
    run.t = int(t[-1])
    t += 1
    return {"out": (out, _to_array(t))}


def _repeat_loop(run, ins):
    it, ist = ins["in"]
    gt, gst = ins["repsig"]
    R, S, N = Sig.R, Sig.S, Sig.N
    out, os_ = [], array('q')
    oa, osa = out.append, os_.append
    t = 0
    p = 0
    n = len(it)
    for k in range(len(gt)):
        if p >= n:
            raise Ended("in")
        head = it[p]
        s = ist[p]
        if s > t:
            t = s
        sig = gt[k]
        s = gst[k]
        if s > t:
            t = s
        if sig is R:
            if type(head) is _STOP or head is DONE:
                raise run.fail(f"signal R but the input head is {head}", t)
            oa(head); osa(t + 1)
        elif sig is S:
            h = head
            p += 1
            if type(h) is _STOP:
                oa(stop(h.level + 1)); osa(t + 1)
            elif h is DONE:
                raise run.fail("signal S but the input has ended", t)
            else:
                if p >= n:
                    raise Ended("in")
                nxt = it[p]
                s = ist[p]
                if s > t:
                    t = s
                if type(nxt) is _STOP:
                    p += 1
                    oa(stop(nxt.level + 1)); osa(t + 1)
                else:
                    oa(stop(0)); osa(t + 1)
        elif sig is N:
            p += 1
            oa(EMPTY); osa(t + 1)
        else:
            oa(DONE); osa(t + 1)
            run.t = t
            return {"out": (out, os_)}
        t += 1
    raise Ended("repsig")


def broadcast(run, node, ins):
    it, ist = ins["in"]
    # stamps: running max of the input stamps, plus 1; the clock never advances otherwise
    end = _done_end(it)
    toks = it[:end] if end < len(it) else it
    src = np.frombuffer(ist, dtype=np.int64) if isinstance(ist, array) else np.asarray(ist, dtype=np.int64)
    arr = np.maximum.accumulate(src[:end])
    run.t = int(arr[-1])
    arr += 1
    stamps = array('q')
    stamps.frombytes(arr.tobytes())
    del arr
    return {name: (toks, stamps) for name in run.out_names}


def fork(run, node, ins):
    it, ist = ins["in"]
    nl = node.attrs.arity or 0
    lanes = [([], array('q')) for _ in range(nl)]
    t = 0
    p = 0
    for i in range(len(it)):
        tok = it[i]
        s = ist[i]
        if s > t:
            t = s
        if tok is EMPTY or (type(tok) is not _STOP and tok is not DONE):
            lanes[p][0].append(tok); lanes[p][1].append(t + 1)
            p = (p + 1) % nl
        else:
            for ln in lanes:
                ln[0].append(tok); ln[1].append(t + 1)
            if tok is DONE:
                run.t = t
                return {f"out{k}": lanes[k] for k in range(nl)}
            p = 0
        t += 1
    raise Ended("in")


def join(run, node, ins):
    """Mirrors the reference Join (element-wise merge of fork lanes, ``attrs.level`` = delta;
    the optional ``count`` input tells an empty last element from no element)."""
    n = node.attrs.arity or 0
    names = [f"in{k}" for k in range(n)]
    c = _Cur({name: ins[name] for name in names} | ({"count": ins["count"]} if "count" in ins else {}))
    has_count = "count" in ins
    out, os_ = [], array('q')
    delta = int(node.attrs.level or 0)

    def emit(tok):
        out.append(tok)
        os_.append(c.t + 1)

    def counted(tok):
        return _is_payload(tok) or tok is EMPTY

    while True:
        parked: list = [None] * n
        held = None
        seen = 0
        k = 0
        while True:
            p = k % n
            if parked[p] is not None:
                break
            head = c.peek(names[p])
            if head is DONE or (type(head) is _STOP and head.level >= delta):
                empty_last = False
                if has_count and head is not DONE and delta > 0:
                    while seen <= k and counted(c.peek("count")):
                        c.deq("count")
                        seen += 1
                    empty_last = seen > k
                parked[p] = c.deq(names[p])
                if not empty_last:
                    break
                if held is not None:
                    emit(stop(delta - 1))
                held = parked[p]
                c.t += 1
                k += 1
                continue
            if delta == 0:
                tok = c.deq(names[p])
                emit(tok)
                c.t += 1
                k += 1
                continue
            if held is not None:
                emit(stop(delta - 1))
            while True:
                tok = c.deq(names[p])
                c.t += 1
                if type(tok) is _STOP and tok.level >= delta - 1:
                    held = tok
                    if tok.level >= delta:
                        parked[p] = tok
                    break
                if tok is DONE:
                    raise run.fail(f"lane {p} ended inside an element", c.t)
                emit(tok)
            k += 1
        for q in range(n):
            if parked[q] is None:
                parked[q] = c.deq(names[q])
        ends = {str(x) for x in parked}
        if len(ends) != 1:
            raise run.fail("lanes end a segment out of step: " + " ".join(map(str, parked)), c.t)
        end = parked[0]
        if has_count:
            while counted(c.deq("count")):
                pass
        if end is DONE:
            if held is not None:
                raise run.fail("stream ended without closing its last element", c.t)
            emit(DONE)
            run.t = c.t
            return {"out": (out, os_)}
        emit(end)
        c.t += 1


class _Cur:
    """peek/deq with the reference's clock rules over several inputs (used by the rarer prims)."""

    def __init__(self, ins) -> None:
        self.ins = ins
        self.pos = {k: 0 for k in ins}
        self.t = 0

    def peek(self, name):
        toks, stamps = self.ins[name]
        p = self.pos[name]
        if p >= len(toks):
            raise Ended(name)
        s = stamps[p]
        if s > self.t:
            self.t = s
        return toks[p]

    def deq(self, name):
        tok = self.peek(name)
        self.pos[name] += 1
        return tok


def crd_drop(run, node, ins):
    c = _Cur(ins)
    oo, oi = ([], array('q')), ([], array('q'))

    def emit(o, tok):
        o[0].append(tok); o[1].append(c.t + 1)

    held = None
    while True:
        o = c.deq("outer")
        if _is_payload(o):
            kept = False
            while True:
                x = c.deq("inner")
                if _is_payload(x):
                    if not kept and held is not None:
                        emit(oi, held)
                        held = None
                    kept = True
                    emit(oi, x)
                elif type(x) is _STOP:
                    if kept:
                        emit(oo, o)
                        if x.level == 0:
                            held = x
                        else:
                            emit(oi, x)
                    elif x.level > 0:
                        emit(oi, stop(max(x.level, held.level if held else 0)))
                        held = None
                    break
                elif x is EMPTY:
                    nxt = c.peek("inner")
                    if type(nxt) is not _STOP:
                        break
                else:
                    raise run.fail("inner stream ended before the outer one", c.t)
        elif type(o) is _STOP:
            emit(oo, o)
        elif o is DONE:
            x = c.deq("inner")
            if x is not DONE:
                raise run.fail(f"inner stream continues after the outer one ended ({x})", c.t)
            if held is not None:
                emit(oi, held)
            emit(oi, DONE)
            emit(oo, DONE)
            run.t = c.t
            return {"outer": oo, "inner": oi}
        c.t += 1


def crd_hold(run, node, ins):
    c = _Cur(ins)
    oo, oi = ([], array('q')), ([], array('q'))

    def emit(o, tok):
        o[0].append(tok); o[1].append(c.t + 1)

    while True:
        o = c.peek("outer")
        x = c.deq("inner")
        if _is_payload(x):
            emit(oi, x)
            emit(oo, o)
        elif type(x) is _STOP:
            emit(oi, x)
            emit(oo, x)
            c.deq("outer")
            if _is_payload(o) and x.level > 0:
                s = c.deq("outer")
                if s != stop(x.level - 1):
                    raise run.fail(f"outer stream: expected {stop(x.level - 1)}, got {s}", c.t)
        elif x is EMPTY:
            emit(oi, EMPTY)
            emit(oo, EMPTY)
            nxt = c.peek("inner")
            if type(nxt) is not _STOP:
                c.deq("outer")
        else:
            c.deq("outer")
            emit(oi, DONE)
            emit(oo, DONE)
            run.t = c.t
            return {"outer": oo, "inner": oi}
        c.t += 1


FAST_PRIMS = {
    NodeKind.ROOT: root,
    NodeKind.LEVEL_SCAN: level_scan,
    NodeKind.LEVEL_WRITE: level_write,
    NodeKind.VAL_WRITE: val_write,
    NodeKind.VAL_ARRAY: val_array,
    NodeKind.REPEAT_SIG: repeat_sig,
    NodeKind.REPEAT: repeat,
    NodeKind.INTERSECT: intersect,
    NodeKind.UNION: union,
    NodeKind.ALU: alu,
    NodeKind.REDUCE: reduce,
    NodeKind.SPACC1: spacc1,
    NodeKind.SPACC2: spacc2,
    NodeKind.CRD_DROP: crd_drop,
    NodeKind.CRD_HOLD: crd_hold,
    NodeKind.LOCATE: locate,
    NodeKind.BROADCAST: broadcast,
    NodeKind.FORK: fork,
    NodeKind.JOIN: join,
}

assert set(FAST_PRIMS) == set(NodeKind), "every node kind needs a fast primitive"
