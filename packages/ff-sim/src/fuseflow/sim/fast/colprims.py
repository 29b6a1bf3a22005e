"""Columnar (numpy) versions of the hot primitives; each mirrors its loop in prims.py exactly.

Each function returns its outputs as :class:`Col` streams, or None when its input is not
the regular case it handles (then the engine runs the loop version, which gives the same
result or raises the reference's error). A None return leaves ``run`` untouched.

Clocks: a process's clock follows ``t = max(t, a_m); t += c_m`` over its steps, which
:func:`maxplus` evaluates in closed form (a cumulative max).
"""

from __future__ import annotations

import math

import numpy as np
from fuseflow.ir.formats import LevelFormat
from fuseflow.ir.graph import NodeKind, StreamKind
from fuseflow.ir.program import BinaryOp, ReduceOp, UnaryOp
from fuseflow.sim import ops
from fuseflow.sim.fast import colwriters
from fuseflow.sim.fast.col import (
    C_DONE,
    C_EMPTY,
    C_N,
    C_R,
    C_S,
    C_VAL,
    F32,
    I64,
    STOP0,
    Col,
    col_in,
    decode,
    done_end,
    maxplus,
    ramp,
    to_done,
)
from fuseflow.sim.fast.jit import (
    cummax_plus1,
    join2_run,
    locate_run,
    reduce_parent_run,
    reduce_run,
    repeat_run,
    repeat_sig_run,
    spacc1_run,
    val_gather,
)
from fuseflow.sim.fast.jitmem import sparse_scan_run
from fuseflow.sim.fast.membridge import client_clocks, drive


def _val_codes(c: np.ndarray, val: np.ndarray) -> np.ndarray:
    """Codes of a value stream: C_VAL where ``val``, else ``c`` (stops, N, D); one byte
    each when the stops allow (a value stream has no payload codes >= 0)."""
    rest = c[~val]
    small = not len(rest) or int(rest.min()) > -100
    out = np.full(len(c), C_VAL, np.int8 if small else I64)
    out[~val] = rest
    return out


def _int_dtype(lo: int, hi: int) -> np.dtype:
    """The narrowest signed integer type holding lo..hi: coordinate and ref columns are
    mostly small numbers, and every byte of a 100 M-token column is memory traffic."""
    for t in (np.int8, np.int16, np.int32):
        info = np.iinfo(t)
        if info.min <= lo and hi <= info.max:
            return np.dtype(t)
    return np.dtype(I64)


def _plain(c: np.ndarray) -> bool:
    """Only coordinates/refs, stops and N (a crd or ref stream before its D)."""
    return bool(np.all((c >= 0) | (c <= STOP0) | (c == C_EMPTY)))


def _crd_in(stream) -> tuple[Col, np.ndarray, int] | None:
    """A crd or ref stream as (Col, stamps, end): integer codes, plain up to its D at end-1."""
    cin = to_done(stream)
    if cin is None:
        return None
    col, _, end = cin
    if col.vals is not None or col.codes.dtype.kind != "i" or not _plain(col.codes[:end - 1]):
        return None
    return cin


# ---------------------------------------------------------------------------------- flow
def broadcast(run, node, ins):
    cin = to_done(ins["in"])
    if cin is None:
        return None
    col, st, end = cin
    if end < len(col):
        col = Col(col.codes[:end], None if col.vals is None else col.vals[:end])
    arr = cummax_plus1(st[:end], np.empty(end, I64))
    run.t = int(arr[-1]) - 1
    return {name: (col, arr) for name in run.out_names}


def repeat_sig(run, node, ins):
    cin = to_done(ins["crd"])
    if cin is None:
        return None
    col, st, end = cin
    out = np.empty(end, np.int8)  # signals and D: one byte each
    u = np.empty(end, I64)
    run.t = int(repeat_sig_run(col.codes, st, run.kind("crd") is StreamKind.CRD, out, u))
    return {"repsig": (Col(out), u)}


def repeat(run, node, ins):
    """Without N signals each S consumes one *unit* of the input: a payload (or N) with
    the stop right after it, or a bare stop. R signals re-read the current unit's head."""
    gi = col_in(ins["repsig"])
    if gi is None:
        return None
    ii = col_in(ins["in"])
    if ii is None:
        return None
    gcol, gs = gi
    icol, ist = ii
    K = done_end(gcol.codes)
    if K == 0:
        return None
    ic = icol.codes
    oc = np.empty(K, ic.dtype)
    has_vals = icol.vals is not None
    ov = np.empty(K if has_vals else 0, F32)
    u = np.empty(K, I64)
    t = repeat_run(gcol.codes[:K], gs, ic, ist, icol.vals if has_vals else ov, has_vals, oc, ov, u)
    if t < 0:
        return None  # N signals or an irregular input: the loop (which raises the reference's error)
    run.t = int(t)
    return {"out": (Col(oc, ov if has_vals else None), u)}


# ---------------------------------------------------------------------------------- readers
SCAN_RUNS = 4096  # up to this many runs of refs, a dense scan writes its output run by run


def level_scan(run, node, ins):
    """Dense levels (no memory traffic): each ref gives ``dim`` coordinates, then the
    stop that its look-ahead finds (a stop right after a ref is consumed with it).
    Compressed and singleton levels: :func:`_sparse_scan`."""
    a = node.attrs
    if a.tensor is None:
        if a.dim is None or a.format is not LevelFormat.DENSE:
            return None
        dim = int(a.dim)
    else:
        lv = run.ctx.stored(a.tensor).levels[a.level]
        if lv.format is not LevelFormat.DENSE:
            return _sparse_scan(run, lv, ins)
        dim = int(lv.dim)
    cin = _crd_in(ins["ref"])
    if cin is None or cin[2] < 2:
        return None
    col, st, end = cin
    cfg = run.ctx.hw.scanner
    lat = cfg.output_latency
    L = lat if lat >= 1 else 1
    seq = cfg.sequential_interval
    delay = cfg.initial_delay + cfg.miss_latency
    c = col.codes[:end]
    s = st[:end]
    pay = c >= 0
    folded = np.zeros(end, dtype=bool)
    folded[1:] = (c[1:] <= STOP0) & pay[:-1]
    kept = np.flatnonzero(~folded)
    kp = pay[kept]
    w = 1 + kp.astype(I64)
    first = np.cumsum(w) - w  # step index of each kept token (a ref has a second, look-ahead step)
    m = int(first[-1] + w[-1])
    av = np.empty(m, I64)
    cv = np.ones(m, I64)
    av[first] = s[kept]
    cv[first[kp]] = delay + seq * dim
    look = first[kp] + 1
    refs = kept[kp]
    av[look] = s[refs + 1]
    u = maxplus(av, cv, inplace=True)
    run.t = int(u[first[-1]])
    # outputs: dim + 1 per ref, 1 per other kept token
    nout = np.where(kp, dim + 1, 1)
    ostart = np.cumsum(nout) - nout
    N = int(ostart[-1] + nout[-1])
    low = min(int(c.min()) - 1, STOP0)
    ocode = np.empty(N, _int_dtype(low, dim - 1))
    top = int(c[pay].max()) * dim + dim - 1 if pay.any() else 0
    oref = np.empty(N, _int_dtype(low, top))
    ost = np.empty(N, I64)
    other = ~kp
    oo = ostart[other]
    ocode[oo] = np.where(c[kept[other]] <= STOP0, c[kept[other]] - 1, c[kept[other]])
    oref[oo] = ocode[oo]
    ost[oo] = u[first[other]] + 1
    nref = len(refs)
    if not nref:
        return {"crd": (Col(ocode), ost), "ref": (Col(oref), ost)}
    nx = c[refs + 1]
    look_code = np.where(nx <= STOP0, nx - 1, STOP0)
    base = c[refs].astype(I64) * dim
    t0 = u[first[kp]] + (delay + L)
    t1 = u[look] + 1
    rng = ramp(dim)
    step = rng * seq
    # runs of consecutive refs among the kept tokens write contiguous (refs, dim + 1) blocks
    rk = np.flatnonzero(kp)
    cut = np.flatnonzero(np.diff(rk) != 1) + 1
    if len(cut) <= SCAN_RUNS:
        bounds = np.concatenate(([0], cut, [nref])).tolist()
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            at = int(ostart[rk[a]])
            end = at + (b - a) * (dim + 1)
            for arr, body, tail in ((ocode, None, look_code), (oref, base, look_code), (ost, t0, t1)):
                blk = arr[at:end].reshape(b - a, dim + 1)
                if body is None:
                    blk[:, :dim] = rng
                else:
                    np.add(body[a:b, None], rng if arr is oref else step, out=blk[:, :dim])
                blk[:, dim] = tail[a:b]
    else:
        lo = ostart[kp] + dim  # the look-ahead stop of each ref
        ocode[lo] = look_code
        oref[lo] = look_code
        ost[lo] = t1
        mask = np.ones(N, dtype=bool)
        mask[oo] = False
        mask[lo] = False
        ocode[mask] = np.tile(rng, nref)
        oref[mask] = (base[:, None] + rng).ravel()
        ost[mask] = (t0[:, None] + step).ravel()
    return {"crd": (Col(ocode), ost), "ref": (Col(oref), ost)}


def _sparse_scan(run, lv, ins):
    """A compressed or singleton level, token by token (compiled), memory model on or off."""
    cin = _crd_in(ins["ref"])
    if cin is None or lv.crd is None:
        return None
    col, st, end = cin
    c = col.codes[:end]
    compressed = lv.format is LevelFormat.COMPRESSED
    seg = np.asarray(lv.seg if compressed else np.zeros(0), I64)
    crd = np.asarray(lv.crd, I64)
    refs = c[c >= 0].astype(I64)  # codes may be narrow: refs + 1 must not wrap
    if compressed:
        if len(refs) and int(refs.max()) + 1 >= len(seg):
            return None
        if len(seg) and (np.any(np.diff(seg) < 0) or int(seg[-1]) > len(crd)):
            return None
        size = int(np.sum(seg[refs + 1] - seg[refs])) if len(refs) else 0
    else:
        if len(refs) and int(refs.max()) >= len(crd):
            return None
        size = len(refs)
    cfg, mcfg = run.ctx.hw.scanner, run.ctx.hw.memory
    t = 0
    if compressed and cfg.data_load_factor:
        f = cfg.data_load_factor
        t += math.ceil(len(seg) * f) + math.ceil(len(crd) * f)
    t += cfg.startup_delay
    lat_out = max(1, cfg.output_latency)
    n_out = size + end
    oc, orf, ocs = np.empty(n_out, I64), np.empty(n_out, I64), np.empty(n_out, I64)
    use_mem = run.access is not None
    batch = max(1, mcfg.crd_batch)
    state = np.zeros(10, I64)
    state[1] = t

    def step(slots, mstate, ii, lat, startup, buf):
        return sparse_scan_run(c, st, seg, crd, compressed, use_mem, lat_out, cfg.sequential_interval,
                               cfg.initial_delay + cfg.miss_latency, mcfg.seg_words_per_ref, batch,
                               slots, mstate, ii, lat, startup, buf, state, oc, orf, ocs)

    code = drive(run, step, max(batch, mcfg.seg_words_per_ref))
    if code != 0:
        raise AssertionError(f"sparse scan stopped early ({code}) on a checked input")
    no = int(state[2])
    run.t = int(state[1])
    run.counters.seg_reads += int(state[8])
    run.counters.crd_reads += int(state[9])
    ocs = ocs[:no]
    return {"crd": (Col(oc[:no]), ocs), "ref": (Col(orf[:no]), ocs)}


def val_array(run, node, ins):
    """Scalar values. With the memory model on, a ref that leaves the loaded batch issues
    one request; see :func:`membridge.client_clocks` for how those are answered exactly."""
    a = node.attrs
    vals = run.ctx.stored(a.tensor).vals
    if vals.dtype != F32:
        return None
    cin = _crd_in(ins["ref"])
    if cin is None:
        return None
    if vals.ndim > 1:
        return _tile_val_array(run, vals, cin)
    col, st, end = cin
    c = col.codes[:end]
    batch = max(1, run.ctx.hw.memory.val_batch)
    ov = np.empty(end, F32)
    oc = np.empty(end, np.int8 if int(c.min()) > -100 else I64)
    req = np.empty(end, I64)
    words = np.empty(end, I64)
    n_req, nref = val_gather(c, vals, batch, ov, oc, req, words)
    if n_req < 0:
        return None  # a ref out of range: the loop raises the reference's error
    u = _value_clocks(run, st[:end], req[:n_req], words[:n_req], c >= 0, 1)
    run.counters.val_reads += nref
    return {"val": (Col(oc, ov), u)}


def _tile_val_array(run, vals, cin):
    """Tiles (B x B values per ref): every ref is one request of B^2 words (no batching);
    N gives a zero tile. The clock runs compiled; the tokens are the tiles themselves (a
    list stream, as the loop version makes)."""
    col, st, end = cin
    c = col.codes[:end]
    pay = c >= 0
    nv = len(vals)
    refs = c[pay]
    if len(refs) and int(refs.max()) >= nv:
        return None
    words = int(np.prod(vals.shape[1:]))
    req = np.flatnonzero(pay)
    u = _value_clocks(run, st[:end], req, np.full(len(req), words, I64), pay, vals.shape[1])
    toks = decode(Col(c))
    vl = list(vals)  # tile views, as vals[r] gives
    for i, r in zip(np.flatnonzero(pay).tolist(), refs.tolist(), strict=True):
        toks[i] = vl[r]
    empty = np.flatnonzero(c == C_EMPTY).tolist()
    if empty:
        zero = np.zeros(vals.shape[1:], dtype=np.float32)
        for i in empty:
            toks[i] = zero
    run.counters.val_reads += len(refs) * words
    return {"val": (toks, u)}


def _value_clocks(run, s, req, words, pay, block):
    """Output stamps of a value array (its clock in ``run.t``): one step per token; with
    the memory model on, the tokens ``req`` first wait for a request of ``words``; a
    value leaves after the array's latency, anything else after one cycle."""
    if run.access is None:
        u = maxplus(s, 1)
        run.t = int(u[-1])
        u += 1
    else:
        u = client_clocks(run, s, req, words)
        run.t = int(u[-1]) - 1
    lat = run.ctx.hw.timing.val_array_latency.at(block)
    if lat > 1:
        u[pay] += lat - 1
    return u


def locate(run, node, ins):
    """located = base * dim + crd, token for token; stops and N pass (the aligned case)."""
    a = node.attrs
    dim = int(run.ctx.stored(a.tensor).levels[a.level].dim)
    cin = _crd_in(ins["crd"])
    if cin is None:
        return None
    ccol, cst, end = cin
    c = ccol.codes[:end]
    r = rs = b = bs = _NONE
    rcol = None
    if "ref" in ins:
        ri = col_in(ins["ref"])
        if ri is None or len(ri[0]) < end:
            return None
        rcol, rs = ri
        r = rcol.codes
    if "base" in ins:
        bi = col_in(ins["base"])
        if bi is None or bi[0].vals is not None or len(bi[0]) < end or bi[0].codes.dtype.kind != "i":
            return None
        b, bs = bi[0].codes, bi[1]
    loc = np.empty(end, I64)
    u = np.empty(end, I64)
    t = locate_run(c, cst, rcol is not None, r, rs, "base" in ins, b, bs, dim, loc, u)
    if t < 0:
        return None
    run.t = int(t)
    ccut = ccol if end == len(ccol) else Col(c)
    if rcol is None:
        rout = ccut
    else:
        rout = rcol if end == len(rcol) else Col(rcol.codes[:end], None if rcol.vals is None else rcol.vals[:end])
    return {"crd": (ccut, u), "ref": (rout, u), "located": (Col(loc), u)}


_NONE = np.zeros(0, I64)


def _joiner(run, node, ins, union):
    """Two-input intersect/union (compiled, see :func:`jit.join2_run`)."""
    if (node.attrs.arity or 0) != 2:
        return None
    got = []
    for k in range(2):
        ci, ri = col_in(ins[f"crd{k}"]), col_in(ins[f"ref{k}"])
        if ci is None or ri is None or ci[0].vals is not None or ci[0].codes.dtype.kind != "i":
            return None
        got.append((ci, ri))
    (c0, r0), (c1, r1) = got
    n_out = len(c0[0]) + len(c1[0])
    oc, ocs = np.empty(n_out, np.result_type(c0[0].codes, c1[0].codes)), np.empty(n_out, I64)
    refs = []
    for rcol, _ in (r0, r1):
        vals = rcol.vals if rcol.vals is not None else np.zeros(len(rcol), F32)
        refs.append((rcol, vals, np.empty(n_out, np.result_type(rcol.codes, np.int8)), np.empty(n_out, F32)))
    (a0, va0, o0, ov0), (a1, va1, o1, ov1) = refs
    no, t = join2_run(union, c0[0].codes, c0[1], a0.codes, r0[1], va0, c1[0].codes, c1[1], a1.codes, r1[1], va1,
                      oc, ocs, o0, ov0, o1, ov1)
    if no < 0:
        return None
    run.t = int(t)
    ocs = ocs[:no]
    out = {"crd": (Col(oc[:no]), ocs)}
    for k, (rcol, _, o, ov) in enumerate(refs):
        out[f"ref{k}"] = (Col(o[:no], ov[:no] if rcol.vals is not None else None), ocs)
    return out


def intersect(run, node, ins):
    return _joiner(run, node, ins, False)


def union(run, node, ins):
    return _joiner(run, node, ins, True)


# ---------------------------------------------------------------------------------- compute
def alu(run, node, ins):
    """Scalar binary ALUs whose operands line up token for token (no N against a value),
    and scalar unary ALUs."""
    a = node.attrs
    if ops.parse_tile_label(a.label) is not None or a.label == "tile_matmul":
        return None
    if (a.arity or 1) == 1:
        return _unary(run, node, ins) if isinstance(a.op, UnaryOp) and not a.block else None
    if not isinstance(a.op, BinaryOp):
        return None
    ai = col_in(ins["a"])
    if ai is None:
        return None
    bi = col_in(ins["b"])
    if bi is None:
        return None
    (ac, ast), (bc, bst) = ai, bi
    end = done_end(ac.codes)
    if end == 0 or len(bc) < end:
        return None
    ca = ac.codes[:end]
    if not np.array_equal(ca, bc.codes[:end]) or bc.codes[end - 1] != C_DONE:
        return None
    if np.any(ca >= 0) or np.any((ca == C_R) | (ca == C_S) | (ca == C_N)):
        return None
    pay = ca == C_VAL
    if (ac.vals is None or bc.vals is None) and pay.any():
        return None
    tm = run.ctx.hw.timing
    b = int(max(a.block)) if a.block else 1
    lat = tm.alu_latency.at(b)
    ii = tm.alu_ii.at(b)
    L = lat if lat >= 1 else 1
    if ac.vals is None or bc.vals is None:
        vv = np.zeros(end, F32)
    else:
        with np.errstate(all="ignore"):
            vv = ops.BINARY[a.op](ac.vals[:end], bc.vals[:end])
    if not isinstance(vv, np.ndarray) or vv.dtype != F32:
        vv = np.asarray(vv).astype(F32)
    u = maxplus(np.maximum(ast[:end], bst[:end]), ii, inplace=True)
    run.t = int(u[-1])
    u += np.where(pay, L, 1)
    npay = int(np.count_nonzero(pay))
    run.counters.alu_ops += npay
    run.counters.flops += npay
    return {"val": (Col(ca, vv), u)}


def _unary(run, node, ins):
    """The loop's ``_unary`` on a value column: the op on every value at once (numpy's
    elementwise loops, as the loop calls them per value), stops and N pass after one
    cycle, values after the unary latency; one token per cycle."""
    cin = to_done(ins["a"])
    if cin is None:
        return None
    col, st, end = cin
    codes = col.codes[:end]
    if np.any(codes >= 0) or np.any((codes == C_R) | (codes == C_S) | (codes == C_N)):
        return None
    pay = codes == C_VAL
    npay = int(np.count_nonzero(pay))
    if col.vals is None and npay:
        return None
    a = node.attrs
    lat = run.ctx.hw.timing.unary_latency.at(1)
    vals = col.vals[:end] if col.vals is not None else np.zeros(end, F32)
    with np.errstate(all="ignore"):
        vv = ops.UNARY[a.op](vals, F32(0.0 if a.scalar is None else a.scalar))
    if not isinstance(vv, np.ndarray) or vv.dtype != F32:
        vv = np.asarray(vv).astype(F32)
    u = maxplus(st[:end], 1)
    run.t = int(u[-1])
    u += np.where(pay, lat if lat >= 1 else 1, 1)
    run.counters.alu_ops += npay
    run.counters.flops += npay
    return {"val": (Col(codes, vv), u)}


def spacc1(run, node, ins):
    """Scalar values and plain crd streams (compiled loop, see :func:`jit.spacc1_run`)."""
    oi = col_in(ins["crd_outer"])
    if oi is None:
        return None
    ii = col_in(ins["crd_inner"])
    if ii is None:
        return None
    vi = col_in(ins["val"])
    if vi is None:
        return None
    (ocol, ost), (icol, ist), (vcol, vst) = oi, ii, vi
    if ocol.vals is not None or icol.vals is not None or len(vcol) != len(icol):
        return None
    q = icol.codes
    K = int(q.max()) + 1 if len(q) else 1
    if K < 1 or K > 4 * len(q) + (1 << 16):
        return None  # coordinates too sparse for a dense accumulator: the loop's dict
    vv = vcol.vals if vcol.vals is not None else np.zeros(len(vcol), F32)
    n_out = len(q) + len(ocol) + 1
    cc, cv, cs = np.empty(n_out, I64), np.empty(n_out, F32), np.empty(n_out, I64)
    nout, t, adds = spacc1_run(ocol.codes, ost, q, ist, vcol.codes, vv, vst, np.zeros(K, F32),
                               np.zeros(K, np.uint8), np.empty(K, I64), cc, cv, cs)
    if nout < 0:
        return None
    cc, cv, cs = cc[:nout], cv[:nout], cs[:nout]
    run.t = int(t)
    run.counters.reduce_ops += adds
    run.counters.flops += adds
    return {"crd": (Col(cc), cs), "val": (Col(_val_codes(cc, cc >= 0), cv), cs)}


def reduce(run, node, ins):
    """Scalar reduce (compiled, see :func:`jit.reduce_run` and, with the parent's
    coordinates, :func:`jit.reduce_parent_run`)."""
    a = node.attrs
    if a.block or a.op not in (ReduceOp.SUM, ReduceOp.MAX):
        return None
    cin = to_done(ins["val"])
    if cin is None:
        return None
    c, st, end = cin
    codes = c.codes[:end]
    if c.vals is None and np.any(codes == C_VAL):
        return None
    lat = run.ctx.hw.timing.reduce_latency.at(1)
    L = lat if lat >= 1 else 1
    vals = c.vals if c.vals is not None else np.zeros(end, F32)
    if "crd" in ins:
        pin = to_done(ins["crd"])
        if pin is None or pin[0].vals is not None:
            return None
        pcol, pst, pend = pin
        n_out = pend + int(np.count_nonzero(codes <= STOP0)) + 1
        oc, ov, os_ = np.empty(n_out, I64), np.empty(n_out, F32), np.empty(n_out, I64)
        no, t, nvals = reduce_parent_run(pcol.codes[:pend], pst, codes, vals, st, a.op is ReduceOp.MAX, L,
                                         oc, ov, os_)
    else:
        n_out = 2 * int(np.count_nonzero(codes <= STOP0)) + 1
        oc, ov, os_ = np.empty(n_out, I64), np.empty(n_out, F32), np.empty(n_out, I64)
        no, t, nvals = reduce_run(codes, vals, st, a.op is ReduceOp.MAX, L, oc, ov, os_)
    if no < 0:
        return None
    run.t = int(t)
    run.counters.reduce_ops += nvals
    run.counters.flops += nvals
    return {"val": (Col(oc[:no], ov[:no]), os_[:no])}


COL_PRIMS = {
    NodeKind.INTERSECT: intersect,
    NodeKind.UNION: union,
    NodeKind.LEVEL_WRITE: colwriters.level_write,
    NodeKind.VAL_WRITE: colwriters.val_write,
    NodeKind.REDUCE: reduce,
    NodeKind.LOCATE: locate,
    NodeKind.SPACC1: spacc1,
    NodeKind.BROADCAST: broadcast,
    NodeKind.REPEAT_SIG: repeat_sig,
    NodeKind.REPEAT: repeat,
    NodeKind.LEVEL_SCAN: level_scan,
    NodeKind.VAL_ARRAY: val_array,
    NodeKind.ALU: alu,
}
