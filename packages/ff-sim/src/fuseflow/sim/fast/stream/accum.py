"""The order-2 sparse accumulator (spacc2) as a streaming step function, with the clock
of ``prims.compute.Spacc2``. Entries live in arrays (key = mid << 32 | inner, value) with
an open-addressing index, so a flush sorts them once. State: [phase, outer empty, mid
coordinate, entries].
"""

from __future__ import annotations

import numpy as np
from fuseflow.sim.fast.codes import C_DONE, C_EMPTY, C_VAL, STOP0
from fuseflow.sim.fast.jit import jit_hot, jit_inline
from fuseflow.sim.fast.stream.common import (
    CAP,
    DONE,
    END,
    GROW_STATE,
    HEAD,
    IRREGULAR,
    K0,
    NEED_IN,
    REDUCE_OPS,
    T,
    count,
    full,
    log_event,
    put,
)

OUTER, MID, INNER = 0, 1, 2


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
    """Commits whole steps of the three nested loops (outer, mid fiber, inner fiber); ``ev``
    logs sums (key, the value's position or -1 for N) and flushes (-1, -1)."""
    t = st[T]
    phase, oempty, mid, n, nev = st[K0], st[K0 + 1], st[K0 + 2], st[K0 + 3], st[K0 + 5]
    ho, no = ctl[qoc, HEAD], ctl[qoc, END]
    hm, nm = ctl[qm, HEAD], ctl[qm, END]
    hi, ni = ctl[qi, HEAD], ctl[qi, END]
    hv, nv = ctl[qv, HEAD], ctl[qv, END]
    eom, eoi, eov = ctl[qom, END], ctl[qoi, END], ctl[qov, END]
    n_ops = 0
    status = NEED_IN
    while True:
        if phase == INNER:
            if hi >= ni or hv >= nv:
                rep[0] = qi if hi >= ni else qv
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
                    if hm + 1 >= nm:
                        rep[0] = qm
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
                if hi + 1 >= ni:
                    rep[0] = qi
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
            hi += 1
            hv += 1
        elif phase == MID:
            if hm >= nm:
                rep[0] = qm
                break
            tt = max(t, MQ[1, hm])
            m = MQ[0, hm]
            if m >= 0:
                mid = m
                phase = INNER
                t = tt
            elif m <= STOP0:
                if hi >= ni or hv >= nv:
                    rep[0] = qi if hi >= ni else qv
                    break
                if IQ[0, hi] != m - 1:
                    status = IRREGULAR
                    break
                tt = max(tt, IQ[1, hi], VQ[1, hv], OC[1, ho])
                hm += 1
                hi += 1
                hv += 1
                ho += 1
                phase = OUTER
                t = tt + 1
            else:
                status = IRREGULAR
                break
        else:
            if ho >= no:
                rep[0] = qoc
                break
            tt = max(t, OC[1, ho])
            o = OC[0, ho]
            if o >= 0:
                oempty = 0
                phase = MID
                t = tt
            elif o == C_DONE or o <= STOP0:
                if o == C_DONE or oempty:
                    if hm >= nm or hi >= ni or hv >= nv:
                        rep[0] = qm if hm >= nm else (qi if hi >= ni else qv)
                        break
                    if o != C_DONE and (MQ[0, hm] != o - 1 or IQ[0, hi] != o - 2):
                        status = IRREGULAR
                        break
                    tt = max(tt, MQ[1, hm], IQ[1, hi], VQ[1, hv])
                order = np.argsort(keys[:n])
                groups = 0  # mid coordinates
                for k in range(n):
                    if k == 0 or keys[order[k]] >> 32 != keys[order[k - 1]] >> 32:
                        groups += 1
                need_m, need_i = (1, 1) if o == C_DONE else (groups + 1, n + groups if groups else 1)
                if ctl[qom, CAP] - eom < need_m:
                    status = full(rep, qom, need_m)
                    break
                if ctl[qoi, CAP] - eoi < need_i:
                    status = full(rep, qoi, need_i)
                    break
                if ctl[qov, CAP] - eov < need_i:
                    status = full(rep, qov, need_i)
                    break
                if o == C_DONE:
                    put(OMQ, OMV, eom, C_DONE, tt + 1, 0.0)
                    put(OIQ, OIV, eoi, C_DONE, tt + 1, 0.0)
                    put(OVQ, OVV, eov, C_DONE, tt + 1, 0.0)
                    eom, eoi, eov = eom + 1, eoi + 1, eov + 1
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
                        put(OMQ, OMV, eom, g, s, 0.0)
                        eom += 1
                    put(OIQ, OIV, eoi, key & 0xFFFFFFFF, s, 0.0)
                    put(OVQ, OVV, eov, C_VAL, s, vals[order[k]])
                    eoi += 1
                    eov += 1
                    if k == n - 1 or keys[order[k + 1]] >> 32 != g:
                        g_done += 1
                        code = STOP0 - (lev + 1) if g_done == groups else STOP0
                        put(OIQ, OIV, eoi, code, s, 0.0)
                        put(OVQ, OVV, eov, code, s, 0.0)
                        eoi += 1
                        eov += 1
                put(OMQ, OMV, eom, o, s, 0.0)
                eom += 1
                if groups == 0:
                    put(OIQ, OIV, eoi, o - 1, s, 0.0)
                    put(OVQ, OVV, eov, o - 1, s, 0.0)
                    eoi += 1
                    eov += 1
                if 8 * n > len(table):
                    table[:, 0] = 0
                else:  # find every slot before clearing any (a cleared slot cuts probe chains)
                    pos = np.empty(n, np.int64)
                    for k in range(n):
                        pos[k] = _slot(table, keys[k])
                    for k in range(n):
                        table[pos[k], 0] = 0
                n = 0
                if oempty:
                    hm, hi, hv = hm + 1, hi + 1, hv + 1
                ho += 1
                oempty = 1
                t = tt + 1
            else:
                status = IRREGULAR
                break
    st[T] = t
    st[K0], st[K0 + 1], st[K0 + 2], st[K0 + 3], st[K0 + 5] = phase, oempty, mid, n, nev
    count(st, REDUCE_OPS, n_ops)
    ctl[qoc, HEAD] = ho
    ctl[qm, HEAD] = hm
    ctl[qi, HEAD] = hi
    ctl[qv, HEAD] = hv
    ctl[qom, END] = eom
    ctl[qoi, END] = eoi
    ctl[qov, END] = eov
    return status
