"""Columnar level and value writers: the clock in a compiled loop (jit.py), the tokens
recorded for the output tensor exactly as the loop versions record them."""

from __future__ import annotations

import numpy as np
from fuseflow.sim.fast.col import I64, STOP0, Col, to_done
from fuseflow.sim.fast.jitmem import level_write_run, val_write_run
from fuseflow.sim.fast.membridge import drive
from fuseflow.sim.fast.rebuild import record_level, record_values


def level_write(run, node, ins):
    cin = to_done(ins["crd"])
    if cin is None or cin[0].vals is not None:
        return None
    col, st, end = cin
    # one compiled version for every coordinate width (about 2 s of compiling each):
    # a writer's stream is as long as its output, which is materialized anyway
    c = col.codes[:end].astype(I64, copy=False)
    batch = max(1, run.ctx.hw.memory.write_batch)
    use_mem = run.access is not None
    state = np.zeros(6, I64)

    def step(slots, mstate, ii, lat, startup, buf):
        return level_write_run(c, st, batch, use_mem, slots, mstate, ii, lat, startup, buf, state)

    if drive(run, step, batch) != 0:
        raise AssertionError("level writer stopped before its D")
    a = node.attrs
    record_level(run.ctx, a.tensor, a.level, Col(c[:end - 1]))
    run.t = int(state[1])
    run.counters.crd_writes += int(state[4])
    run.counters.seg_writes += int(state[5])
    return {}


def val_write(run, node, ins):
    cin = to_done(ins["val"])
    if cin is None:
        return None
    col, st, end = cin
    c = col.codes[:end]
    if np.any(c >= 0) or (col.vals is None and np.any(c[:-1] > STOP0)):
        return None  # payload coordinates or values without a value column: the loop
    value_write_clock(run, c, st, 1)
    record_values(run.ctx, node.attrs.tensor, Col(c[:end - 1], None if col.vals is None else col.vals[:end - 1]))
    return {}


def value_write_clock(run, c, st, wval):
    """A value writer's clock and write count from its codes (D last), compiled
    (:func:`jitmem.val_write_run`): ``wval`` words per value, for scalars and tiles."""
    use_mem = run.access is not None
    state = np.zeros(3, I64)

    def step(slots, mstate, ii, lat, startup, buf):
        return val_write_run(c, st, wval, use_mem, slots, mstate, ii, lat, startup, buf, state)

    if drive(run, step, wval) != 0:
        raise AssertionError("value writer stopped before its D")
    run.t = int(state[1]) + 1
    run.counters.val_writes += int(state[2])
