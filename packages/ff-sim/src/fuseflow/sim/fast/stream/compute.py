"""Step functions of the arithmetic primitives: ALUs, reducers, the sparse accumulators.
Scalar values; over tiles they give the timing and ``boxed`` the values. Binary ops are
float32 IEEE operations, as in numpy; a unary ALU's op is applied by the engine afterwards
with the reference's own numpy function (``ops.UNARY``).
"""

from __future__ import annotations

import numpy as np
from fuseflow.sim.fast.codes import C_DONE, C_EMPTY, C_VAL, STOP0
from fuseflow.sim.fast.jit import jit_hot, jit_inline
from fuseflow.sim.fast.stream.common import (
    ALU_OPS,
    CAP,
    DONE,
    END,
    GROW_STATE,
    HEAD,
    IRREGULAR,
    K0,
    NEED_IN,
    NEED_OUT,
    REDUCE_OPS,
    T,
    begin,
    count,
    cramped,
    full,
    log_event,
    push,
    put,
    settle,
    starved,
    waiting,
)

# binary op codes (engine.py maps BinaryOp to them)
OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MAX, OP_MASK = range(6)
OUTER, MID, INNER = 0, 1, 2  # spacc2's phases


@jit_inline
def _binop(op, a, b):
    if op == OP_ADD:
        return a + b
    if op == OP_SUB:
        return a - b
    if op == OP_MUL:
        return a * b
    if op == OP_DIV:
        return a / b
    if op == OP_MAX:  # np.maximum: NaN wins, and max(-0, +0) is its second operand
        return a if (a > b or a != a) else b
    return b


@jit_hot
def alu2_step(ctl, qa, A, AV, qb, B, BV, qo, Qo, Vo, op, L, ii, st, rep):
    """Two operands token by token: values combine (an N operand counts as 0, and the
    result is never -0), two N give N, equal stops pass, D ends; ``ii`` per token."""
    t, ha, na, e, cap, status = begin(ctl, qa, qo, st, rep)
    hb, nb = ctl[qb, HEAD], ctl[qb, END]
    nops = 0
    zero = np.float32(0.0)
    while True:
        if waiting(rep, (qa, qb), (ha, hb), (na, nb)):
            break
        if e >= cap:
            status = full(rep, qo, 1)
            break
        tt = max(t, A[1, ha], B[1, hb])
        x, y = A[0, ha], B[0, hb]
        if x == C_VAL and y == C_VAL:  # the common case
            e = put(Qo, Vo, e, C_VAL, tt + L, _binop(op, AV[ha], BV[hb]))
            nops += 1
        elif (x == C_VAL and y == C_EMPTY) or (x == C_EMPTY and y == C_VAL):  # + 0: never -0
            a, b = (AV[ha], zero) if x == C_VAL else (zero, BV[hb])
            e = put(Qo, Vo, e, C_VAL, tt + L, _binop(op, a, b) + zero)
            nops += 1
        elif x == y and (x == C_EMPTY or x == C_DONE or x <= STOP0):
            e = put(Qo, Vo, e, x, tt + 1, zero)
        else:
            status = IRREGULAR
            break
        ha, hb = ha + 1, hb + 1
        t = tt if x == C_DONE else tt + ii
        if x == C_DONE:
            status = DONE
            break
    count(st, ALU_OPS, nops)
    return settle(ctl, (qa, qb), (ha, hb), (qo,), (e,), st, t, status)


@jit_hot
def alu1_step(ctl, qi, Qi, Vi, qo, Qo, Vo, L, st, rep):
    """One operand: a value goes out at +L (its op applied by the engine afterwards);
    stops and N pass at +1; D ends. One token per cycle."""
    t, h, n, e, cap, status = begin(ctl, qi, qo, st, rep)
    m = min(n - h, cap - e)
    if m < n - h:
        status = full(rep, qo, 1)
    nops = 0
    for q in range(m):
        x = Qi[0, h + q]
        if x >= 0:
            m = q
            status = IRREGULAR
            break
        t = max(t, Qi[1, h + q])
        put(Qo, Vo, e + q, x, t + (L if x == C_VAL else 1), Vi[h + q])
        if x == C_VAL:
            nops += 1
        if x == C_DONE:
            m = q + 1
            status = DONE
            break
        t += 1
    count(st, ALU_OPS, nops)
    return settle(ctl, (qi,), (h + m,), (qo,), (e + m,), st, t, status)


@jit_hot
def reduce_step(ctl, qi, Qi, Vi, qp, P, qo, Qo, Vo, is_max, L, st, fst, rep):
    """Reduces the innermost fiber: at its stop Sk the sum (or max) at +L, then S(k-1)
    for k > 0; N is free. With the parent's crd stream (``qp`` >= 0), one value per
    parent coordinate, and a parent stop met first is an empty parent fiber (its bare
    stop passes, no value). State: [count, in a fiber]; ``fst[0]``: the accumulator."""
    t, h, n, e, cap, status = begin(ctl, qi, qo, st, rep)
    hp, np_ = ctl[qp, HEAD], ctl[qp, END]  # (qp < 0: a row never used)
    nops = 0
    cnt, infib = st[K0], st[K0 + 1]
    acc = fst[0]
    while True:
        if qp >= 0 and not infib:  # the parent's next coordinate (or stop, or D)
            if waiting(rep, (qp,), (hp,), (np_,)):
                break
            p = P[0, hp]
            tt = max(t, P[1, hp])
            if p > STOP0 and p != C_DONE:  # a coordinate: its fiber opens
                hp += 1
                t = tt
                infib, cnt = 1, 0
                continue
            if waiting(rep, (qi,), (h,), (n,)):
                break
            if e >= cap:
                status = full(rep, qo, 1)
                break
            tt = max(tt, Qi[1, h])
            if Qi[0, h] != (C_DONE if p == C_DONE else p - 1):
                status = IRREGULAR
                break
            e = put(Qo, Vo, e, p, tt + 1, 0.0)
            h, hp = h + 1, hp + 1
            t = tt if p == C_DONE else tt + 1
            if p == C_DONE:
                status = DONE
                break
            continue
        if waiting(rep, (qi,), (h,), (n,)):
            break
        x = Qi[0, h]
        tt = max(t, Qi[1, h])
        if x == C_VAL:
            v = Vi[h]  # the first value starts the accumulator
            acc = v if cnt == 0 else (np.maximum(acc, v) if is_max else acc + v)
            cnt += 1
            nops += 1
            t = tt + 1
        elif x == C_EMPTY:
            t = tt
        elif x <= STOP0:
            need = 2 if x < STOP0 else 1
            if cap - e < need:
                status = full(rep, qo, need)
                break
            t2 = tt
            if qp >= 0 and x < STOP0:  # the parent closes the same fiber one level up
                if waiting(rep, (qp,), (hp,), (np_,)):
                    break
                if P[0, hp] != x + 1:
                    status = IRREGULAR
                    break
                t2 = max(t2, P[1, hp])
                hp += 1
            # the fiber's value: N for a max over nothing, 0 for an empty sum
            e = put(Qo, Vo, e, C_EMPTY if (is_max and cnt == 0) else C_VAL, tt + L, acc if cnt else np.float32(0.0))
            if x < STOP0:
                e = put(Qo, Vo, e, x + 1, t2 + 1, 0.0)
            cnt, infib = 0, 0
            t = t2 + 1
        elif x == C_DONE and qp < 0:
            if e >= cap:
                status = full(rep, qo, 1)
                break
            e = put(Qo, Vo, e, C_DONE, tt + 1, 0.0)
            t = tt
            status = DONE
        else:
            status = IRREGULAR
            break
        h += 1
        if status == DONE:
            break
    if qp >= 0:
        ctl[qp, HEAD] = hp
    st[K0], st[K0 + 1] = cnt, infib
    fst[0] = acc
    count(st, REDUCE_OPS, nops)
    return settle(ctl, (qi,), (h,), (qo,), (e,), st, t, status)


@jit_hot
def spacc1_step(ctl, qo_, OC, qi, IC, qv, IVQ, Vi, qc, CQ, CV, qw, WQ, WV, acc, present, touched, ev, st, rep):
    """Order-1 sparse accumulator: sums (inner crd, val) pairs over the outer fiber and at
    each outer stop Sk flushes them in coordinate order, then Sk. State: [touched, outer
    empty, preconsumed, -, -, events]; ``ev`` logs sums (crd, value's position or -1 for N)
    and flushes (-1, -1) for ``boxed`` to redo on the values."""
    t, ho, no, ec, _, status = begin(ctl, qo_, qc, st, rep)
    hi, ni = ctl[qi, HEAD], ctl[qi, END]
    hv, nv = ctl[qv, HEAD], ctl[qv, END]
    ew = ctl[qw, END]
    nops = 0
    ntouch, oempty, pre, nev = st[K0], st[K0 + 1], st[K0 + 2], st[K0 + 5]
    while True:
        if waiting(rep, (qo_, qi, qv), (ho, hi, hv), (no, ni, nv)):
            break
        tt = max(t, OC[1, ho], IC[1, hi], IVQ[1, hv])
        o = OC[0, ho]
        i = IC[0, hi]
        if o >= 0:
            if i >= 0:
                if i >= len(acc):
                    rep[1] = i + 1
                    status = GROW_STATE
                    break
                vc = IVQ[0, hv]
                if vc != C_VAL and vc != C_EMPTY:
                    status = IRREGULAR
                    break
                x = Vi[hv] if vc == C_VAL else np.float32(0.0)
                if present[i]:
                    acc[i] += x
                else:  # ``touched``: the coordinates in order of first arrival
                    acc[i] = x
                    present[i] = 1
                    touched[ntouch] = i
                    ntouch += 1
                nev = log_event(ev, nev, i, hv if vc == C_VAL else -1)
                nops += 1
            elif i <= STOP0:
                ho += 1
            elif i == C_EMPTY:  # an empty inner fiber; its stop may follow
                if waiting(rep, (qi,), (hi + 1,), (ni,)):
                    break
                tt = max(tt, IC[1, hi + 1])
                if IC[0, hi + 1] > STOP0:
                    ho += 1
            else:
                status = IRREGULAR
                break
            hi, hv = hi + 1, hv + 1
            oempty = 0
        elif o <= STOP0:
            own = 1 if oempty and not pre and i <= STOP0 and i == o - 1 else 0  # its own inner stop
            ji, jv = hi + own, hv + own
            if waiting(rep, (qi, qo_), (ji, ho + 1), (ni, no)):
                break
            room = ntouch + 1
            if ctl[qc, CAP] - ec < room or ctl[qw, CAP] - ew < room:
                status = full(rep, qc if ctl[qc, CAP] - ec < room else qw, room)
                break
            i2 = IC[0, ji]
            o2 = OC[0, ho + 1]
            look = i2 <= STOP0 and o2 <= STOP0 and i2 == o2 - 1
            if look and jv >= nv:
                rep[0] = qv
                break
            nev = log_event(ev, nev, -1, -1)
            if ntouch > 1:
                touched[:ntouch] = np.sort(touched[:ntouch])
            for q in range(ntouch):
                c = touched[q]
                put(CQ, CV, ec + q, c, tt + 1, 0.0)
                put(WQ, WV, ew + q, C_VAL, tt + 1, acc[c])
                present[c] = 0
            ec = put(CQ, CV, ec + ntouch, o, tt + 1, 0.0)
            ew = put(WQ, WV, ew + ntouch, o, tt + 1, 0.0)
            ntouch, oempty, pre = 0, 1, 0
            ho += 1
            tt = max(tt, IC[1, ji], OC[1, ho])
            if look:  # Comal's look-ahead: the next outer fiber is empty
                tt = max(tt, IVQ[1, jv])
                pre = 1
            hi, hv = ji + pre, jv + pre  # (past the look-ahead's stops)
        elif o == C_DONE:
            if i == C_DONE:
                if ctl[qc, CAP] - ec < 1 or ctl[qw, CAP] - ew < 1:
                    status = full(rep, qc if ctl[qc, CAP] - ec < 1 else qw, 1)
                    break
                ec = put(CQ, CV, ec, C_DONE, tt + 1, 0.0)
                ew = put(WQ, WV, ew, C_DONE, tt + 1, 0.0)
                t = tt
                status = DONE
                break
            hi, hv = hi + 1, hv + 1
        else:
            status = IRREGULAR
            break
        t = tt + 1
    st[K0], st[K0 + 1], st[K0 + 2], st[K0 + 5] = ntouch, oempty, pre, nev
    count(st, REDUCE_OPS, nops)
    return settle(ctl, (qo_, qi, qv), (ho, hi, hv), (qc, qw), (ec, ew), st, t, status)


@jit_hot
def joiner_step(ctl, qc, C, qr, R, RV, qoc, OC, OCV, qor, OR, ORV, union, st, rep):
    """Intersect / union of n (crd, payload) pairs: all heads equal (coordinates, stops,
    N, D) -> out together; else the smallest coordinate (union: every input, N where it
    has none; intersect: nothing) is consumed; else all are at stops (or N): the output
    fiber closes with the stop. One cycle per decision."""
    t = st[T]
    n = len(qc)
    status = NEED_IN
    while True:
        if starved(ctl, rep, qc) or starved(ctl, rep, qr):
            break
        tt = t
        h0 = C[0][0, ctl[qc[0], HEAD]]
        same = True
        mn = -1
        for k in range(n):
            hk = ctl[qc[k], HEAD]
            tt = max(tt, C[k][1, hk], R[k][1, ctl[qr[k], HEAD]])
            c = C[k][0, hk]
            if c != h0:
                same = False
            if c >= 0 and (mn < 0 or c < mn):
                mn = c
        if (same or union or mn < 0) and (cramped(ctl, rep, (qoc,), 1) or cramped(ctl, rep, qor, 1)):
            status = NEED_OUT  # a decision that emits needs room on every output
            break
        if same or mn >= 0:  # all alike (every input hits), or the smallest coordinate
            c0 = h0 if same else mn
            emit = same or union
            if emit:
                push(ctl, qoc, OC, OCV, c0, tt + 1, 0.0)
            for k in range(n):
                hr = ctl[qr[k], HEAD]
                hit = C[k][0, ctl[qc[k], HEAD]] == c0
                if emit:
                    push(ctl, qor[k], OR[k], ORV[k], R[k][0, hr] if hit else C_EMPTY, tt + 1,
                         RV[k][hr] if hit else 0.0)
                if hit:
                    ctl[qc[k], HEAD] += 1
                    ctl[qr[k], HEAD] = hr + 1
            t = tt if c0 == C_DONE else tt + 1
            if c0 == C_DONE:
                status = DONE
                break
            continue
        # every input at a stop or an N: one stop level, no D
        lvl = 0
        ok = True
        for k in range(n):
            c = C[k][0, ctl[qc[k], HEAD]]
            if c == C_DONE or (c <= STOP0 and lvl != 0 and c != lvl):
                ok = False
            elif c <= STOP0:
                lvl = c
        if not ok or lvl == 0:
            status = IRREGULAR
            break
        for k in range(n):  # an N's fiber stop follows it: it must be there, and be this stop
            hk = ctl[qc[k], HEAD]
            if C[k][0, hk] == C_EMPTY and lvl < STOP0:
                if hk + 1 >= ctl[qc[k], END] or ctl[qr[k], HEAD] + 1 >= ctl[qr[k], END]:
                    rep[0] = qc[k] if hk + 1 >= ctl[qc[k], END] else qr[k]
                    ok = False
                    break
                if C[k][0, hk + 1] != lvl:
                    status = IRREGULAR
                    ok = False
                    break
        if not ok:
            break
        s = tt + 1  # the stop's stamp
        push(ctl, qoc, OC, OCV, lvl, s, 0.0)
        for k in range(n):
            push(ctl, qor[k], OR[k], ORV[k], lvl, s, 0.0)
            hk = ctl[qc[k], HEAD]
            hr = ctl[qr[k], HEAD]
            if C[k][0, hk] == C_EMPTY and lvl < STOP0:
                tt = max(tt, C[k][1, hk + 1], R[k][1, hr + 1])
                hk, hr = hk + 1, hr + 1
            ctl[qc[k], HEAD] = hk + 1
            ctl[qr[k], HEAD] = hr + 1
        t = tt + 1
    st[T] = t
    return status


@jit_inline
def _slot(table, key):
    """The index slot of ``key``: where it is, or the empty slot where it goes."""
    mask = len(table) - 1
    h = ((key ^ (key >> 29)) * 0x2545F4914F6CDD1D) & mask
    while table[h, 0] != 0 and table[h, 1] != key:
        h = (h + 1) & mask
    return h


@jit_hot
def rehash(keys, n, table):
    """Rebuilds the index of the first ``n`` entries into an empty ``table``."""
    for k in range(n):
        h = _slot(table, keys[k])
        table[h, 0] = k + 1
        table[h, 1] = keys[k]


@jit_hot
def spacc2_step(ctl, qoc, OC, qm, MQ, qi, IQ, qv, VQ, Vi, qom, OMQ, OMV, qoi, OIQ, OIV, qov, OVQ, OVV,
                keys, vals, table, ev, st, rep):
    """Order-2 sparse accumulator, with the clock of ``prims.compute.Spacc2``: commits whole
    steps of its three nested loops (outer, mid fiber, inner fiber). Entries live in arrays
    (key = mid << 32 | inner, value) with an open-addressing index, so a flush sorts them
    once. State: [phase, outer empty, mid coordinate, entries, -, events]; ``ev`` logs sums
    (key, the value's position or -1 for N) and flushes (-1, -1)."""
    t, ho, no, eom, _, status = begin(ctl, qoc, qom, st, rep)
    hm, nm = ctl[qm, HEAD], ctl[qm, END]
    hi, ni = ctl[qi, HEAD], ctl[qi, END]
    hv, nv = ctl[qv, HEAD], ctl[qv, END]
    eoi, eov = ctl[qoi, END], ctl[qov, END]
    phase, oempty, mid, n, nev = st[K0], st[K0 + 1], st[K0 + 2], st[K0 + 3], st[K0 + 5]
    n_ops = 0
    while True:
        if phase == INNER:
            if waiting(rep, (qi, qv), (hi, hv), (ni, nv)):
                break
            tt = max(t, IQ[1, hi], VQ[1, hv])
            j = IQ[0, hi]
            if j >= 0:
                vc = VQ[0, hv]
                if vc != C_VAL and vc != C_EMPTY:
                    status = IRREGULAR
                    break
                x = Vi[hv] if vc == C_VAL else np.float32(0.0)
                key = (mid << 32) | j
                h = _slot(table, key)
                if table[h, 0] != 0:
                    vals[table[h, 0] - 1] += x
                else:
                    if n >= len(keys) or 2 * (n + 1) > len(table):
                        rep[1] = n + 1
                        status = GROW_STATE
                        break
                    keys[n] = key
                    vals[n] = x
                    n += 1
                    table[h, 0] = n
                    table[h, 1] = key
                nev = log_event(ev, nev, key, hv if vc == C_VAL else -1)
                n_ops += 1
                t = tt + 1
            elif j <= STOP0:
                lev = STOP0 - j
                if lev > 0:  # the inner stop also closes the mid fiber: its stop follows
                    if waiting(rep, (qm,), (hm + 1,), (nm,)):
                        break
                    if MQ[0, hm + 1] != STOP0 - (lev - 1):
                        status = IRREGULAR
                        break
                    tt = max(tt, MQ[1, hm + 1], OC[1, ho])
                    hm += 2
                    ho += 1
                    phase = OUTER
                else:
                    hm += 1
                    phase = MID
                t = tt + 1
            elif j == C_EMPTY:
                if waiting(rep, (qi,), (hi + 1,), (ni,)):
                    break
                tt = max(tt, IQ[1, hi + 1])
                t = tt
                if IQ[0, hi + 1] > STOP0:  # no stop follows: the mid fiber goes on
                    hm += 1
                    phase = MID
                    t = tt + 1
            else:
                status = IRREGULAR
                break
            hi, hv = hi + 1, hv + 1
        elif phase == MID:
            if waiting(rep, (qm,), (hm,), (nm,)):
                break
            tt = max(t, MQ[1, hm])
            m = MQ[0, hm]
            if m >= 0:
                mid = m
                phase = INNER
                t = tt
            elif m <= STOP0:
                if waiting(rep, (qi, qv), (hi, hv), (ni, nv)):
                    break
                if IQ[0, hi] != m - 1:
                    status = IRREGULAR
                    break
                tt = max(tt, IQ[1, hi], VQ[1, hv], OC[1, ho])
                hm, hi, hv, ho = hm + 1, hi + 1, hv + 1, ho + 1
                phase = OUTER
                t = tt + 1
            else:
                status = IRREGULAR
                break
        else:
            if waiting(rep, (qoc,), (ho,), (no,)):
                break
            tt = max(t, OC[1, ho])
            o = OC[0, ho]
            if o >= 0:
                oempty = 0
                phase = MID
                t = tt
            elif o == C_DONE or o <= STOP0:
                if o == C_DONE or oempty:
                    if waiting(rep, (qm, qi, qv), (hm, hi, hv), (nm, ni, nv)):
                        break
                    if o != C_DONE and (MQ[0, hm] != o - 1 or IQ[0, hi] != o - 2):
                        status = IRREGULAR
                        break
                    tt = max(tt, MQ[1, hm], IQ[1, hi], VQ[1, hv])
                order = np.argsort(keys[:n])
                groups = len(np.unique(keys[:n] >> 32))  # mid coordinates
                need_m, need_i = (1, 1) if o == C_DONE else (groups + 1, n + groups if groups else 1)
                for q, e, need in ((qom, eom, need_m), (qoi, eoi, need_i), (qov, eov, need_i)):
                    if ctl[q, CAP] - e < need:
                        status = full(rep, q, need)
                        break
                if status != NEED_IN:
                    break
                if o == C_DONE:
                    eom = put(OMQ, OMV, eom, C_DONE, tt + 1, 0.0)
                    eoi = put(OIQ, OIV, eoi, C_DONE, tt + 1, 0.0)
                    eov = put(OVQ, OVV, eov, C_DONE, tt + 1, 0.0)
                    ho, hm, hi, hv = ho + 1, hm + 1, hi + 1, hv + 1
                    t = tt
                    status = DONE
                    break
                lev = STOP0 - o
                nev = log_event(ev, nev, -1, -1)
                s = tt + 1
                g_done = 0
                for k in range(n):
                    key = keys[order[k]]
                    g = key >> 32
                    if k == 0 or g != keys[order[k - 1]] >> 32:
                        eom = put(OMQ, OMV, eom, g, s, 0.0)
                    eoi = put(OIQ, OIV, eoi, key & 0xFFFFFFFF, s, 0.0)
                    eov = put(OVQ, OVV, eov, C_VAL, s, vals[order[k]])
                    if k == n - 1 or keys[order[k + 1]] >> 32 != g:
                        g_done += 1
                        code = STOP0 - (lev + 1) if g_done == groups else STOP0
                        eoi = put(OIQ, OIV, eoi, code, s, 0.0)
                        eov = put(OVQ, OVV, eov, code, s, 0.0)
                eom = put(OMQ, OMV, eom, o, s, 0.0)
                if groups == 0:
                    eoi = put(OIQ, OIV, eoi, o - 1, s, 0.0)
                    eov = put(OVQ, OVV, eov, o - 1, s, 0.0)
                if 8 * n > len(table):
                    table[:, 0] = 0
                else:  # newest first: an entry's probe chain holds only older, still set, entries
                    for k in range(n - 1, -1, -1):
                        table[_slot(table, keys[k]), 0] = 0
                n = 0
                if oempty:
                    hm, hi, hv = hm + 1, hi + 1, hv + 1
                ho += 1
                oempty = 1
                t = tt + 1
            else:
                status = IRREGULAR
                break
    st[K0], st[K0 + 1], st[K0 + 2], st[K0 + 3], st[K0 + 5] = phase, oempty, mid, n, nev
    count(st, REDUCE_OPS, n_ops)
    return settle(ctl, (qoc, qm, qi, qv), (ho, hm, hi, hv), (qom, qoi, qov), (eom, eoi, eov), st, t, status)
