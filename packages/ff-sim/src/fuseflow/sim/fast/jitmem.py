"""Compiled memory clients: the HBM model's ``Memory.access`` on its bitmaps, and the
primitives that wait for it (value arrays, compressed/singleton scanners, writers).

The bitmap is the model's own numpy array (blocks of 64 slots x channels, a bit per
slot). A compiled loop cannot grow it: a request that runs out of room gives back the
slots it took, and its client saves its state and returns, so that ``membridge.drive``
grows the model and calls again.
"""

from __future__ import annotations

from fuseflow.sim.fast.codes import C_DONE, C_EMPTY, STOP0
from fuseflow.sim.fast.jit import bit64, ctz, jit, jit_inline


@jit_inline
def _first_free(S, c, s):
    """The memory model's first free slot >= s of channel c, or -1 when the bitmap must
    grow first. ``S``: blocks x channels int64, slot j of channel c is bit j % 64 of
    ``S[j // 64, c]``; a block's slots are found with one load and a trailing-zero count,
    and a taken block (all ones) is skipped whole, as the reference's "block full" marks
    skip it."""
    nb = S.shape[0]
    k = s >> 6
    if k + 2 > nb:
        return -1
    x = S[k, c] | ~(-1 << (s & 63))  # the slots below s count as taken
    while x == -1:
        k += 1
        if k + 2 > nb:
            return -1
        x = S[k, c]
    return (k << 6) + ctz(~x)


NO_HORIZON = 1 << 62


@jit_inline
def mem_access(slots, mstate, ii, lat, startup, t, w, buf, hz):
    """``Memory.access(t, w, client)`` on the model's bitmap (see :func:`_first_free`; a
    block of the channels' bits is one cache line, the words of a request share it);
    ``mstate`` = [the client's next channel, grow channel, grow blocks], one per client.
    Returns the completion cycle; or, with the model untouched (the slots taken so far,
    recorded in ``buf``, 2 x words, are given back), -1 when the bitmap must first grow
    (``mstate[1:3]``) and -2 when a slot it finds is at or past ``hz`` (the streaming
    engine's horizon: a slot that a lower-id client may still take)."""
    nch = slots.shape[1]
    rr = mstate[0]
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
            j = _first_free(slots, c, sl)
            if j < 0 or j >= hz:
                for p in range(taken):  # give back: the model stays untouched
                    jj = buf[0, p]
                    slots[jj >> 6, buf[1, p]] &= ~bit64(jj & 63)
                if j >= 0:
                    return -2
                mstate[1] = c
                mstate[2] = slots.shape[0] + 2
                return -1
            slots[j >> 6, c] |= bit64(j & 63)
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
def mem_wait(slots, mstate, ii, lat, startup, t, w, buf, hz):
    """The client's clock after a blocking request of ``w`` words at ``t``; or, with
    nothing taken, -1 when the model must grow first and -2 past the horizon ``hz``."""
    done = mem_access(slots, mstate, ii, lat, startup, t, w, buf, hz)
    if done < 0:
        return done
    return done if done > t else t


@jit
def client_walk(s, req, words, m, t, k, u, slots, mstate, ii, lat, startup, buf):
    """A memory client's clocks from token m (clock t, next request k): per token
    ``t = max(t, s[m])``; at a request the clock waits for the memory model's answer;
    ``u[m] = t + 1``; ``t += 1``.

    Returns (m, t, k, grow): with grow, the model must grow first, then request k is
    retried from token m."""
    n = len(s)
    nreq = len(req)
    nxt = req[k] if k < nreq else n
    while m < n:
        x = s[m]
        if x > t:
            t = x
        if m == nxt:
            w8 = mem_wait(slots, mstate, ii, lat, startup, t, words[k], buf, NO_HORIZON)
            if w8 < 0:
                return m, t, k, True
            t = w8
            k += 1
            nxt = req[k] if k < nreq else n
        u[m] = t + 1
        t += 1
        m += 1
    return m, t, k, False


@jit
def sparse_scan_run(ic, ist, seg, crd, compressed, use_mem, L, seq, delay, swr, batch,
                    slots, mstate, ii, lat, startup, buf, state, oc, orf, ocs):
    """A compressed (or singleton) level scanner, token by token as the loop version.
    ``state`` = [input pos, clock, outputs, in a row, crd pos, row lo, row hi, seg read,
    seg reads, crd reads] is kept between calls: returns 0 at D, 1 when the memory model
    must grow (call again after), -1 when the input ends before D, -2 for an input the
    loop must handle."""
    i, t, no, active, p, lo, hi, segdone = (state[0], state[1], state[2], state[3], state[4],
                                            state[5], state[6], state[7])
    n = len(ic)
    nseg = len(seg)
    ncrd = len(crd)
    code = 0
    while True:
        if not active:
            if i >= n:
                code = -1
                break
            tok = ic[i]
            x = ist[i]
            if x > t:
                t = x
            if tok <= STOP0 or tok == C_EMPTY or tok == C_DONE:
                i += 1
                o = tok - 1 if tok <= STOP0 else tok
                oc[no] = o
                orf[no] = o
                ocs[no] = t + 1
                no += 1
                if tok == C_DONE:
                    code = 0
                    break
                t += 1
                continue
            if tok < 0:
                code = -2
                break
            if compressed:
                if tok + 1 >= nseg:
                    code = -2
                    break
                lo = seg[tok]
                hi = seg[tok + 1]
                state[8] += swr
            else:
                lo = tok
                hi = tok + 1
            if hi > ncrd or lo > hi:
                code = -2
                break
            i += 1
            t += delay
            active = 1
            p = lo
            segdone = 0
        if compressed and not segdone:
            if use_mem and swr > 0:
                w8 = mem_wait(slots, mstate, ii, lat, startup, t, swr, buf, NO_HORIZON)
                if w8 < 0:
                    code = 1
                    break
                t = w8
            segdone = 1
        if use_mem:
            grow = False
            while p < hi:
                if (p - lo) % batch == 0:
                    nn = hi - p
                    if nn > batch:
                        nn = batch
                    w8 = mem_wait(slots, mstate, ii, lat, startup, t, nn, buf, NO_HORIZON)
                    if w8 < 0:
                        grow = True
                        break
                    state[9] += nn
                    t = w8
                oc[no] = crd[p]
                orf[no] = p
                ocs[no] = t + L
                no += 1
                t += seq
                p += 1
            if grow:
                code = 1
                break
        else:
            state[9] += hi - lo
            for q in range(lo, hi):
                oc[no] = crd[q]
                orf[no] = q
                ocs[no] = t + L + seq * (q - lo)
                no += 1
            t += seq * (hi - lo)
            p = hi
        if i >= n:
            code = -1
            break
        nx = ic[i]
        x = ist[i]
        if x > t:
            t = x
        if nx <= STOP0:
            i += 1
            sk = nx - 1
        else:
            sk = STOP0
        oc[no] = sk
        orf[no] = sk
        ocs[no] = t + 1
        no += 1
        t += 1
        active = 0
    state[0] = i
    state[1] = t
    state[2] = no
    state[3] = active
    state[4] = p
    state[5] = lo
    state[6] = hi
    state[7] = segdone
    return code


@jit
def level_write_run(c, st, batch, use_mem, slots, mstate, ii, lat, startup, buf, state):
    """A level writer's clock, as the loop version: crd and stop tokens are buffered and
    written ``batch`` at a time (a flush waits for memory, then the step); N is recorded
    without a step. ``state`` = [pos, clock, buffered, pending flush, crd writes, seg
    writes]. Returns 0 at D, 1 when the memory model must grow first (call again), -1
    when the stream ends before D."""
    i, t, nbuf, pending, cw, sw = state[0], state[1], state[2], state[3], state[4], state[5]
    n = len(c)
    code = -1
    while True:
        if pending:
            if use_mem:
                w8 = mem_wait(slots, mstate, ii, lat, startup, t, nbuf, buf, NO_HORIZON)
                if w8 < 0:
                    code = 1
                    break
                t = w8
            nbuf = 0
            pending = 0
            t += 1
            i += 1
        if i >= n:
            code = -1
            break
        tok = c[i]
        x = st[i]
        if x > t:
            t = x
        if tok == C_DONE:
            if nbuf and use_mem:
                w8 = mem_wait(slots, mstate, ii, lat, startup, t, nbuf, buf, NO_HORIZON)
                if w8 < 0:
                    code = 1
                    break
                t = w8
            code = 0
            break
        if tok <= STOP0:
            sw += 1
        elif tok == C_EMPTY:
            i += 1
            continue
        else:
            cw += 1
        nbuf += 1
        if nbuf >= batch:
            pending = 1
            continue
        t += 1
        i += 1
    state[0] = i
    state[1] = t
    state[2] = nbuf
    state[3] = pending
    state[4] = cw
    state[5] = sw
    return code


@jit
def val_write_run(c, st, wval, use_mem, slots, mstate, ii, lat, startup, buf, state):
    """A value writer's clock: each value is one blocking memory write of ``wval`` words
    (1 for scalars, B*B for tiles), an N one of a single word; stops only move the clock
    to their stamp. ``state`` = [pos, clock, words written]; returns as
    :func:`level_write_run`."""
    i, t, vw = state[0], state[1], state[2]
    n = len(c)
    code = -1
    while i < n:
        tok = c[i]
        x = st[i]
        if x > t:
            t = x
        if tok == C_DONE:
            code = 0
            break
        if tok <= STOP0:
            i += 1
            continue
        w = 1 if tok == C_EMPTY else wval
        if use_mem:
            w8 = mem_wait(slots, mstate, ii, lat, startup, t, w, buf, NO_HORIZON)
            if w8 < 0:
                code = 1
                break
            t = w8
        vw += w
        t += 1
        i += 1
    state[0] = i
    state[1] = t
    state[2] = vw
    return code
