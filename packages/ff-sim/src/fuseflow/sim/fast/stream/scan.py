"""Step functions of the tensor readers: level scanners and value arrays (memory clients).

A memory request comes last in its iteration, after every input and output check, so a
request that must wait (``mem_wait`` gives -1 or -2) leaves nothing to undo. A scanner's
fiber takes several requests (its seg words, then a batch of crd words every ``batch``
coordinates), so it keeps where it is in the fiber in its state between iterations.
"""

from __future__ import annotations

from fuseflow.sim.fast.codes import C_DONE, C_EMPTY, C_VAL, STOP0
from fuseflow.sim.fast.jit import jit_hot
from fuseflow.sim.fast.stream.common import (
    CAP,
    CRD_READS,
    DONE,
    END,
    HEAD,
    IRREGULAR,
    K0,
    MEM_GROW,
    MEM_WAIT,
    NEED_IN,
    SEG_READS,
    VAL_READS,
    T,
    full,
    mem_wait,
    put,
)

DENSE, COMPRESSED, SINGLETON = 0, 1, 2
# scanner phases
IDLE, SEG, CRDS, CLOSE = 0, 1, 2, 3


@jit_hot
def level_scan_step(ctl, qi, Qi, qc, OC, OCV, qr, OR, ORV, fmt, dim, seg, crd, L, seq, delay, swr, batch,
                    use_mem, slots, mstate, ii, mlat, startup, buf, hz, st, rep):
    """Fiber lookup: ref r -> its coordinates and positions, then S0 (or the next input
    stop Sk folded in as S(k+1)); an input stop Sk gives S(k+1), N gives N, D ends.
    State: [phase, position, fiber end, position base]."""
    t = st[T]
    steps = 0
    n_seg_reads = 0
    n_crd_reads = 0
    phase = st[K0]
    p = st[K0 + 1]
    hi = st[K0 + 2]
    base = st[K0 + 3]
    lo = st[K0 + 4]
    h = ctl[qi, HEAD]
    n = ctl[qi, END]
    ec = ctl[qc, END]
    er = ctl[qr, END]
    capc = ctl[qc, CAP]
    capr = ctl[qr, CAP]
    status = NEED_IN
    nseg = len(seg)
    ncrd = len(crd)
    while True:
        if phase == IDLE or phase == CLOSE:
            if h >= n:
                rep[0] = qi
                status = NEED_IN
                break
            if ec >= capc or er >= capr:
                status = full(rep, qc if ec >= capc else qr, 1)
                break
            x = Qi[0, h]
            tt = t
            s = Qi[1, h]
            if s > tt:
                tt = s
            if phase == CLOSE:
                if x <= STOP0:
                    out = x - 1
                    h += 1
                else:
                    out = STOP0
                OC[0, ec] = out
                OC[1, ec] = tt + 1
                OR[0, er] = out
                OR[1, er] = tt + 1
                ec += 1
                er += 1
                t = tt + 1
                phase = IDLE
                steps += 1
                continue
            if x <= STOP0 or x == C_EMPTY or x == C_DONE:
                out = x - 1 if x <= STOP0 else x
                OC[0, ec] = out
                OC[1, ec] = tt + 1
                OR[0, er] = out
                OR[1, er] = tt + 1
                ec += 1
                er += 1
                h += 1
                steps += 1
                if x == C_DONE:
                    t = tt
                    status = DONE
                    break
                t = tt + 1
                continue
            if x < 0:
                status = IRREGULAR
                break
            if fmt == DENSE:
                lo = 0
                hi = dim
                base = x * dim
                phase = CRDS
            elif fmt == COMPRESSED:
                if x + 1 >= nseg:
                    status = IRREGULAR
                    break
                lo = seg[x]
                hi = seg[x + 1]
                base = 0
                phase = SEG
            else:
                lo = x
                hi = x + 1
                base = 0
                phase = CRDS
            if fmt != DENSE and (hi > ncrd or lo > hi):
                status = IRREGULAR
                break
            p = lo
            h += 1
            t = tt + delay
            steps += 1
        elif phase == SEG:
            if use_mem and swr > 0:
                w8 = mem_wait(slots, mstate, ii, mlat, startup, t, swr, buf, hz)
                if w8 < 0:
                    status = MEM_GROW if w8 == -1 else MEM_WAIT
                    break
                t = w8
            n_seg_reads += swr
            phase = CRDS
            steps += 1
        elif fmt == DENSE:
            m = hi - p
            if capc - ec < m:
                m = capc - ec
            if capr - er < m:
                m = capr - er
            for q in range(m):
                OC[0, ec + q] = p + q
                OC[1, ec + q] = t + L
                OR[0, er + q] = base + p + q
                OR[1, er + q] = t + L
                t += seq
            ec += m
            er += m
            p += m
            steps += m
            if p < hi:
                status = full(rep, qc if ec >= capc else qr, 1)
                break
            phase = CLOSE
        else:
            if p >= hi:
                phase = CLOSE
                continue
            if ec >= capc or er >= capr:
                status = full(rep, qc if ec >= capc else qr, 1)
                break
            if (p - lo) % batch == 0:
                nn = hi - p
                if nn > batch:
                    nn = batch
                if use_mem:
                    w8 = mem_wait(slots, mstate, ii, mlat, startup, t, nn, buf, hz)
                    if w8 < 0:
                        status = MEM_GROW if w8 == -1 else MEM_WAIT
                        break
                    t = w8
                n_crd_reads += nn
            OC[0, ec] = crd[p]
            OC[1, ec] = t + L
            OR[0, er] = p
            OR[1, er] = t + L
            ec += 1
            er += 1
            t += seq
            p += 1
            steps += 1
    ctl[qi, HEAD] = h
    ctl[qc, END] = ec
    ctl[qr, END] = er
    st[T] = t
    st[K0] = phase
    st[K0 + 1] = p
    st[K0 + 2] = hi
    st[K0 + 3] = base
    st[K0 + 4] = lo
    rep[2] += steps
    st[SEG_READS] += n_seg_reads
    st[CRD_READS] += n_crd_reads
    return status


@jit_hot
def val_array_step(ctl, qi, Qi, qo, Qo, Vo, vals, L, batch, words, zero, use_mem, slots, mstate, ii, mlat, startup,
                   buf, hz, st, rep):
    """ref r -> vals[r] at +L (a request for the batch of ``batch`` values when r leaves
    the loaded one; with tiles of ``words`` > 0 words, a request of a whole tile per
    ref); N -> the value ``zero``; stops pass; D ends. State: [loaded batch]."""
    t = st[T]
    steps = 0
    n_val_reads = 0
    line = st[K0]
    h = ctl[qi, HEAD]
    n = ctl[qi, END]
    e = ctl[qo, END]
    cap = ctl[qo, CAP]
    nv = len(vals)
    lo = line * batch  # the loaded batch's refs: [lo, lo + batch) (no division per ref)
    status = NEED_IN
    rep[0] = qi
    while h < n:
        if e >= cap:
            status = full(rep, qo, 1)
            break
        x = Qi[0, h]
        tt = t
        s = Qi[1, h]
        if s > tt:
            tt = s
        if x >= 0:
            if x >= nv:
                status = IRREGULAR
                break
            if words > 0:  # a tile: every ref is a request of its words
                if use_mem:
                    w8 = mem_wait(slots, mstate, ii, mlat, startup, tt, words, buf, hz)
                    if w8 < 0:
                        status = MEM_GROW if w8 == -1 else MEM_WAIT
                        break
                    tt = w8
                n_val_reads += words - 1
            elif x < lo or x - lo >= batch:
                ln = x // batch
                w = nv - ln * batch
                if w > batch:
                    w = batch
                if use_mem:
                    w8 = mem_wait(slots, mstate, ii, mlat, startup, tt, w, buf, hz)
                    if w8 < 0:
                        status = MEM_GROW if w8 == -1 else MEM_WAIT
                        break
                    tt = w8
                line = ln
                lo = ln * batch
            n_val_reads += 1
            put(Qo, Vo, e, C_VAL, tt + L, vals[x])
        elif x <= STOP0 or x == C_DONE:
            put(Qo, Vo, e, x, tt + 1, 0.0)
        elif x == C_EMPTY:
            put(Qo, Vo, e, C_VAL, tt + 1, zero)
        else:
            status = IRREGULAR
            break
        e += 1
        h += 1
        steps += 1
        if x == C_DONE:
            t = tt
            status = DONE
            break
        t = tt + 1
    ctl[qi, HEAD] = h
    ctl[qo, END] = e
    st[T] = t
    st[K0] = line
    rep[2] += steps
    st[VAL_READS] += n_val_reads
    return status
