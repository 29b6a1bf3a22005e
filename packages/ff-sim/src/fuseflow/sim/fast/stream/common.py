"""What the step functions and the streaming engine agree on: queue and state layouts,
status codes, and helpers the step functions share.

A queue is ``Q`` (2 x cap int64: codes, then stamps), ``V`` (cap float32: the values of
``C_VAL`` codes) and a row of ``ctl``: [head, end, cap, base] (``base + end``: tokens ever pushed).
A step function runs until it cannot go on, returns why, and commits whole iterations only.
"""

from __future__ import annotations

from fuseflow.sim.fast.jit import jit_inline
from fuseflow.sim.fast.jitmem import NO_HORIZON, mem_access

# ctl columns
HEAD, END, CAP, BASE = 0, 1, 2, 3

# what a step function returns
DONE = 0  # it emitted its D
NEED_IN = 1  # rep[0]: the input queue it waits on
NEED_OUT = 2  # rep[0]: the output queue, rep[1]: the free room it needs
MEM_WAIT = 3  # a memory answer is not final yet (a lower-id client may still take its slots)
MEM_GROW = 4  # the memory model's bitmap must grow first (the client's mstate says how)
GROW_STATE = 5  # its accumulator must hold rep[1] coordinates
IRREGULAR = -1  # an input the streaming path does not take: rerun the kernel whole

# state array: clock, the nine Counters fields in order, then the kind's own slots
T = 0
ALU_OPS, REDUCE_OPS, FLOPS, VAL_READS, VAL_WRITES, CRD_READS, SEG_READS, CRD_WRITES, SEG_WRITES = range(1, 10)
K0 = 10
STATE_SLOTS = 20


@jit_inline
def put(Q, V, e, code, stamp, val):
    """Token ``code`` (value ``val``) at ``e`` of a queue, stamped ``stamp``; returns ``e + 1``."""
    Q[0, e] = code
    Q[1, e] = stamp
    V[e] = val
    return e + 1


@jit_inline
def full(rep, q, need):
    """NEED_OUT, saying which output queue and how much room it needs."""
    rep[0] = q
    rep[1] = need
    return NEED_OUT


@jit_inline
def push(ctl, q, Q, V, code, stamp, val):
    """Appends token ``code`` (value ``val``) stamped ``stamp`` to queue ``q`` (room checked)."""
    ctl[q, END] = put(Q, V, ctl[q, END], code, stamp, val)


@jit_inline
def begin(ctl, qi, qo, st, rep):
    """A step's clock, the head and end of input ``qi``, the end and capacity of output ``qo``,
    and its status until it finds another: NEED_IN, waiting on ``qi``."""
    rep[0] = qi
    return st[T], ctl[qi, HEAD], ctl[qi, END], ctl[qo, END], ctl[qo, CAP], NEED_IN


@jit_inline
def waiting(rep, qs, hs, ns):
    """Whether a read position ``hs[k]`` is at its queue's end ``ns[k]``; rep[0]: the first such queue."""
    for k in range(len(qs)):
        if hs[k] >= ns[k]:
            rep[0] = qs[k]
            return True
    return False


@jit_inline
def settle(ctl, ins, heads, outs, ends, st, t, status):
    """Writes a step's local queue positions (``heads`` of ``ins``, ``ends`` of ``outs``) and
    clock ``t`` back; returns ``status``."""
    for k in range(len(ins)):
        ctl[ins[k], HEAD] = heads[k]
    for k in range(len(outs)):
        ctl[outs[k], END] = ends[k]
    st[T] = t
    return status


@jit_inline
def starved(ctl, rep, qs):
    """Whether a queue of ``qs`` has no token to read; rep[0]: the first such."""
    for q in qs:
        if ctl[q, HEAD] >= ctl[q, END]:
            rep[0] = q
            return True
    return False


@jit_inline
def cramped(ctl, rep, qs, need):
    """Whether a queue of ``qs`` lacks room for ``need`` tokens; ``rep`` as ``full`` sets it."""
    for q in qs:
        if ctl[q, CAP] - ctl[q, END] < need:
            full(rep, q, need)
            return True
    return False


@jit_inline
def mem_wait(mem, t, w):
    """The client's clock after a blocking request of ``w`` words at ``t`` (``t`` without a memory
    model); with nothing taken, -MEM_GROW (the model must grow first) or -MEM_WAIT (past the horizon).
    ``mem``: (memory on, slots, mstate, ii, latency, startup, buf, horizon)."""
    use_mem, slots, mstate, ii, lat, startup, buf, hz = mem
    if not use_mem:
        return t
    done = mem_access(slots, mstate, ii, lat, startup, t, w, buf, hz)
    return max(done, t) if done >= 0 else (-MEM_GROW if done == -1 else -MEM_WAIT)


@jit_inline
def count(st, slot, n):
    """``n`` operations on counter ``slot``, each also a FLOP."""
    st[slot] += n
    st[FLOPS] += n


@jit_inline
def log_event(ev, nev, a, b):
    """Event ``nev`` (a, b) of a spacc's log when it keeps one (boxed values); the new count."""
    if ev.shape[1] == 0:
        return nev
    ev[0, nev] = a
    ev[1, nev] = b
    return nev + 1


__all__ = ["NO_HORIZON"]  # for the engine
