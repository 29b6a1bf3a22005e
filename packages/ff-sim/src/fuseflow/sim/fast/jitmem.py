"""The HBM model's ``Memory.access`` on its bitmaps, compiled, for the step functions of
the memory clients (value arrays, compressed/singleton scanners, writers).

The bitmap is the model's own numpy array (blocks of 64 slots x channels, a bit per
slot); its row 0 is block ``mstate[3]`` (the streaming engine drops the blocks below every
client's clock, see ``Memory.advance``). A compiled step cannot grow it: a request that runs out of room gives back the
slots it took, and the step returns MEM_GROW, so that the engine grows the model and
calls again.
"""

from __future__ import annotations

import numpy as np
from fuseflow.sim.fast.jit import ctz, jit_inline


@jit_inline
def _first_free(S, c, s, base):
    """The memory model's first free slot >= s of channel c, or -1 when the bitmap must
    grow first. ``S``: blocks x channels int64, slot j of channel c is bit j % 64 of
    ``S[j // 64 - base, c]`` (``s`` is never below block ``base``); a block's slots are
    found with one load and a trailing-zero count, and a taken block (all ones) is skipped
    whole, as the reference's "block full" marks skip it."""
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
    """``Memory.access(t, w, client)`` on the model's bitmap (see :func:`_first_free`; a
    block of the channels' bits is one cache line, the words of a request share it);
    ``mstate`` = [the client's next channel, grow channel, grow blocks, first block], one
    per client.
    Returns the completion cycle; or, with the model untouched (the slots taken so far,
    recorded in ``buf``, 2 x words, are given back), -1 when the bitmap must first grow
    (``mstate[1:3]``) and -2 when a slot it finds is at or past ``hz`` (the streaming
    engine's horizon: a slot that a lower-id client may still take)."""
    nch = slots.shape[1]
    rr = mstate[0]
    b0 = mstate[3]
    # integer divisions cost more than the rest of a one-word request: avoid them for the
    # common cases (a request no wider than the channels; II of 1 or 2); times are >= 0
    if w <= nch:
        base = 0
        extra = w
        kmax = w
    else:
        base = w // nch
        extra = w - base * nch
        kmax = nch
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
        fin = (sl - 1) * ii + lat
        if fin > done:
            done = fin
        c += 1
        if c == nch:
            c = 0
    nrr = rr + w
    if nrr >= nch:
        nrr = nrr - nch if nrr - nch < nch else nrr % nch
    mstate[0] = nrr
    return done


@jit_inline
def mem_wait(use_mem, slots, mstate, ii, lat, startup, t, w, buf, hz):
    """The client's clock after a blocking request of ``w`` words at ``t`` (``t`` itself
    without a memory model); or, with nothing taken, -1 when the model must grow first
    and -2 past the horizon ``hz``."""
    if not use_mem:
        return t
    done = mem_access(slots, mstate, ii, lat, startup, t, w, buf, hz)
    return done if done < 0 else max(done, t)
