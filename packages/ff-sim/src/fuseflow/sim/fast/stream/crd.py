"""CRD_DROP and CRD_HOLD as streaming step functions, with the clocks of
``fuseflow.sim.prims.flow.CrdDrop`` and ``CrdHold`` (the specification). The compiler
does not emit them; SAM/Comal graphs imported from tortilla files do."""

from __future__ import annotations

from fuseflow.sim.fast.codes import C_DONE, C_EMPTY, STOP0
from fuseflow.sim.fast.jit import jit_hot
from fuseflow.sim.fast.stream.common import CAP, DONE, END, HEAD, IRREGULAR, K0, NEED_IN, T, full, put

NONE = 1 << 62  # no stop held


@jit_hot
def crd_hold_step(ctl, qo_, OQ, qi, IQ, qoo, OOQ, OOV, qoi, OIQ, OIV, st, rep):
    """The outer coordinate once per inner token (the inner stream passes through)."""
    t = st[T]
    ho, no = ctl[qo_, HEAD], ctl[qo_, END]
    hi, ni = ctl[qi, HEAD], ctl[qi, END]
    eoo, eoi = ctl[qoo, END], ctl[qoi, END]
    status = NEED_IN
    while True:
        if ho >= no or hi >= ni:
            rep[0] = qo_ if ho >= no else qi
            break
        if ctl[qoo, CAP] - eoo < 1 or ctl[qoi, CAP] - eoi < 1:
            status = full(rep, qoo if ctl[qoo, CAP] - eoo < 1 else qoi, 1)
            break
        tt = max(t, OQ[1, ho], IQ[1, hi])
        o = OQ[0, ho]
        c = IQ[0, hi]
        two = o >= 0 and c < STOP0  # an inner stop that also closed the outer fiber
        if two and ho + 1 >= no:
            rep[0] = qo_
            break
        if two and OQ[0, ho + 1] != c + 1:
            status = IRREGULAR
            break
        if c == C_EMPTY and hi + 1 >= ni:
            rep[0] = qi
            break
        code = c if (c >= 0 or c <= STOP0 or c == C_EMPTY) else C_DONE
        put(OIQ, OIV, eoi, code, tt + 1, 0.0)
        put(OOQ, OOV, eoo, o if c >= 0 else code, tt + 1, 0.0)
        eoi += 1
        eoo += 1
        hi += 1
        if c <= STOP0:
            ho += 1
            if two:
                tt = max(tt, OQ[1, ho])
                ho += 1
        elif c == C_EMPTY:
            tt = max(tt, IQ[1, hi])
            if IQ[0, hi] > STOP0:
                ho += 1
        elif code == C_DONE:
            ho += 1
            t = tt
            status = DONE
            break
        t = tt + 1
    ctl[qo_, HEAD] = ho
    ctl[qi, HEAD] = hi
    ctl[qoo, END] = eoo
    ctl[qoi, END] = eoi
    st[T] = t
    return status


@jit_hot
def crd_drop_step(ctl, qo_, OQ, qi, IQ, qoo, OOQ, OOV, qoi, OIQ, OIV, st, rep):
    """Drops outer coordinates whose inner fiber is empty. State: [in a fiber, its outer
    coordinate, kept, held stop]."""
    t = st[T]
    inside, o, kept, held = st[K0], st[K0 + 1], st[K0 + 2], st[K0 + 3]
    ho, no = ctl[qo_, HEAD], ctl[qo_, END]
    hi, ni = ctl[qi, HEAD], ctl[qi, END]
    eoo, eoi = ctl[qoo, END], ctl[qoi, END]
    status = NEED_IN
    while True:
        if ctl[qoo, CAP] - eoo < 1 or ctl[qoi, CAP] - eoi < 2:
            status = full(rep, qoo, 1) if ctl[qoo, CAP] - eoo < 1 else full(rep, qoi, 2)
            break
        if not inside:
            if ho >= no:
                rep[0] = qo_
                break
            tt = max(t, OQ[1, ho])
            x = OQ[0, ho]
            if x >= 0:
                inside = 1
                o = x
                kept = 0
                t = tt
            elif x == C_DONE:
                if hi >= ni:
                    rep[0] = qi
                    break
                if IQ[0, hi] != C_DONE:
                    status = IRREGULAR
                    break
                tt = max(tt, IQ[1, hi])
                hi += 1
                if held != NONE:
                    put(OIQ, OIV, eoi, held, tt + 1, 0.0)
                    eoi += 1
                put(OIQ, OIV, eoi, C_DONE, tt + 1, 0.0)
                put(OOQ, OOV, eoo, C_DONE, tt + 1, 0.0)
                eoi += 1
                eoo += 1
                ho += 1
                t = tt
                status = DONE
                break
            else:
                if x <= STOP0:
                    put(OOQ, OOV, eoo, x, tt + 1, 0.0)
                    eoo += 1
                t = tt + 1
            ho += 1
            continue
        if hi >= ni:
            rep[0] = qi
            break
        tt = max(t, IQ[1, hi])
        c = IQ[0, hi]
        if c >= 0:
            if not kept and held != NONE:
                put(OIQ, OIV, eoi, held, tt + 1, 0.0)
                eoi += 1
                held = NONE
            kept = 1
            put(OIQ, OIV, eoi, c, tt + 1, 0.0)
            eoi += 1
            t = tt
        elif c <= STOP0:
            if kept:
                put(OOQ, OOV, eoo, o, tt + 1, 0.0)
                eoo += 1
                if c == STOP0:
                    held = c
                else:
                    put(OIQ, OIV, eoi, c, tt + 1, 0.0)
                    eoi += 1
            elif c < STOP0:
                put(OIQ, OIV, eoi, min(c, held) if held != NONE else c, tt + 1, 0.0)
                eoi += 1
                held = NONE
            inside = 0
            t = tt + 1
        elif c == C_EMPTY:
            if hi + 1 >= ni:
                rep[0] = qi
                break
            tt = max(tt, IQ[1, hi + 1])
            if IQ[0, hi + 1] > STOP0:
                inside = 0
                t = tt + 1
            else:
                t = tt
        else:
            status = IRREGULAR
            break
        hi += 1
    ctl[qo_, HEAD] = ho
    ctl[qi, HEAD] = hi
    ctl[qoo, END] = eoo
    ctl[qoi, END] = eoi
    st[T] = t
    st[K0], st[K0 + 1], st[K0 + 2], st[K0 + 3] = inside, o, kept, held
    return status
