"""Step functions of the stream plumbing: root, broadcast, repeat signals, repeat, locate,
fork and join (``--par``), each its reference process (``fuseflow.sim.prims``) iteration
for iteration; ``common.py`` has the queue layout and the rules every step keeps."""

from __future__ import annotations

import numpy as np
from fuseflow.sim.fast.codes import C_DONE, C_EMPTY, C_N, C_R, C_S, C_VAL, STOP0
from fuseflow.sim.fast.jit import jit_hot
from fuseflow.sim.fast.stream.common import (
    CAP,
    DONE,
    END,
    HEAD,
    IRREGULAR,
    K0,
    NEED_IN,
    NEED_OUT,
    T,
    begin,
    cramped,
    full,
    push,
    put,
    settle,
    waiting,
)

NONE = 1 << 62  # no code: a lane not parked, no stop held
LOOP, ELEM, ENDS, COUNT, LAST = 0, 1, 2, 3, 4


@jit_hot
def root_step(ctl, qo, Qo, Vo, st, rep):
    """ref 0, then D: one cycle each. State: [tokens emitted]."""
    while st[K0] < 2:
        if ctl[qo, END] >= ctl[qo, CAP]:
            return full(rep, qo, 1)
        st[T] += 1
        push(ctl, qo, Qo, Vo, 0 if st[K0] == 0 else C_DONE, st[T], 0.0)
        st[K0] += 1
    return DONE


@jit_hot
def broadcast_step(ctl, qi, Qi, Vi, qo, Qo, Vo, st, rep):
    """Every token to every output at max(t, stamp) + 1; no cost of its own."""
    t = st[T]
    h = ctl[qi, HEAD]
    n = ctl[qi, END] - h
    m = n
    jq = -1
    for j in range(len(qo)):
        room = ctl[qo[j], CAP] - ctl[qo[j], END]
        if room < m:
            m, jq = room, qo[j]
    for x in range(m):
        if Qi[0, h + x] == C_DONE:
            m = x + 1
            break
    O0, V0, e0 = Qo[0], Vo[0], ctl[qo[0], END]
    for x in range(m):
        t = max(t, Qi[1, h + x])
        put(O0, V0, e0 + x, Qi[0, h + x], t + 1, Vi[h + x])
    for j in range(1, len(qo)):
        Oj, Vj, e = Qo[j], Vo[j], ctl[qo[j], END]
        for x in range(m):
            put(Oj, Vj, e + x, O0[0, e0 + x], O0[1, e0 + x], V0[e0 + x])
    for j in range(len(qo)):
        ctl[qo[j], END] += m
    ctl[qi, HEAD] = h + m
    st[T] = t
    if m and Qi[0, h + m - 1] == C_DONE:
        return DONE
    if m < n:
        return full(rep, jq, 1)
    rep[0] = qi
    return NEED_IN


@jit_hot
def repeat_sig_step(ctl, qi, Qi, qo, Qo, Vo, fiber_n, st, rep):
    """A signal per crd token: S for a stop, N for a crd stream's N, else R; D last."""
    t, h, n, e, cap, status = begin(ctl, qi, qo, st, rep)
    while h < n:
        if e >= cap:
            status = full(rep, qo, 1)
            break
        x = Qi[0, h]
        t = max(t, Qi[1, h])
        sig = C_DONE if x == C_DONE else (C_S if x <= STOP0 else (C_N if x == C_EMPTY and fiber_n else C_R))
        e = put(Qo, Vo, e, sig, t + 1, 0.0)
        h += 1
        if sig == C_DONE:
            status = DONE
            break
        t += 1
    return settle(ctl, (qi,), (h,), (qo,), (e,), st, t, status)


@jit_hot
def repeat_step(ctl, qi, Qi, Vi, qs, S, qo, Qo, Vo, st, rep):
    """R re-emits the input head, S pops it and closes the fiber (a payload's stop
    folds into the next input stop), N pops it and emits N; D ends. The input head is
    peeked before each signal is taken, as in Comal."""
    t, h, n, e, cap, status = begin(ctl, qi, qo, st, rep)
    hs, ns = ctl[qs, HEAD], ctl[qs, END]
    while True:
        if waiting(rep, (qi, qs), (h, hs), (n, ns)):
            break
        if e >= cap:
            status = full(rep, qo, 1)
            break
        tt = max(t, Qi[1, h], S[1, hs])
        head = Qi[0, h]
        sig = S[0, hs]
        val = Vi[h] if sig == C_R else 0.0
        used = 0
        if sig == C_R:
            if not (head >= 0 or head == C_VAL or head == C_EMPTY):
                status = IRREGULAR
                break
            out = head
        elif sig == C_S:
            if head <= STOP0:
                out, used = head - 1, 1
            elif head == C_DONE:
                status = IRREGULAR
                break
            else:
                if waiting(rep, (qi,), (h + 1,), (n,)):
                    break
                tt = max(tt, Qi[1, h + 1])
                nxt = Qi[0, h + 1]
                out = nxt - 1 if nxt <= STOP0 else STOP0
                used = 2 if nxt <= STOP0 else 1
        elif sig == C_N:
            out, used = C_EMPTY, 1
        elif sig == C_DONE:
            out = C_DONE
        else:
            status = IRREGULAR
            break
        e = put(Qo, Vo, e, out, tt + 1, val)
        hs += 1
        h += used
        t = tt
        if out == C_DONE:
            status = DONE
            break
        t += 1
    return settle(ctl, (qi, qs), (h, hs), (qo,), (e,), st, t, status)


@jit_hot
def locate_step(ctl, qc, C, CV, qr, R, RV, qb, B, dim, qo, Qo, Vo, st, rep):
    """located = base * dim + crd, token for token; crd and ref pass. ``qr`` / ``qb`` are
    -1 for an unconnected ref (the crd stands in) or base (0)."""
    t = st[T]
    hc, nc = ctl[qc, HEAD], ctl[qc, END]
    hr, nr = ctl[qr, HEAD], ctl[qr, END]  # (qr, qb < 0: rows never used)
    hb, nb = ctl[qb, HEAD], ctl[qb, END]
    status = NEED_IN
    while True:
        if hc >= nc or (qr >= 0 and hr >= nr) or (qb >= 0 and hb >= nb):
            rep[0] = qc if hc >= nc else (qr if qr >= 0 and hr >= nr else qb)
            break
        if cramped(ctl, rep, qo, 1):
            status = NEED_OUT
            break
        c = C[0, hc]
        r, rv = (R[0, hr], RV[hr]) if qr >= 0 else (c, CV[hc])
        b = B[0, hb] if qb >= 0 else 0
        t = max(t, C[1, hc], R[1, hr] if qr >= 0 else 0, B[1, hb] if qb >= 0 else 0)
        if c == C_DONE or r == C_DONE:
            loc, bad = C_DONE, not (c == C_DONE and r == C_DONE and (b == 0 or b == C_DONE))
        elif c <= STOP0 or c == C_EMPTY:
            loc, bad = c, r != c or (qb >= 0 and b != c)
        else:
            loc, bad = (C_EMPTY if b == C_EMPTY else b * dim + c), c < 0 or (b < 0 and b != C_EMPTY)
        if bad:
            status = IRREGULAR
            break
        push(ctl, qo[0], Qo[0], Vo[0], c, t + 1, 0.0)
        push(ctl, qo[1], Qo[1], Vo[1], r, t + 1, rv)
        push(ctl, qo[2], Qo[2], Vo[2], loc, t + 1, 0.0)
        hc, hr, hb = hc + 1, hr + 1, hb + 1
        if loc == C_DONE:
            status = DONE
            break
        t += 1
    ctl[qc, HEAD] = hc
    if qr >= 0:
        ctl[qr, HEAD] = hr
    if qb >= 0:
        ctl[qb, HEAD] = hb
    st[T] = t
    return status


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
        if waiting(rep, (qi,), (h,), (n,)):
            break
        tt = max(t, Qi[1, h])
        c = Qi[0, h]
        lane = c >= 0 or c == C_EMPTY or c == C_VAL  # a coordinate, N, or a value: to lane p
        if not (lane or c <= STOP0 or c == C_DONE):
            status = IRREGULAR
            break
        lo, hi = (p, p + 1) if lane else (0, P)
        if cramped(ctl, rep, qo[lo:hi], 1):
            status = NEED_OUT
            break
        for j in range(lo, hi):
            push(ctl, qo[j], Qo[j], Vo[j], c, tt + 1, Vi[h])
        p = (p + 1) % P if lane else 0
        h += 1
        t = tt if c == C_DONE else tt + 1
        if c == C_DONE:
            status = DONE
            break
    ctl[qi, HEAD] = h
    st[T] = t
    st[K0] = p
    return status


@jit_hot
def join_step(ctl, ql, L, LV, qc, CQ, qo, OQ, OV, delta, parked, st, rep):
    """Merges the lanes element by element (see ``Join``); ``qc`` < 0: no count input.
    State: [phase, k, seen, held]; ``parked``: one code per lane, NONE when unset."""
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
            if waiting(rep, (q,), (h,), (ctl[q, END],)):
                break
        if phase == LOOP:
            tt = max(t, L[p][1, h])
            head = L[p][0, h]
            ends = head == C_DONE or (head <= STOP0 and STOP0 - head >= delta)  # the lane's end
            if ends:
                empty_last = False
                if qc >= 0 and head != C_DONE and delta > 0:
                    stuck = False
                    while seen <= k:
                        hc = ctl[qc, HEAD]
                        stuck = waiting(rep, (qc,), (hc,), (ctl[qc, END],))
                        if stuck:
                            break
                        tt = max(tt, CQ[1, hc])
                        c = CQ[0, hc]
                        if not (c >= 0 or c == C_EMPTY):
                            break
                        ctl[qc, HEAD] = hc + 1
                        seen += 1
                        t = tt  # each count token read is a step of its own
                    if stuck:
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
                eo = put(OQ, OV, eo, head, tt + 1, LV[p][h])
                ctl[q, HEAD] = h + 1
                t = tt + 1
                k += 1
                continue
            # an element (or an empty last one) starts: the stop held since the last goes out
            if held != NONE:
                if ctl[qo, CAP] - eo < 1:
                    status = full(rep, qo, 1)
                    break
                eo = put(OQ, OV, eo, STOP0 - (delta - 1), tt + 1, 0.0)
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
                eo = put(OQ, OV, eo, tok, tt + 1, LV[p][h])
            ctl[q, HEAD] = h + 1
            t = tt
        elif phase == ENDS:
            missing = np.argmax(parked == NONE)  # the first lane not parked, if any
            if parked[missing] == NONE:
                q = ql[missing]
                h = ctl[q, HEAD]
                if waiting(rep, (q,), (h,), (ctl[q, END],)):
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
            if waiting(rep, (qc,), (hc,), (ctl[qc, END],)):
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
            eo = put(OQ, OV, eo, end, t + 1, 0.0)
            if end == C_DONE:
                status = DONE
                break
            t += 1
            parked[:] = NONE
            held, seen, k, phase = NONE, 0, 0, LOOP
    ctl[qo, END] = eo
    st[T] = t
    st[K0], st[K0 + 1], st[K0 + 2], st[K0 + 3] = phase, k, seen, held
    return status
