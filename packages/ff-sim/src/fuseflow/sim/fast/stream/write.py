"""Step functions of the output writers (memory clients). What they write is recorded in
a queue of their own (``qrec``) that the engine drains into the output tensor's record;
it is not a stream and its tokens are not counted."""

from __future__ import annotations

from fuseflow.sim.fast.codes import C_DONE, C_EMPTY, C_VAL, STOP0
from fuseflow.sim.fast.jit import jit_hot
from fuseflow.sim.fast.stream.common import (
    CAP,
    CRD_WRITES,
    DONE,
    END,
    HEAD,
    IRREGULAR,
    K0,
    NEED_IN,
    SEG_WRITES,
    VAL_WRITES,
    T,
    full,
    mem_status,
    mem_wait,
)


@jit_hot
def level_write_step(ctl, qi, Qi, qrec, REC, batch, mem, st, rep):
    """Records a level's crd stream; one cycle per coordinate and per stop (N is free),
    written ``batch`` words at a time and the rest at D. State: [words buffered]."""
    t = st[T]
    nbuf = st[K0]
    h, n = ctl[qi, HEAD], ctl[qi, END]
    e, cap = ctl[qrec, END], ctl[qrec, CAP]
    status = NEED_IN
    rep[0] = qi
    while h < n:
        x = Qi[0, h]
        tt = max(t, Qi[1, h])
        if x != C_DONE and e >= cap:
            status = full(rep, qrec, 1)
            break
        if x == C_EMPTY:
            REC[0, e] = x
            e += 1
            h += 1
            t = tt
            continue
        if not (x >= 0 or x <= STOP0 or x == C_DONE):
            status = IRREGULAR
            break
        nb = nbuf if x == C_DONE else nbuf + 1
        if x == C_DONE or nb >= batch:  # the buffered words go out (at D, the rest)
            if nb:
                tt = mem_wait(mem, tt, nb)
                if tt < 0:
                    status = mem_status(tt)
                    break
            nb = 0
        nbuf = nb
        h += 1
        if x == C_DONE:
            t = tt
            status = DONE
            break
        st[CRD_WRITES if x >= 0 else SEG_WRITES] += 1
        REC[0, e] = x
        e += 1
        t = tt + 1
    ctl[qi, HEAD] = h
    ctl[qrec, END] = e
    st[T] = t
    st[K0] = nbuf
    return status


@jit_hot
def val_write_step(ctl, qi, Qi, Vi, qrec, REC, RECV, sizes, mem, st, rep):
    """Records the values (N as N, rebuilt as 0); each one blocking round trip of one
    word (of ``sizes[h]`` words for a value that is tile pool handle h, when ``sizes``
    is not empty); stops only move the clock; D costs one more cycle."""
    t = st[T]
    h, n = ctl[qi, HEAD], ctl[qi, END]
    e, cap = ctl[qrec, END], ctl[qrec, CAP]
    status = NEED_IN
    rep[0] = qi
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
                status = mem_status(tt)
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
    ctl[qi, HEAD] = h
    ctl[qrec, END] = e
    st[T] = t
    return status
