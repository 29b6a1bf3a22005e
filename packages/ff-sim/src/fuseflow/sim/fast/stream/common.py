"""What the step functions and the streaming engine agree on: queue and state layouts,
status codes, and the memory request that waits for lower-id clients.

A queue is two arrays, ``Q`` (2 x cap int64: codes, then stamps) and ``V`` (cap float32:
the values of ``C_VAL`` codes), plus a row of ``ctl``: [head, end, cap, base]. The
producer writes at ``end`` while ``end < cap``; the consumer reads from ``head``; the
engine moves the unread rest to the front between calls (``base`` counts what was
dropped, so ``base + end`` is every token ever pushed) and grows a queue when the graph
would otherwise stall.

A step function runs its primitive until it cannot go on, and returns why. It commits
whole iterations of the reference process only: an iteration that lacks an input token,
output room or a final memory answer leaves clock, state and queues as they were, so
calling again later redoes it from the start.
"""

from __future__ import annotations

from fuseflow.sim.fast.jit import jit_inline
from fuseflow.sim.fast.jitmem import NO_HORIZON, mem_wait

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
    """Token ``code`` (value ``val``) at ``e`` of a queue, stamped ``stamp``."""
    Q[0, e] = code
    Q[1, e] = stamp
    V[e] = val


@jit_inline
def full(rep, q, need):
    """NEED_OUT, saying which output queue and how much room it needs."""
    rep[0] = q
    rep[1] = need
    return NEED_OUT


@jit_inline
def push(ctl, q, Q, code, stamp):
    """Appends token ``code`` stamped ``stamp`` to queue ``q`` (its room checked before);
    returns where it went, for the caller's value."""
    e = ctl[q, END]
    Q[0, e] = code
    Q[1, e] = stamp
    ctl[q, END] = e + 1
    return e


@jit_inline
def starved(ctl, qs):
    """The first queue of ``qs`` with no token to read, or -1."""
    for q in qs:
        if ctl[q, HEAD] >= ctl[q, END]:
            return q
    return -1


@jit_inline
def cramped(ctl, qs, need):
    """The first queue of ``qs`` without room for ``need`` tokens, or -1."""
    for q in qs:
        if ctl[q, CAP] - ctl[q, END] < need:
            return q
    return -1


__all__ = ["NO_HORIZON", "cramped", "full", "mem_wait", "push", "put", "starved"]
