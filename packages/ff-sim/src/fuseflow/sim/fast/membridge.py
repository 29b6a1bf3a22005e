"""Running a compiled memory client against the shared HBM model.

The compiled loops (jitmem.py) read and take slots in the model's own bitmap (a numpy
array, blocks x channels); they cannot grow it, so they stop and say how many blocks
are needed, and :func:`drive` grows the model and calls again (each loop keeps its state
between calls).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from fuseflow.sim.fast.jitmem import client_walk

I64 = np.int64
_NO_SLOTS = np.zeros((0, 1), I64)

# step(slots, mstate, ii, lat, startup, buf) -> code; mstate = the client's [next
# channel, grow channel, grow blocks]; code 1: grow the model as mstate says, then call again
Step = Callable[..., int]


def drive(run: Any, step: Step, max_words: int) -> int:
    """Call ``step`` until it is done; returns its last code. Without the memory model it
    gets an empty bitmap and must not touch it. The model (``fast.memory.FastMemory``)
    keeps its state in the arrays ``step`` gets."""
    mem = run.memory
    if mem is None:
        return int(step(_NO_SLOTS, np.zeros(3, I64), 1, 0, 0, np.zeros((2, 1), I64)))
    buf = mem.buffer(max_words)
    mstate = mem.client(run.node.id)
    while True:
        code = step(mem.slots, mstate, mem.ii, mem.lat, mem.startup, buf)
        if code != 1:
            return int(code)
        mem._grow(int(mstate[1]), int(mstate[2]))


def client_clocks(run: Any, s: np.ndarray, req: np.ndarray, words: np.ndarray) -> np.ndarray:
    """Clocks plus one of a memory client that steps ``t = max(t, s_j); t += 1`` and, at
    the tokens ``req``, first waits for a request of ``words``: ``t = max(t, access(t, w))``,
    the model's answer (its state is updated in place, as ``Memory.access`` does)."""
    u = np.empty(len(s), I64)
    pos = [0, 0, 0]  # token, clock, request: where a walk that had to stop resumes

    def step(slots, mstate, ii, lat, startup, buf):  # type: ignore[no-untyped-def]  # a numba-compiled loop over arrays
        m, t, k, grow = client_walk(s, req, words, pos[0], pos[1], pos[2], u, slots, mstate,
                                    ii, lat, startup, buf)
        pos[:] = m, t, k
        return 1 if grow else 0

    drive(run, step, int(words.max()) if len(words) else 1)
    return u
