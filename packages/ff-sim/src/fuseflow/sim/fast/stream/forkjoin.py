"""FORK and JOIN (``--par``) as streaming step functions, with the clocks of
``fuseflow.sim.prims.flow.Fork`` and ``Join`` (the specification): each call commits
whole steps of the reference's loops, kept in the state slots.

Join state: [phase, k, seen, held], and ``parked`` (one code per lane, NONE when unset).
"""

from __future__ import annotations

from fuseflow.sim.fast.codes import C_DONE, C_EMPTY, C_VAL, STOP0
from fuseflow.sim.fast.jit import jit_hot
from fuseflow.sim.fast.stream.common import (
    CAP,
    DONE,
    END,
    HEAD,
    IRREGULAR,
    K0,
    NEED_IN,
    T,
    cramped,
    full,
    push,
    put,
)

NONE = 1 << 62  # no code: a lane not parked, no stop held
LOOP, ELEM, ENDS, COUNT, LAST = 0, 1, 2, 3, 4


@jit_hot
def fork_step(ctl, qi, Qi, Vi, qo, Qo, Vo, st, rep):
    """Payloads and N round-robin over the lanes (from lane 0 after each stop); stops and
    D to every lane. State: [next lane]."""
    t = st[T]
    p = st[K0]
    h, n = ctl[qi, HEAD], ctl[qi, END]
    P = len(qo)
    status = NEED_IN
    while True:
        if h >= n:
            rep[0] = qi
            break
        tt = max(t, Qi[1, h])
        c = Qi[0, h]
        if c >= 0 or c == C_EMPTY or c == C_VAL:  # a coordinate, N, or a value
            if ctl[qo[p], CAP] - ctl[qo[p], END] < 1:
                status = full(rep, qo[p], 1)
                break
            Vo[p][push(ctl, qo[p], Qo[p], c, tt + 1)] = Vi[h]
            p = (p + 1) % P
            t = tt + 1
        elif c <= STOP0 or c == C_DONE:
            q = cramped(ctl, qo, 1)
            if q >= 0:
                status = full(rep, q, 1)
                break
            for j in range(P):
                Vo[j][push(ctl, qo[j], Qo[j], c, tt + 1)] = Vi[h]
            p = 0
            if c == C_DONE:
                h += 1
                t = tt
                status = DONE
                break
            t = tt + 1
        else:
            status = IRREGULAR
            break
        h += 1
    ctl[qi, HEAD] = h
    st[T] = t
    st[K0] = p
    return status


@jit_hot
def join_step(ctl, ql, L, LV, qc, CQ, qo, OQ, OV, delta, parked, st, rep):
    """Merges the lanes element by element (see ``Join``); ``qc`` < 0: no count input."""
    t = st[T]
    phase, k, seen, held = st[K0], st[K0 + 1], st[K0 + 2], st[K0 + 3]
    P = len(ql)
    eo = ctl[qo, END]
    status = NEED_IN
    while True:
        if phase == LOOP or phase == ELEM:
            p = k % P
            if phase == LOOP and parked[p] != NONE:
                phase = ENDS
                continue
            q = ql[p]
            h = ctl[q, HEAD]
            if h >= ctl[q, END]:
                rep[0] = q
                break
        if phase == LOOP:
            tt = max(t, L[p][1, h])
            head = L[p][0, h]
            ends = head == C_DONE or (head <= STOP0 and STOP0 - head >= delta)  # the lane's end
            if ends:
                empty_last = False
                if qc >= 0 and head != C_DONE and delta > 0:
                    waiting = False
                    while seen <= k:
                        hc = ctl[qc, HEAD]
                        if hc >= ctl[qc, END]:
                            waiting = True
                            break
                        tt = max(tt, CQ[1, hc])
                        c = CQ[0, hc]
                        if not (c >= 0 or c == C_EMPTY):
                            break
                        ctl[qc, HEAD] = hc + 1
                        seen += 1
                        t = tt  # each count token read is a step of its own
                    if waiting:
                        rep[0] = qc
                        break
                    empty_last = seen > k
                if not empty_last:
                    parked[p] = head
                    ctl[q, HEAD] = h + 1
                    t = tt
                    phase = ENDS
                    continue
            elif delta == 0:
                if ctl[qo, CAP] - eo < 1:
                    status = full(rep, qo, 1)
                    break
                put(OQ, OV, eo, head, tt + 1, LV[p][h])
                eo += 1
                ctl[q, HEAD] = h + 1
                t = tt + 1
                k += 1
                continue
            # an element (or an empty last one) starts: the stop held since the last goes out
            if held != NONE:
                if ctl[qo, CAP] - eo < 1:
                    status = full(rep, qo, 1)
                    break
                put(OQ, OV, eo, STOP0 - (delta - 1), tt + 1, 0.0)
                eo += 1
            if ends:  # the empty last element: its lane is done
                parked[p] = head
                ctl[q, HEAD] = h + 1
                held = head
                t = tt + 1
                k += 1
            else:
                held = NONE  # emitted; the element sets it again at its end
                t = tt
                phase = ELEM
        elif phase == ELEM:
            tt = max(t, L[p][1, h]) + 1
            tok = L[p][0, h]
            if tok <= STOP0 and STOP0 - tok >= delta - 1:
                held = tok
                if STOP0 - tok >= delta:
                    parked[p] = tok
                k += 1
                phase = LOOP
            elif tok == C_DONE:
                status = IRREGULAR
                break
            else:
                if ctl[qo, CAP] - eo < 1:
                    status = full(rep, qo, 1)
                    break
                put(OQ, OV, eo, tok, tt + 1, LV[p][h])
                eo += 1
            ctl[q, HEAD] = h + 1
            t = tt
        elif phase == ENDS:
            missing = -1
            for j in range(P):
                if parked[j] == NONE:
                    missing = j
                    break
            if missing >= 0:
                q = ql[missing]
                h = ctl[q, HEAD]
                if h >= ctl[q, END]:
                    rep[0] = q
                    break
                t = max(t, L[missing][1, h])
                parked[missing] = L[missing][0, h]
                ctl[q, HEAD] = h + 1
                continue
            if (parked != parked[0]).any():  # the lanes must end alike
                status = IRREGULAR
                break
            phase = COUNT if qc >= 0 else LAST
        elif phase == COUNT:
            hc = ctl[qc, HEAD]
            if hc >= ctl[qc, END]:
                rep[0] = qc
                break
            t = max(t, CQ[1, hc])
            c = CQ[0, hc]
            ctl[qc, HEAD] = hc + 1
            if not (c >= 0 or c == C_EMPTY):
                phase = LAST
        else:
            end = parked[0]
            if ctl[qo, CAP] - eo < 1:
                status = full(rep, qo, 1)
                break
            if end == C_DONE and held != NONE:
                status = IRREGULAR
                break
            put(OQ, OV, eo, end, t + 1, 0.0)
            eo += 1
            if end == C_DONE:
                status = DONE
                break
            t += 1
            parked[:] = NONE
            held = NONE
            seen = 0
            k = 0
            phase = LOOP
    ctl[qo, END] = eo
    st[T] = t
    st[K0], st[K0 + 1], st[K0 + 2], st[K0 + 3] = phase, k, seen, held
    return status
