"""Compiled loops (numba) for the recurrences numpy can only do in several passes or not at all.

Each function here is the plain sequential form of a clock recurrence; numba compiles it to
one pass over the stream. Without numba (an unusual install) the same functions run as
Python, correct but slow, so results never depend on whether the compiler is there.
"""

from __future__ import annotations

import numpy as np
from fuseflow.sim.fast.codes import C_DONE, C_EMPTY, C_N, C_R, C_S, C_VAL, STOP0
from fuseflow.sim.options import COMPILE

JIT_REQUESTED = COMPILE["jit"]  # EngineOptions.jit of the first simulation (ff sim --no-jit)
# The streaming engine's step functions run per token and twice as fast without
# bounds checks; EngineOptions.boundscheck (ff sim --boundscheck) checks them too (compiled
# afresh: numba's cache does not tell the two apart), as one CI run of the differential tests does.
CHECKED = COMPILE["boundscheck"]

try:  # pragma: no branch - numba is a declared dependency of ff-sim
    if not JIT_REQUESTED:
        raise ImportError
    from numba import njit as _njit

    def jit(fn):
        # bounds checked: an indexing bug raises instead of corrupting memory (cost not measurable)
        return _njit(cache=True, nogil=True, boundscheck=True)(fn)

    def jit_inline(fn):
        """``jit`` for a helper called per token from other compiled loops: inlined into
        them, so a call passes no array structures (and takes no reference counts)."""
        return _njit(cache=True, nogil=True, boundscheck=True, inline="always")(fn)

    def jit_hot(fn):
        """``jit`` for a per-token step function: bounds checked only when asked."""
        return _njit(cache=not CHECKED, nogil=True, boundscheck=CHECKED)(fn)

    def jit_float(fn):
        """``jit_hot`` with numpy's float semantics: x / 0 is inf or nan, as numpy gives
        it, instead of Python's ZeroDivisionError."""
        return _njit(cache=not CHECKED, nogil=True, boundscheck=CHECKED, error_model="numpy")(fn)

    # trailing-zero count of an int64 (LLVM's cttz); numba has no public name for it
    from numba.cpython.unsafe.numbers import trailing_zeros as ctz

    HAVE_JIT = True
except ImportError:  # pragma: no cover
    def jit(fn):
        return fn

    jit_inline = jit
    jit_hot = jit
    jit_float = jit

    def ctz(x):  # type: ignore[misc]  # the pure-Python stand-in of the numba intrinsic above
        x = int(x)
        return (x & -x).bit_length() - 1

    HAVE_JIT = False


@jit_inline
def bit64(k):
    """The int64 with bit k (0..63) alone set (bit 63 is the sign bit)."""
    return np.int64(1) << np.int64(k)


@jit
def maxplus_const(a, c, t0, out):
    """out[m] = t after ``t = max(t, a[m])``, then ``t += c``; from t = t0."""
    t = t0
    for m in range(len(a)):
        x = a[m]
        if x > t:
            t = x
        out[m] = t
        t += c
    return out


@jit
def maxplus_var(a, c, t0, out):
    """As :func:`maxplus_const` with a cost per step."""
    t = t0
    for m in range(len(a)):
        x = a[m]
        if x > t:
            t = x
        out[m] = t
        t += c[m]
    return out


@jit
def cummax_plus1(st, out):
    """out = running max of ``st``, plus one (a broadcast's output stamps)."""
    t = st[0] if len(st) else 0
    for m in range(len(st)):
        x = st[m]
        if x > t:
            t = x
        out[m] = t + 1
    return out


@jit
def repeat_sig_run(c, st, n_signals, out, u):
    """A repeat signal per crd token: S for a stop, N for an N (when ``n_signals``),
    else R; D last. Clock: one step per token."""
    t = 0
    K = len(out)
    for m in range(K):
        x = c[m]
        if x <= STOP0:
            out[m] = C_S
        elif n_signals and x == C_EMPTY:
            out[m] = C_N
        else:
            out[m] = C_R
        s = st[m]
        if s > t:
            t = s
        u[m] = t + 1
        t += 1
    out[K - 1] = C_DONE
    return t - 1


@jit
def repeat_run(g, gs, ic, ist, iv, has_vals, oc, ov, ou):
    """Repeat without N signals: an R re-emits the current unit's head, an S ends the unit
    (a payload and the stop after it, or a bare stop) and emits the stop one level up;
    D last. Returns the final clock, or -1 when the input is not this regular case."""
    K = len(g)
    n = len(ic)
    p = 0
    t = 0
    for m in range(K):
        if p >= n:
            return -1
        h = ic[p]
        x = gs[m]
        a = ist[p]
        if a > x:
            x = a
        nextp = p
        if m == K - 1:
            code = C_DONE
        else:
            sg = g[m]
            if sg == C_R:
                if h <= STOP0 or h == C_DONE:
                    return -1
                code = h
            elif sg == C_S:
                if h == C_DONE:
                    return -1
                if h <= STOP0:
                    code = h - 1
                    nextp = p + 1
                else:
                    pp = p + 1
                    if pp >= n:
                        return -1
                    a = ist[pp]
                    if a > x:
                        x = a
                    nx = ic[pp]
                    if nx <= STOP0:
                        code = nx - 1
                        nextp = p + 2
                    else:
                        code = STOP0
                        nextp = p + 1
            else:
                return -1
        oc[m] = code
        if has_vals:
            ov[m] = iv[p]
        if x > t:
            t = x
        ou[m] = t + 1
        t += 1
        p = nextp
    return t - 1


@jit
def val_gather(c, vals, batch, ov, oc, req, words):
    """A value array's pass over its refs: the value of each ref (N and stops pass, as
    codes), and the memory requests: one at each ref whose line of ``batch`` values is
    not the previous ref's. Returns (requests, refs), or (-1, 0) for a ref out of range."""
    nv = len(vals)
    nreq = 0
    nref = 0
    last = -1
    for m in range(len(c)):
        x = c[m]
        if x >= 0:
            if x >= nv:
                return -1, 0
            ov[m] = vals[x]
            oc[m] = C_VAL
            line = x // batch
            if line != last:
                req[nreq] = m
                w = nv - line * batch
                words[nreq] = batch if batch < w else w
                nreq += 1
                last = line
            nref += 1
        else:
            ov[m] = 0.0
            oc[m] = C_VAL if x == C_EMPTY else x
    return nreq, nref


@jit
def _flush_sorted(touched, ntouch, present, acc, cc, cv, cs, nout, stamp):
    """Out go the accumulated coordinates in increasing order, each at ``stamp``; their
    slots are cleared. Few coordinates: insertion sort; many: a scan of their range."""
    if ntouch == 0:
        return nout
    lo = touched[0]
    hi = touched[0]
    for q in range(1, ntouch):
        x = touched[q]
        if x < lo:
            lo = x
        if x > hi:
            hi = x
    if ntouch * ntouch > hi - lo + 1:
        for c in range(lo, hi + 1):
            if present[c]:
                cc[nout] = c
                cv[nout] = acc[c]
                cs[nout] = stamp
                present[c] = 0
                nout += 1
        return nout
    for q in range(1, ntouch):
        x = touched[q]
        r = q - 1
        while r >= 0 and touched[r] > x:
            touched[r + 1] = touched[r]
            r -= 1
        touched[r + 1] = x
    for q in range(ntouch):
        c = touched[q]
        cc[nout] = c
        cv[nout] = acc[c]
        cs[nout] = stamp
        present[c] = 0
        nout += 1
    return nout


@jit_inline
def accumulate(acc, present, touched, ntouch, i, x):
    """A spacc's dense accumulator after value ``x`` at coordinate ``i`` (a first value
    keeps its bits; ``touched`` lists the coordinates in order of first arrival); returns
    how many are touched."""
    if present[i]:
        acc[i] += x
        return ntouch
    acc[i] = x
    present[i] = 1
    touched[ntouch] = i
    return ntouch + 1


@jit
def spacc1_run(oc, ost, ic, ist, vc, vv, vst, acc, present, touched, cc, cv, cs):
    """The sparse accumulator of order 1, token by token as the loop version: sums per
    inner coordinate in stream order (float32; a first value keeps its bits), flushed in
    coordinate order at each outer stop. Returns (outputs, clock, adds), or (-1, 0, 0)
    when the input is not the regular scalar case (the loop then reports it)."""
    no = len(oc)
    ni = len(ic)
    io = 0
    ii = 0
    nout = 0
    ntouch = 0
    adds = 0
    outer_empty = True
    pre = False
    t = 0
    while True:
        if io >= no or ii >= ni:
            return -1, 0, 0
        o = oc[io]
        s = ost[io]
        if s > t:
            t = s
        i = ic[ii]
        s = ist[ii]
        if s > t:
            t = s
        s = vst[ii]
        if s > t:
            t = s
        if o >= 0:
            outer_empty = False
            if i >= 0:
                v = vc[ii]
                if v == C_VAL:
                    x = vv[ii]
                elif v == C_EMPTY:
                    x = np.float32(0.0)
                else:
                    return -1, 0, 0
                ntouch = accumulate(acc, present, touched, ntouch, i, x)
                adds += 1
                ii += 1
            elif i <= STOP0:
                io += 1
                ii += 1
            elif i == C_EMPTY:
                ii += 1
                if ii >= ni:
                    return -1, 0, 0
                s = ist[ii]
                if s > t:
                    t = s
                if ic[ii] > STOP0:
                    io += 1
            else:
                return -1, 0, 0
        elif o <= STOP0:
            if outer_empty and not pre and i <= STOP0 and i == o - 1:
                ii += 1
            pre = False
            nout = _flush_sorted(touched, ntouch, present, acc, cc, cv, cs, nout, t + 1)
            ntouch = 0
            cc[nout] = o
            cv[nout] = 0.0
            cs[nout] = t + 1
            nout += 1
            io += 1
            outer_empty = True
            if ii >= ni or io >= no:
                return -1, 0, 0
            s = ist[ii]
            if s > t:
                t = s
            s = ost[io]
            if s > t:
                t = s
            i2 = ic[ii]
            o2 = oc[io]
            if i2 <= STOP0 and o2 <= STOP0 and i2 == o2 - 1:
                s = vst[ii]
                if s > t:
                    t = s
                ii += 1
                pre = True
        elif o == C_DONE:
            if i == C_DONE:
                cc[nout] = C_DONE
                cv[nout] = 0.0
                cs[nout] = t + 1
                return nout + 1, t, adds
            ii += 1
        else:
            return -1, 0, 0
        t += 1


@jit
def locate_run(c, cs, has_ref, r, rs, has_base, b, bs, dim, loc, u):
    """located = base * dim + crd, token for token (N where the base is N; stops, N and D
    pass), at one step per token after all three inputs arrived. Returns the final
    clock, or -1 when the inputs do not line up (the loop reports it)."""
    t = 0
    for m in range(len(loc)):
        x = c[m]
        s = cs[m]
        if has_ref:
            y = r[m]
            if (x < 0 and y != x) or (x >= 0 and y == C_DONE):
                return -1
            if rs[m] > s:
                s = rs[m]
        out = x
        if has_base:
            z = b[m]
            if x < 0:
                if z != x:
                    return -1
            elif z == C_EMPTY:
                out = C_EMPTY
            elif z < 0:
                return -1
            else:
                out = z * dim + x
            if bs[m] > s:
                s = bs[m]
        loc[m] = out
        if s > t:
            t = s
        u[m] = t + 1
        t += 1
    return t - 1


@jit_inline
def _fold(acc, cnt, v, is_max):
    """A reducer's accumulator after value ``v`` (the first value starts it)."""
    if cnt == 0:
        return v
    if is_max:
        return np.maximum(acc, v)
    return acc + v


@jit_inline
def _emit(oc, ov, os_, no, code, at):
    """A token without a value (a stop or D) at ``at``."""
    oc[no] = code
    ov[no] = 0.0
    os_[no] = at
    return no + 1


@jit_inline
def _emit_fiber(oc, ov, os_, no, acc, cnt, is_max, at):
    """A closed fiber's value (N for a max over nothing, 0 for an empty sum) at ``at``."""
    oc[no] = C_EMPTY if (is_max and cnt == 0) else C_VAL
    ov[no] = acc if cnt else np.float32(0.0)
    os_[no] = at
    return no + 1


@jit
def reduce_run(codes, vals, st, is_max, L, oc, ov, os_):
    """A scalar reduce without a parent crd: per fiber the sum (or max) of its values in
    stream order (float32, from its first value), out at its stop (+L), then the stop one
    level down for an inner stop; N costs no step. Returns (outputs, clock, values), or
    (-1, 0, 0) for a token this case does not take."""
    t = 0
    acc = np.float32(0.0)
    cnt = 0
    no = 0
    nvals = 0
    for m in range(len(codes)):
        x = codes[m]
        s = st[m]
        if s > t:
            t = s
        if x == C_VAL:
            acc = _fold(acc, cnt, vals[m], is_max)
            cnt += 1
            nvals += 1
        elif x <= STOP0:
            no = _emit_fiber(oc, ov, os_, no, acc, cnt, is_max, t + L)
            if x < STOP0:
                no = _emit(oc, ov, os_, no, x + 1, t + 1)
            acc = np.float32(0.0)
            cnt = 0
        elif x == C_DONE:
            return _emit(oc, ov, os_, no, C_DONE, t + 1), t, nvals
        elif x == C_EMPTY:
            continue
        else:
            return -1, 0, 0
        t += 1
    return -1, 0, 0


@jit
def reduce_parent_run(pc, pst, codes, vals, st, is_max, L, oc, ov, os_):
    """A scalar reduce with its parent's coordinates (the loop's ``_reduce_with_parent``):
    one value per parent coordinate, a parent stop passes with the values' stop one level
    up. Returns (outputs, clock, values), or (-1, 0, 0) for anything else (the loop raises
    the reference's error). ``codes`` ends with its D, and every path that reads the D
    returns, so the walk never runs past it."""
    t = 0
    no = 0
    nvals = 0
    i = 0
    j = 0
    npar = len(pc)
    while j < npar:
        p = pc[j]
        if pst[j] > t:
            t = pst[j]
        j += 1
        if p == C_DONE:
            if st[i] > t:
                t = st[i]
            if codes[i] != C_DONE:
                return -1, 0, 0
            return _emit(oc, ov, os_, no, C_DONE, t + 1), t, nvals
        if p <= STOP0:
            x = codes[i]
            if st[i] > t:
                t = st[i]
            i += 1
            if x != p - 1:  # the values' stop one level up
                return -1, 0, 0
            no = _emit(oc, ov, os_, no, p, t + 1)
            t += 1
            continue
        if p < 0:
            return -1, 0, 0
        acc = np.float32(0.0)
        cnt = 0
        while True:
            x = codes[i]
            if st[i] > t:
                t = st[i]
            i += 1
            if x <= STOP0:
                no = _emit_fiber(oc, ov, os_, no, acc, cnt, is_max, t + L)
                if x < STOP0:
                    if j >= npar:
                        return -1, 0, 0
                    q = pc[j]
                    if pst[j] > t:
                        t = pst[j]
                    j += 1
                    if q != x + 1:
                        return -1, 0, 0
                    no = _emit(oc, ov, os_, no, x + 1, t + 1)
                t += 1
                break
            if x == C_EMPTY:
                continue
            if x != C_VAL:
                return -1, 0, 0
            acc = _fold(acc, cnt, vals[i - 1], is_max)
            cnt += 1
            nvals += 1
            t += 1
    return -1, 0, 0


@jit
def _past_stop(c, cs, rs, p, s, t):
    """A joiner input after a stop ``s`` went out: its head is taken; an N head before an
    inner stop takes that stop too (which must be ``s``). Returns (position, clock), or
    (-1, t) when the stream ends or the stop differs."""
    h = c[p]
    p += 1
    if h == C_EMPTY and s < STOP0:
        if p >= len(c):
            return -1, t
        if cs[p] > t:
            t = cs[p]
        if c[p] != s or p >= len(rs):
            return -1, t
        if rs[p] > t:
            t = rs[p]
        p += 1
    return p, t


@jit
def join2_run(union, c0, cs0, r0, rs0, v0, c1, cs1, r1, rs1, v1, oc, ocs, o0, ov0, o1, ov1):
    """A two-input intersect (or union), token by token as the loop version: equal heads
    pass together; otherwise the smaller coordinate is taken (a union also emits it, with
    N for the input that lacks it); stops of one level pass once, an N before an inner
    stop is dropped with it. Refs (or values, ``v0``/``v1``) travel with their crd.
    Returns (outputs, clock), (-1, 0) when an input ends early or the heads are out of
    step (the loop reports it)."""
    n0 = len(c0)
    n1 = len(c1)
    p0 = 0
    p1 = 0
    no = 0
    t = 0
    while True:
        if p0 >= n0 or p1 >= n1 or p0 >= len(r0) or p1 >= len(r1):
            return -1, 0
        h0 = c0[p0]
        h1 = c1[p1]
        if cs0[p0] > t:
            t = cs0[p0]
        if cs1[p1] > t:
            t = cs1[p1]
        if rs0[p0] > t:
            t = rs0[p0]
        if rs1[p1] > t:
            t = rs1[p1]
        pay0 = h0 >= 0
        pay1 = h1 >= 0
        t1 = t + 1
        if h0 == h1:
            oc[no] = h0
            ocs[no] = t1
            o0[no] = r0[p0]
            ov0[no] = v0[p0]
            o1[no] = r1[p1]
            ov1[no] = v1[p1]
            no += 1
            p0 += 1
            p1 += 1
            if h0 == C_DONE:
                return no, t
        elif pay0 or pay1:
            if pay0 and pay1:
                m = h0 if h0 < h1 else h1
            else:
                m = h0 if pay0 else h1
            take0 = pay0 and h0 == m
            take1 = pay1 and h1 == m
            if union:
                oc[no] = m
                ocs[no] = t1
                if take0:
                    o0[no] = r0[p0]
                    ov0[no] = v0[p0]
                else:
                    o0[no] = C_EMPTY
                    ov0[no] = 0.0
                if take1:
                    o1[no] = r1[p1]
                    ov1[no] = v1[p1]
                else:
                    o1[no] = C_EMPTY
                    ov1[no] = 0.0
                no += 1
            if take0:
                p0 += 1
            if take1:
                p1 += 1
        else:
            if h0 == C_DONE or h1 == C_DONE:
                return -1, 0
            if h0 <= STOP0 and h1 <= STOP0:
                return -1, 0  # two different stop levels
            if h0 <= STOP0:
                s = h0
            elif h1 <= STOP0:
                s = h1
            else:
                return -1, 0  # no stop among the heads
            oc[no] = s
            ocs[no] = t1
            o0[no] = s
            ov0[no] = 0.0
            o1[no] = s
            ov1[no] = 0.0
            no += 1
            p0, t = _past_stop(c0, cs0, rs0, p0, s, t)
            if p0 < 0:
                return -1, 0
            p1, t = _past_stop(c1, cs1, rs1, p1, s, t)
            if p1 < 0:
                return -1, 0
        t += 1
