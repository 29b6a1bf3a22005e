"""Columnar (numpy) versions of the hot primitives; each mirrors its loop in prims.py exactly.

Each function returns its outputs as :class:`Col` streams, or None when its input is not
the regular case it handles (then the engine runs the loop version, which gives the same
result or raises the reference's error). A None return leaves ``run`` untouched.

Clocks: a process's clock follows ``t = max(t, a_m); t += c_m`` over its steps, which
:func:`maxplus` evaluates in closed form (a cumulative max).
"""

from __future__ import annotations

from array import array

import numpy as np
from fuseflow.ir.formats import LevelFormat
from fuseflow.ir.graph import NodeKind, StreamKind
from fuseflow.ir.program import BinaryOp, ReduceOp
from fuseflow.sim import ops
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
    done_end,
    maxplus,
    ramp,
)


def _val_codes(c: np.ndarray, val: np.ndarray) -> np.ndarray:
    """Codes of a value stream: C_VAL where ``val``, else ``c`` (stops, N, D); one byte
    each when the stops allow (a value stream has no payload codes >= 0)."""
    rest = c[~val]
    small = not len(rest) or int(rest.min()) > -100
    out = np.full(len(c), C_VAL, np.int8 if small else I64)
    out[~val] = rest
    return out


def _plain(c: np.ndarray) -> bool:
    """Only coordinates/refs, stops and N (a crd or ref stream before its D)."""
    return bool(np.all((c >= 0) | (c <= STOP0) | (c == C_EMPTY)))


def _to_done(stream) -> tuple[Col, np.ndarray, int] | None:
    """A stream as (Col, stamps, end) with its D at end-1; None if not columnar or no D."""
    ci = col_in(stream)
    if ci is None:
        return None
    col, st = ci
    end = done_end(col.codes)
    return (col, st, end) if end else None


def _crd_in(stream) -> tuple[Col, np.ndarray, int] | None:
    """A crd or ref stream as (Col, stamps, end): integer codes, plain up to its D at end-1."""
    cin = _to_done(stream)
    if cin is None:
        return None
    col, _, end = cin
    if col.vals is not None or col.codes.dtype != I64 or not _plain(col.codes[:end - 1]):
        return None
    return cin


# ---------------------------------------------------------------------------------- flow
def broadcast(run, node, ins):
    cin = _to_done(ins["in"])
    if cin is None:
        return None
    col, st, end = cin
    if end < len(col):
        col = Col(col.codes[:end], None if col.vals is None else col.vals[:end])
    arr = np.maximum.accumulate(st[:end])
    run.t = int(arr[-1])
    arr += 1
    return {name: (col, arr) for name in run.out_names}


def repeat_sig(run, node, ins):
    cin = _to_done(ins["crd"])
    if cin is None:
        return None
    col, st, end = cin
    c = col.codes[:end]
    out = np.full(end, C_R, np.int8)  # signals and D: one byte each
    out[c <= STOP0] = C_S
    if run.kind("crd") is StreamKind.CRD:
        out[c == C_EMPTY] = C_N
    out[-1] = C_DONE
    u = maxplus(st[:end], 1)
    run.t = int(u[-1])
    u += 1
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
    g = gcol.codes[:K - 1]
    ev = g == C_S
    if not np.all(ev | (g == C_R)):
        return None  # N signals or stray tokens: the loop
    ic = icol.codes
    n = len(ic)
    is_stop = ic <= STOP0
    start = np.ones(n, dtype=bool)
    if n > 1:
        start[1:] = ~(is_stop[1:] & ~is_stop[:-1] & (ic[:-1] != C_DONE))
    starts = np.flatnonzero(start)
    E = int(np.count_nonzero(ev))
    if E >= len(starts):
        return None
    idt = np.int32 if len(starts) < 2**31 - 1 else I64
    uidx = np.empty(K, idt)
    np.cumsum(ev, out=uidx[1:])
    uidx[0] = 0
    pos = starts.astype(idt, copy=False)[uidx]
    del uidx
    head = ic[pos]
    bad = head <= STOP0
    bad |= head == C_DONE
    bad[:K - 1] &= ~ev
    bad[K - 1] = False
    if bad.any():
        return None  # the loop raises the reference's error
    del bad
    evk = np.flatnonzero(ev)
    eh = head[evk]
    if np.any(eh == C_DONE):
        return None
    x = np.maximum(gs[:K], ist[pos])
    pay = eh > STOP0  # a payload (or N) head looks at the next token
    pk, pp = evk[pay], pos[evk[pay]] + 1
    if len(pp) and int(pp[-1]) >= n:
        return None
    x[pk] = np.maximum(x[pk], ist[pp])
    oc = head  # a fresh gather: ours to change
    oc[evk[~pay]] = eh[~pay] - 1
    nxt = ic[pp]
    oc[pk] = np.where(nxt <= STOP0, nxt - 1, STOP0)
    oc[K - 1] = C_DONE
    ov = icol.vals[pos] if icol.vals is not None else None
    u = maxplus(x, 1, inplace=True)
    run.t = int(u[-1])
    u += 1
    return {"out": (Col(oc, ov), u)}


# ---------------------------------------------------------------------------------- readers
SCAN_RUNS = 4096  # up to this many runs of refs, a dense scan writes its output run by run


def level_scan(run, node, ins):
    """Dense levels only (no memory traffic): each ref gives ``dim`` coordinates, then the
    stop that its look-ahead finds (a stop right after a ref is consumed with it)."""
    a = node.attrs
    if a.tensor is None:
        if a.dim is None or a.format is not LevelFormat.DENSE:
            return None
        dim = int(a.dim)
    else:
        lv = run.ctx.stored(a.tensor).levels[a.level]
        if lv.format is not LevelFormat.DENSE:
            return None
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
    ocode = np.empty(N, I64)
    oref = np.empty(N, I64)
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
    base = c[refs] * dim
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


def val_array(run, node, ins):
    """Scalar values. With the memory model on, a ref that leaves the loaded batch issues
    one request; see :func:`_requests` for how those are answered exactly."""
    a = node.attrs
    vals = run.ctx.stored(a.tensor).vals
    if vals.ndim != 1 or vals.dtype != F32:
        return None
    cin = _crd_in(ins["ref"])
    if cin is None:
        return None
    col, st, end = cin
    c = col.codes[:end]
    nv = len(vals)
    pay = c >= 0
    refs = c[pay]
    if len(refs) and int(refs.max()) >= nv:
        return None
    lat = run.ctx.hw.timing.val_array_latency.at(1)
    L = lat if lat >= 1 else 1
    batch = max(1, run.ctx.hw.memory.val_batch)
    if run.access is not None and run.ctx.hw.memory.latency < 0:
        return None
    nref = len(refs)
    ov = np.zeros(end, F32)
    ov[pay] = vals[refs]
    oc = _val_codes(c, pay | (c == C_EMPTY))
    s = st[:end]
    if run.access is None:
        del refs
        u = maxplus(s, 1)
    else:
        lines = refs
        lines //= batch  # refs are a copy: reuse them
        new = np.ones(nref, dtype=bool)
        new[1:] = lines[1:] != lines[:-1]
        at = np.zeros(end, dtype=bool)
        at[pay] = new
        req = np.flatnonzero(at)
        del at
        words = np.minimum(batch, nv - lines[new] * batch)
        del lines, refs
        u = _requests(run, s, req, words)
    run.t = int(u[-1])
    u += 1
    if L != 1:
        u[pay] += L - 1
    run.counters.val_reads += nref
    return {"val": (Col(oc, ov), u)}


TABLE_COST = 16  # a slot of the table costs about 1/16 of a request answered by the model
MARK_STEPS = 64  # taken slots stepped over one by one before the next-free array is built


def _requests(run, s, req, words):
    """Clocks of a client that steps ``t = max(t, s_j); t += 1`` and, at the tokens ``req``,
    first waits for a memory request of ``words``: ``t = max(t, access(t, w))``.

    A primitive runs alone here, and its requests never meet its own earlier slots: each
    one is issued at or after the previous one completed, later than all the slots it
    took (latency >= 0). So a request's slots depend only on the slots taken before the
    primitive started: for a full-width request (one word per channel) the answer is a
    table lookup H[ceil(t/II)]. Other requests go through the model itself. The slots the
    table answered are marked at the end, for the clients that run later.
    """
    mem = run.memory
    n_req = len(req)
    if not n_req:
        return maxplus(s, 1)
    g = s - ramp(len(s))
    # x_(k+1) = max(y_k + d_k, W_k): W_k is the clock the stamps after request k give
    W = np.maximum.reduceat(g, req + 1)[: n_req - 1] + req[1:]
    d = np.diff(req)
    x = x0 = max(int(np.max(g[: req[0] + 1])), 0) + int(req[0])
    g += ramp(len(s))  # back to the stamps: the copy the answers go into
    s = g
    del g
    nch, ii, lat = mem.n, mem.ii, mem.lat
    full = words == nch
    ys = array("q")  # completion of each request
    ap = ys.append
    wl = words.tolist()
    dl = d.tolist()
    w2l = (W - d).tolist()  # x = max(y, W_k - d_k) + d_k
    access = mem.access
    k = 0
    table: array | bool = False
    lo = 0
    # the model answers until a full-width request finds every channel started
    while k < n_req:
        w = wl[k]
        if w == nch and None not in mem.ready:
            lo = -(-x // ii)  # no later request starts earlier
            table = _slot_table(mem, lo, int(np.count_nonzero(full[k:])))
            break
        y = access(x, w)
        if y < x:
            y = x
        ap(y)
        if k + 1 < n_req:
            w2 = w2l[k]
            x = (y if y > w2 else w2) + dl[k]
        k += 1
    k_table = k
    if table is False:
        for k in range(k_table, n_req):
            y = access(x, wl[k])
            if y < x:
                y = x
            ap(y)
            if k < n_req - 1:
                w2 = w2l[k]
                x = (y if y > w2 else w2) + dl[k]
    else:
        Hy = table  # Hy[s - lo]: completion of a full-width request whose first slot is s
        nH = len(Hy)
        last = n_req - 1
        if bool(full[k:].all()):
            # table answers are >= x (H[s] >= s, s*II >= x, latency >= 0); past the table
            # (IndexError) the loop below takes over
            c1 = ii - 1 - lo * ii
            dl2, w2l2 = dl[k:], w2l[k:]
            try:
                if ii == 1:
                    for dk, w2 in zip(dl2, w2l2, strict=True):
                        y = Hy[x + c1]
                        ap(y)
                        x = (y if y > w2 else w2) + dk
                else:
                    for dk, w2 in zip(dl2, w2l2, strict=True):
                        y = Hy[(x + c1) // ii]
                        ap(y)
                        x = (y if y > w2 else w2) + dk
            except IndexError:
                pass
        for k in range(len(ys), n_req):
            if wl[k] == nch:
                j = (x + ii - 1) // ii - lo
                y = Hy[j] if j < nH else (j + lo) * ii + lat
            else:
                y = access(x, wl[k])
                if y < x:
                    y = x
            ap(y)
            if k < last:
                w2 = w2l[k]
                x = (y if y > w2 else w2) + dl[k]
        del table, Hy
        # the slots the table answered, from each request's clock
        ya = np.frombuffer(ys, dtype=I64)
        xa = np.empty(n_req, I64)
        xa[0] = x0
        np.maximum(ya[:-1], W - d, out=xa[1:])
        xa[1:] += d
        sel = full.copy()
        sel[:k_table] = False
        _mark(mem, (xa[sel] + ii - 1) // ii)
    s[req] = np.frombuffer(ys, dtype=I64)
    return maxplus(s, 1, inplace=True)


def _next_free(mem, c: int, size: int, lo: int = 0) -> np.ndarray:
    """nf[s - lo] = the first free slot >= s of channel c, for lo <= s < size."""
    ba = mem.slots[c]
    big = size >= 2**31 - 1
    taken = np.zeros(size - lo, dtype=bool)
    k = min(size, len(ba))
    if k > lo:
        taken[:k - lo] = np.frombuffer(bytes(ba[lo:k]), dtype=np.uint8) != 0
    idx = np.arange(lo, size, dtype=I64 if big else np.int32)
    idx[taken] = size  # beyond the table everything is free
    return np.minimum.accumulate(idx[::-1])[::-1]


def _rslot(mem, c: int) -> int:
    return -(-mem.ready[c] // mem.ii)


def _slot_table(mem, lo: int, uses: int) -> array | bool:
    """H[s - lo]: when a one-word-per-channel request whose first usable slot is s completes
    (its latest slot * II + latency). False when the table would cost more than the
    requests it answers."""
    size = max(max(len(b) for b in mem.slots), max(_rslot(mem, c) for c in range(mem.n)) + 1) + 1
    if size <= lo:
        return array("i")
    if uses * TABLE_COST < size - lo:
        return False
    H = None
    for c in range(mem.n):
        nf = _next_free(mem, c, size, lo)
        r = _rslot(mem, c)
        if r > lo:
            nf[:r - lo] = nf[r - lo]
        H = nf if H is None else np.maximum(H, nf, out=H)
    H = H.astype(I64)
    H *= mem.ii
    H += mem.lat
    small = int(H[-1]) < 2**31 - 1
    out = array("i" if small else "q")
    out.frombytes(H.astype(np.int32 if small else I64).tobytes())
    return out


def _mark(mem, s0: np.ndarray) -> None:
    """Take the slots that table-answered requests (first usable slot s0) got, per channel:
    the first free slot from there, found by stepping over taken ones (a long run of taken
    slots is left to the next-free array)."""
    if not len(s0):
        return
    from fuseflow.sim.memory import _B

    for c in range(mem.n):
        cand = np.maximum(s0, _rslot(mem, c))
        view = np.frombuffer(bytes(mem.slots[c]), dtype=np.uint8)
        n = len(view)
        todo = np.arange(len(cand), dtype=I64)
        for _ in range(MARK_STEPS):
            sub = cand[todo]
            inside = sub < n
            taken = np.zeros(len(todo), dtype=bool)
            taken[inside] = view[sub[inside]] != 0
            todo = todo[taken]
            if not len(todo):
                break
            cand[todo] += 1
        if len(todo):
            lo = int(cand[todo].min())
            size = max(n, int(cand[todo].max()) + 1) + 1
            cand[todo] = _next_free(mem, c, size, lo)[cand[todo] - lo]
        del view
        top = int(cand.max())
        if top // _B + 2 > len(mem.full[c]):
            mem._grow(c, top // _B + 2)
        out = np.frombuffer(mem.slots[c], dtype=np.uint8)
        out[cand] = 1
        del out


def locate(run, node, ins):
    """located = base * dim + crd, token for token; stops and N pass (the aligned case)."""
    a = node.attrs
    dim = int(run.ctx.stored(a.tensor).levels[a.level].dim)
    cin = _crd_in(ins["crd"])
    if cin is None:
        return None
    ccol, cst, end = cin
    c = ccol.codes[:end]
    cpay = c >= 0
    stamp = cst[:end]
    owned = False  # stamp is an input's array until a maximum makes a new one
    rcol = None
    if "ref" in ins:
        ri = col_in(ins["ref"])
        if ri is None or len(ri[0]) < end:
            return None
        rcol, rst = ri
        r = rcol.codes[:end]
        if r[-1] != C_DONE or np.any(r[:-1] == C_DONE) or not np.array_equal(r[~cpay], c[~cpay]):
            return None
        stamp = np.maximum(stamp, rst[:end])
        owned = True
    loc = c.copy()
    if "base" in ins:
        bi = col_in(ins["base"])
        if bi is None or bi[0].vals is not None or len(bi[0]) < end:
            return None
        bcol, bst = bi
        if bcol.codes.dtype != I64:
            return None
        b = bcol.codes[:end]
        bp = b[cpay]
        if not np.array_equal(b[~cpay], c[~cpay]) or np.any((bp < 0) & (bp != C_EMPTY)):
            return None
        loc[cpay] = np.where(bp == C_EMPTY, C_EMPTY, bp * dim + c[cpay])
        stamp = np.maximum(stamp, bst[:end])
        owned = True
    u = maxplus(stamp, 1, inplace=owned)
    run.t = int(u[-1])
    u += 1
    ccut = ccol if end == len(ccol) else Col(c)
    if rcol is None:
        rout = ccut
    else:
        rout = rcol if end == len(rcol) else Col(rcol.codes[:end], None if rcol.vals is None else rcol.vals[:end])
    return {"crd": (ccut, u), "ref": (rout, u), "located": (Col(loc), u)}


# ---------------------------------------------------------------------------------- compute
def alu(run, node, ins):
    """Scalar binary ALUs whose operands line up token for token (no N against a value)."""
    a = node.attrs
    if (a.arity or 1) == 1 or ops.parse_tile_label(a.label) is not None or a.label == "tile_matmul":
        return None
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


def spacc1(run, node, ins):
    """The case the compiler emits: the inner stream has one *item* per outer coordinate
    (its fiber, closed by a stop) and one per empty outer fiber (a bare stop one level
    up, which the reference consumes at that outer stop or by the look-ahead of the stop
    before it); no N. Steps: one per inner token of a fiber; at each outer stop the flush
    (at the clock after peeking the three heads) and the look-ahead; then D.
    Sums run in stream order, in float32, as the reference's dict does (from -0.0, so a
    first value keeps its bits)."""
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
    if ocol.vals is not None or icol.vals is not None or ocol.codes.dtype != I64 or icol.codes.dtype != I64:
        return None
    no, nq = done_end(ocol.codes), done_end(icol.codes)
    if no < 2 or nq < 2 or len(vcol) < nq:
        return None
    o, q = ocol.codes[:no - 1], icol.codes[:nq - 1]
    opay, ostop = o >= 0, o <= STOP0
    if not np.all(opay | ostop) or not ostop[-1]:
        return None
    qpay, qstop = q >= 0, q <= STOP0
    if not np.all(qpay | qstop) or not qstop[-1]:
        return None
    empty = ostop.copy()  # outer stops that close an empty fiber
    empty[1:] &= ostop[:-1]
    item = opay | empty
    item_at = np.flatnonzero(item)  # the outer token of each inner item
    ends = np.flatnonzero(qstop)  # the closing stop of each inner item
    if len(ends) != len(item_at):
        return None
    starts = np.empty(len(ends), I64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    ei = np.flatnonzero(empty[item_at])  # items of empty outer fibers: a bare stop one level up
    if np.any(starts[ei] != ends[ei]) or np.any(q[ends[ei]] != o[item_at[ei]] - 1):
        return None
    vcodes = vcol.codes[:nq - 1]
    if np.any(qpay & (vcodes != C_VAL) & (vcodes != C_EMPTY)):
        return None
    npay = int(np.count_nonzero(qpay))
    if npay and vcol.vals is None and np.any(qpay & (vcodes == C_VAL)):
        return None
    # steps, per outer token: a coordinate has one per token of its fiber, a stop two
    m_of = np.cumsum(item) - 1  # item of (or last item before) each outer token
    nsteps = np.full(len(o), 2, I64)
    pm = m_of[opay]
    nsteps[opay] = ends[pm] - starts[pm] + 1
    first = np.cumsum(nsteps) - nsteps
    M = int(first[-1] + nsteps[-1]) + 1
    av = np.empty(M + 1, I64)  # av[M]: where the bare stops' tokens go (no step of their own)
    cv = np.ones(M, I64)
    # inner tokens of fibers: step = first step of the fiber's coordinate + offset in the fiber
    idt = np.int32 if len(ends) < 2**31 - 1 else I64
    itm = np.zeros(nq - 1, idt)  # item of each inner token
    np.cumsum(qstop[:-1], out=itm[1:])
    off = first[item_at] - starts  # per item
    fib = opay[item_at]
    kj = off[itm]
    kj += ramp(nq - 1)
    if len(ei):
        kj[~fib[itm]] = M
    a_j = ost[item_at][itm]
    np.maximum(a_j, ist[:nq - 1], out=a_j)
    np.maximum(a_j, vst[:nq - 1], out=a_j)
    av[kj] = a_j
    del kj, a_j
    # outer stops: flush step, then look-ahead step
    sp = np.flatnonzero(ostop)
    S = len(sp)
    done_items = m_of[sp] + 1  # items consumed once this stop's look-ahead starts
    ii2 = np.where(done_items > 0, ends[np.maximum(done_items - 1, 0)] + 1, 0)
    ii1 = ii2.copy()
    if empty[0]:
        ii1[0] = 0  # a first, empty fiber: its bare stop is taken at the stop itself
    k1 = first[sp]
    av[k1] = np.maximum(np.maximum(ost[sp], ist[ii1]), vst[ii1])
    cv[k1] = 0
    nxt_stop = np.zeros(S, dtype=bool)  # the look-ahead takes the next empty fiber's stop
    inner_sp = sp + 1 < len(o)
    nxt_stop[inner_sp] = ostop[sp[inner_sp] + 1]
    a2 = np.maximum(ist[ii2], ost[sp + 1])
    a2[nxt_stop] = np.maximum(a2[nxt_stop], vst[ii2[nxt_stop]])
    av[k1 + 1] = a2
    av[M - 1] = max(int(ost[no - 1]), int(ist[nq - 1]), int(vst[nq - 1]))
    cv[M - 1] = 0
    u = maxplus(av[:M], cv, inplace=True)
    del cv
    run.t = int(u[M - 1])
    # sums per (segment, inner coordinate), in stream order
    g_item = (np.cumsum(ostop) - ostop)[item_at]  # flush segment of each item
    crd = q[qpay]
    v = np.zeros(npay, F32) if vcol.vals is None else vcol.vals[:nq - 1][qpay]
    if npay and np.any(qpay & (vcodes == C_EMPTY)):
        v[vcodes[qpay] == C_EMPTY] = 0.0
    K = int(crd.max()) + 1 if npay else 1
    where_sums = _dense_fiber_sums(g_item[fib], ends[fib] - starts[fib], crd, v, K)
    if where_sums is not None:
        where, sums = where_sums
    else:
        keys = g_item[itm[qpay]] * K + crd
        if S * K <= max(4 * npay, 1 << 22):
            acc = np.full(S * K, -0.0, F32)
            np.add.at(acc, keys, v)
            present = np.zeros(S * K, dtype=bool)
            present[keys] = True
            where = np.flatnonzero(present)
            sums = acc[where]
        else:
            where, inv = np.unique(keys, return_inverse=True)
            sums = np.full(len(where), -0.0, F32)
            np.add.at(sums, inv, v)
    eg = where // K
    ecrd = where - eg * K
    # layout: each segment's entries in order, then its stop; D last
    nent = len(where)
    N = nent + S + 1
    epos = np.arange(nent, dtype=I64) + eg
    per = np.bincount(eg, minlength=S) if nent else np.zeros(S, I64)
    spos_out = np.cumsum(per) + np.arange(S, dtype=I64)
    cc = np.empty(N, I64)
    vv = np.zeros(N, F32)
    cs = np.empty(N, I64)
    fl = u[k1] + 1  # flush stamp of each segment
    cc[epos] = ecrd
    vv[epos] = sums
    cs[epos] = fl[eg]
    cc[spos_out] = o[sp]
    cs[spos_out] = fl
    cc[N - 1] = C_DONE
    cs[N - 1] = u[M - 1] + 1
    cvc = _val_codes(cc, cc >= 0)
    run.counters.reduce_ops += npay
    run.counters.flops += npay
    return {"crd": (Col(cc), cs), "val": (Col(cvc, vv), cs)}


def _dense_fiber_sums(gf, lens, crd, v, K):
    """Sums when every fiber is exactly 0..K-1 (a dense inner level): the r-th fibers of
    all segments are added at once, r = 0, 1, ..., so each sum still runs in stream order.
    ``gf``: the segment of each fiber (fibers of a segment are consecutive), ``lens``: its
    payload count. None when the fibers are not all dense."""
    nf = len(gf)
    if nf == 0 or len(crd) != nf * K or np.any(lens != K):
        return None
    if not np.all(crd.reshape(nf, K) == ramp(K)):
        return None
    V = v.reshape(nf, K)
    segs, first, cnt = np.unique(gf, return_index=True, return_counts=True)
    acc = np.full((len(segs), K), -0.0, F32)
    order = np.argsort(-cnt, kind="stable")  # segments by fiber count, most first
    neg, fs = -cnt[order], first[order]
    for r in range(int(-neg[0])):
        m = int(np.searchsorted(neg, -r, side="left"))  # the segments with more than r fibers
        act = order[:m]
        acc[act] += V[fs[:m] + r]
    where = (segs[:, None] * K + ramp(K)).ravel()
    return where, acc.ravel()


def reduce(run, node, ins):
    """Scalar reduce without a parent crd: the sum (or max) of each fiber, in stream order.

    The clock is ``t = max(t, stamp)`` per token and ``t += 1`` except on N. Sums are
    built position by position across all fibers at once, so each fiber adds its values
    in stream order (float32, as the loop does), starting from its first value.
    """
    a = node.attrs
    if "crd" in ins or a.block or a.op not in (ReduceOp.SUM, ReduceOp.MAX):
        return None
    cin = _to_done(ins["val"])
    if cin is None:
        return None
    c, st, end = cin
    codes = c.codes[:end]
    if np.any(codes >= 0) or np.any((codes == C_R) | (codes == C_S) | (codes == C_N)):
        return None
    isval = codes == C_VAL
    nvals = int(np.count_nonzero(isval))
    if nvals and c.vals is None:
        return None
    is_max = a.op is ReduceOp.MAX
    lat = run.ctx.hw.timing.reduce_latency.at(1)
    L = lat if lat >= 1 else 1
    u = maxplus(st[:end].copy(), (codes != C_EMPTY).astype(I64), inplace=True)
    isstop = codes <= STOP0
    stops = np.flatnonzero(isstop)
    nseg = len(stops)
    # fiber of each value: how many stops precede it (values after the last stop are dropped
    # at D, as in the loop)
    vidx = np.flatnonzero(isval)
    sid = np.cumsum(isstop)[vidx] if nvals else np.zeros(0, I64)
    keep = sid < nseg
    vidx, sid = vidx[keep], sid[keep]
    counts = np.bincount(sid, minlength=nseg) if nseg else np.zeros(0, I64)
    acc = np.zeros(nseg, F32)
    if len(vidx):
        v = c.vals[vidx]
        starts = np.cumsum(counts) - counts
        pos = np.arange(len(vidx), dtype=I64) - starts[sid]
        maxlen = int(counts.max())
        if maxlen > 1 << 15:
            return None
        order = np.argsort(pos.astype(np.int16), kind="stable")  # radix sort, stream order kept
        bounds = np.concatenate(([0], np.cumsum(np.bincount(pos, minlength=maxlen))))
        with np.errstate(all="ignore"):
            first = order[: bounds[1]]
            acc[sid[first]] = v[first]
            for p in range(1, maxlen):
                sel = order[bounds[p]: bounds[p + 1]]
                g = sid[sel]
                acc[g] = np.maximum(acc[g], v[sel]) if is_max else acc[g] + v[sel]
    # outputs: per stop its value (N for the max of an empty fiber), then S(k-1) if k > 0
    scode = codes[stops]
    inner = scode < STOP0  # k > 0
    n_out = nseg + int(np.count_nonzero(inner)) + 1
    before = np.cumsum(inner) - inner
    at = np.arange(nseg, dtype=I64) + before
    oc = np.empty(n_out, I64)
    ov = np.zeros(n_out, F32)
    os_ = np.empty(n_out, I64)
    val_code = np.full(nseg, C_VAL, I64)
    if is_max:
        val_code[counts == 0] = C_EMPTY
    oc[at] = val_code
    ov[at] = acc
    us = u[stops]
    os_[at] = us + L
    k = at[inner] + 1
    oc[k] = scode[inner] + 1
    os_[k] = us[inner] + 1
    oc[-1] = C_DONE
    os_[-1] = u[end - 1] + 1
    run.t = int(u[end - 1])
    run.counters.reduce_ops += nvals
    run.counters.flops += nvals
    return {"val": (Col(oc, ov), os_)}


COL_PRIMS = {
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
