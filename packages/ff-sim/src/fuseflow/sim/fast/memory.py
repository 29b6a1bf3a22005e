"""The compiled answer of the HBM model (``fuseflow.sim.memory.Memory``) to one request."""

from __future__ import annotations

from fuseflow.sim.fast.jit import jit
from fuseflow.sim.fast.jitmem import NO_HORIZON, mem_access


@jit
def access(slots, mstate, ii, lat, startup, t, w, buf):
    return mem_access(slots, mstate, ii, lat, startup, t, w, buf, NO_HORIZON)
