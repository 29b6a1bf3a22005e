"""Step functions of the memory clients: tensor readers (level scanners, value arrays) and
output writers, whose records go to a queue of their own (``qrec``) that the engine drains.
A memory request comes last in its iteration, so one that must wait leaves nothing to undo.
"""

from __future__ import annotations

from fuseflow.sim.fast.codes import C_DONE, C_EMPTY, C_VAL, STOP0
from fuseflow.sim.fast.jit import jit_hot, prefetch
from fuseflow.sim.fast.stream.common import (
    CAP,
    CRD_READS,
    CRD_WRITES,
    DONE,
    END,
    IRREGULAR,
    K0,
    SEG_READS,
    SEG_WRITES,
    VAL_READS,
    VAL_WRITES,
    begin,
    full,
    mem_wait,
    put,
    settle,
    waiting,
)

DENSE, COMPRESSED, SINGLETON = 0, 1, 2
IDLE, SEG, CRDS, CLOSE = 0, 1, 2, 3  # scanner phases


@jit_hot
def level_scan_step(ctl, qi, Qi, qc, OC, VC, qr, OR, VR, fmt, dim, seg, crd, L, seq, delay, swr, batch, mem, st,
                    rep):
    """Fiber lookup: ref r -> its coordinates and positions, then S0 (or the next input
    stop Sk folded in as S(k+1)); an input stop Sk gives S(k+1), N gives N, D ends.
    State: [phase, position, fiber end, position base, fiber start]."""
    t, h, n, ec, capc, status = begin(ctl, qi, qc, st, rep)
    er, capr = ctl[qr, END], ctl[qr, CAP]
    phase, p, hi, base, lo = st[K0], st[K0 + 1], st[K0 + 2], st[K0 + 3], st[K0 + 4]
    while True:
        if phase == IDLE or phase == CLOSE:
            if waiting(rep, (qi,), (h,), (n,)):
                break
            if ec >= capc or er >= capr:
                status = full(rep, qc if ec >= capc else qr, 1)
                break
            x = Qi[0, h]
            tt = max(t, Qi[1, h])
            close = phase == CLOSE
            if close or x <= STOP0 or x == C_EMPTY or x == C_DONE:
                # a fiber's S0 (a stop Sk right after it folds in as S(k+1)), or a bare Sk, N or D
                out = x - 1 if x <= STOP0 else (STOP0 if close else x)
                ec = put(OC, VC, ec, out, tt + 1, 0.0)
                er = put(OR, VR, er, out, tt + 1, 0.0)
                phase = IDLE
                if x <= STOP0 or not close:
                    h += 1
                t = tt if x == C_DONE and not close else tt + 1
                if x == C_DONE and not close:
                    status = DONE
                    break
                continue
            if x < 0:
                status = IRREGULAR
                break
            if fmt == DENSE:
                lo, hi, base, phase = 0, dim, x * dim, CRDS
            elif fmt == COMPRESSED:
                if x + 1 >= len(seg):
                    status = IRREGULAR
                    break
                lo, hi, base, phase = seg[x], seg[x + 1], 0, SEG
            else:
                lo, hi, base, phase = x, x + 1, 0, CRDS
            if fmt != DENSE and (hi > len(crd) or lo > hi):
                status = IRREGULAR
                break
            p = lo
            h += 1
            t = tt + delay
        elif phase == SEG:
            tt = mem_wait(mem, t, swr)
            if tt < 0:
                status = -tt  # MEM_GROW or MEM_WAIT
                break
            t = tt
            st[SEG_READS] += swr
            phase = CRDS
        elif fmt == DENSE:
            m = min(hi - p, capc - ec, capr - er)
            for q in range(m):
                put(OC, VC, ec + q, p + q, t + L, 0.0)
                put(OR, VR, er + q, base + p + q, t + L, 0.0)
                t += seq
            ec += m
            er += m
            p += m
            if p < hi:
                status = full(rep, qc if ec >= capc else qr, 1)
                break
            phase = CLOSE
        elif p >= hi:
            phase = CLOSE
        else:
            if ec >= capc or er >= capr:
                status = full(rep, qc if ec >= capc else qr, 1)
                break
            if (p - lo) % batch == 0:
                nn = min(hi - p, batch)
                tt = mem_wait(mem, t, nn)
                if tt < 0:
                    status = -tt  # MEM_GROW or MEM_WAIT
                    break
                t = tt
                st[CRD_READS] += nn
            ec = put(OC, VC, ec, crd[p], t + L, 0.0)
            er = put(OR, VR, er, p, t + L, 0.0)
            t += seq
            p += 1
    st[K0], st[K0 + 1], st[K0 + 2], st[K0 + 3], st[K0 + 4] = phase, p, hi, base, lo
    return settle(ctl, (qi,), (h,), (qc, qr), (ec, er), st, t, status)


@jit_hot
def val_array_step(ctl, qi, Qi, qo, Qo, Vo, vals, L, batch, words, zero, mem, st, rep):
    """ref r -> vals[r] at +L (a request for the batch of ``batch`` values when r leaves
    the loaded one; with tiles of ``words`` > 0 words, a request of a whole tile per
    ref); N -> the value ``zero``; stops pass; D ends. State: [loaded batch]."""
    t, h, n, e, cap, status = begin(ctl, qi, qo, st, rep)
    line = st[K0]
    nv = len(vals)
    lo = line * batch  # the loaded batch's refs: [lo, lo + batch) (no division per ref)
    while h < n:
        if e >= cap:
            status = full(rep, qo, 1)
            break
        x = Qi[0, h]
        tt = max(t, Qi[1, h])
        if h + 16 < n and 0 <= Qi[0, h + 16] < nv:  # the ref 16 ahead: in a big array each is a cache miss
            prefetch(vals, Qi[0, h + 16])
        if x >= 0:
            if x >= nv:
                status = IRREGULAR
                break
            if words > 0:  # a tile: every ref is a request of its words
                tt = mem_wait(mem, tt, words)
            elif x < lo or x - lo >= batch:
                ln = x // batch
                tt = mem_wait(mem, tt, min(nv - ln * batch, batch))
                if tt >= 0:
                    line, lo = ln, ln * batch
            if tt < 0:
                status = -tt  # MEM_GROW or MEM_WAIT
                break
            st[VAL_READS] += words if words > 0 else 1
            e = put(Qo, Vo, e, C_VAL, tt + L, vals[x])
        elif x <= STOP0 or x == C_DONE:
            e = put(Qo, Vo, e, x, tt + 1, 0.0)
        elif x == C_EMPTY:
            e = put(Qo, Vo, e, C_VAL, tt + 1, zero)
        else:
            status = IRREGULAR
            break
        h += 1
        t = tt if x == C_DONE else tt + 1
        if x == C_DONE:
            status = DONE
            break
    st[K0] = line
    return settle(ctl, (qi,), (h,), (qo,), (e,), st, t, status)


@jit_hot
def level_write_step(ctl, qi, Qi, qrec, REC, batch, mem, st, rep):
    """Records a level's crd stream; one cycle per coordinate and per stop (N is free),
    written ``batch`` words at a time and the rest at D. State: [words buffered]."""
    t, h, n, e, cap, status = begin(ctl, qi, qrec, st, rep)
    nbuf = st[K0]
    while h < n:
        x = Qi[0, h]
        tt = max(t, Qi[1, h])
        if x != C_DONE and e >= cap:
            status = full(rep, qrec, 1)
            break
        if x != C_EMPTY:  # N is free
            if not (x >= 0 or x <= STOP0 or x == C_DONE):
                status = IRREGULAR
                break
            nb = nbuf if x == C_DONE else nbuf + 1
            if x == C_DONE or nb >= batch:  # the buffered words go out (at D, the rest)
                if nb:
                    tt = mem_wait(mem, tt, nb)
                    if tt < 0:
                        status = -tt  # MEM_GROW or MEM_WAIT
                        break
                nb = 0
            nbuf = nb
        h += 1
        if x == C_DONE:
            t = tt
            status = DONE
            break
        if x != C_EMPTY:
            st[CRD_WRITES if x >= 0 else SEG_WRITES] += 1
            tt += 1
        REC[0, e] = x
        e += 1
        t = tt
    st[K0] = nbuf
    return settle(ctl, (qi,), (h,), (qrec,), (e,), st, t, status)


@jit_hot
def val_write_step(ctl, qi, Qi, Vi, qrec, REC, RECV, sizes, mem, st, rep):
    """Records the values (N as N, rebuilt as 0); each one blocking round trip of one
    word (of ``sizes[h]`` words for a value that is tile pool handle h, when ``sizes``
    is not empty); stops only move the clock; D costs one more cycle."""
    t, h, n, e, cap, status = begin(ctl, qi, qrec, st, rep)
    while h < n:
        x = Qi[0, h]
        tt = max(t, Qi[1, h])
        if x == C_VAL or x == C_EMPTY:
            if e >= cap:
                status = full(rep, qrec, 1)
                break
            w = sizes[int(Vi[h])] if len(sizes) and x == C_VAL else 1
            tt = mem_wait(mem, tt, w)
            if tt < 0:
                status = -tt  # MEM_GROW or MEM_WAIT
                break
            REC[0, e] = x
            RECV[e] = Vi[h]
            e += 1
            st[VAL_WRITES] += w
            tt += 1
        elif x != C_DONE and x > STOP0:
            status = IRREGULAR
            break
        h += 1
        if x == C_DONE:
            t = tt + 1
            status = DONE
            break
        t = tt
    return settle(ctl, (qi,), (h,), (qrec,), (e,), st, t, status)
