"""The HBM model's ``Memory.access`` on its bitmap (``fuseflow.sim.memory.Memory.slots``),
compiled for the memory clients' step functions and the reference engine. A request that runs
out of bitmap gives back what it took: the caller grows it and calls again."""

from __future__ import annotations

import numpy as np
from fuseflow.sim.fast.jit import ctz, jit, jit_inline


@jit_inline
def _first_free(S, c, s, base):
    """The first free slot >= s of channel c (bit j % 64 of ``S[j // 64 - base, c]``; ``s``
    is never below block ``base``), or -1 when the bitmap must grow first; a taken block
    (all ones) is skipped whole."""
    nb = S.shape[0]
    k = (s >> 6) - base
    if k + 2 > nb:
        return -1
    x = S[k, c] | ~(-1 << (s & 63))  # the slots below s count as taken
    while x == -1:
        k += 1
        if k + 2 > nb:
            return -1
        x = S[k, c]
    return ((k + base) << 6) + ctz(~x)


NO_HORIZON = 1 << 62


@jit_inline
def mem_access(slots, mstate, ii, lat, startup, t, w, buf, hz):
    """``Memory.access(t, w, client)``, ``mstate`` = [the client's next channel, grow
    channel, grow blocks, first block]. Returns the completion cycle; or, with the slots taken so far
    (kept in ``buf``) given back, -1 when the bitmap must first grow (``mstate[1:3]``) and
    -2 at a slot at or past ``hz`` (one a lower-id client may still take)."""
    nch = slots.shape[1]
    rr = mstate[0]
    b0 = mstate[3]
    # integer divisions cost more than the rest of a one-word request: none in the common cases
    base = 0 if w <= nch else w // nch  # words every channel takes; ``extra`` channels take one more
    extra = w - base * nch
    kmax = min(w, nch)
    e = t if t > startup else startup
    if ii == 2:
        s0 = (e + 1) >> 1
    elif ii == 1:
        s0 = e
    else:
        s0 = (e + ii - 1) // ii
    done = t
    taken = 0
    c = rr
    for i in range(kmax):  # channels round robin from rr; each takes kk >= 1 words
        sl = s0
        kk = base + 1 if i < extra else base
        for _ in range(kk):
            j = _first_free(slots, c, sl, b0)
            if j < 0 or j >= hz:
                for p in range(taken):  # give back: the model stays untouched
                    jj = buf[0, p]
                    slots[(jj >> 6) - b0, buf[1, p]] &= ~(np.int64(1) << np.int64(jj & 63))
                if j >= 0:
                    return -2
                mstate[1] = c
                mstate[2] = slots.shape[0] + 2
                return -1
            slots[(j >> 6) - b0, c] |= np.int64(1) << np.int64(j & 63)  # (bit 63 is the sign bit)
            buf[0, taken] = j
            buf[1, taken] = c
            taken += 1
            sl = j + 1
        done = max(done, (sl - 1) * ii + lat)
        c += 1
        if c == nch:
            c = 0
    nrr = rr + w
    if nrr >= nch:
        nrr = nrr - nch if nrr - nch < nch else nrr % nch
    mstate[0] = nrr
    return done


@jit
def access(slots, mstate, ii, lat, startup, t, w, buf):
    """``Memory.access`` compiled on its own (no horizon: the reference engine's requests)."""
    return mem_access(slots, mstate, ii, lat, startup, t, w, buf, NO_HORIZON)
