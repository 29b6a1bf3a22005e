"""Writers of a kernel's output tensor: one level writer per storage level, one value writer."""

from __future__ import annotations

from typing import Any

import numpy as np
from fuseflow.sim.prims.common import DONE, is_payload, is_stop
from fuseflow.sim.process import Proc, Wait


class LevelWrite(Proc):
    """Records a level's crd stream (coordinates, stops, N) for the output tensor.

    Cost: 1 per coordinate and per stop (Comal charges only the first of consecutive
    stops, because it drops the empty fibers they close); N is free. Words go off-chip
    in batches.
    """

    def run(self) -> Wait:
        a = self.node.attrs
        rec: list[Any] = self.ctx.levels.setdefault(a.tensor, {}).setdefault(a.level, [])
        batch = max(1, self.ctx.hw.memory.write_batch)
        inp = self.ins["crd"]
        buf = 0
        while True:
            tok = yield from self.deq(inp)
            if tok is DONE:
                self.ctx.mem(self, buf)  # the last partial batch (none: no access)
                return
            rec.append(tok)
            if is_payload(tok):
                self.counters.crd_writes += 1
            elif is_stop(tok):
                self.counters.seg_writes += 1
            else:
                continue
            buf += 1
            if buf >= batch:
                self.ctx.mem(self, buf)
                buf = 0
            self.t += 1
            if self.busy is not None:
                self.mark(self.t - 1)


class ValWrite(Proc):
    """Records the output values in order; N is written as 0 (Comal skips it). Each value
    is one blocking round trip to memory; the final D costs one more cycle."""

    def run(self) -> Wait:
        rec: list[Any] = self.ctx.value_record(self.node.attrs.tensor)
        inp = self.ins["val"]
        while True:
            tok = yield from self.deq(inp)
            if tok is DONE:
                self.t += 1
                return
            if is_stop(tok):
                continue
            words = int(tok.size) if isinstance(tok, np.ndarray) and tok.ndim > 0 else 1  # N: 1
            rec.append(tok)
            self.counters.val_writes += words
            self.ctx.mem(self, words)
            self.t += 1
            if self.busy is not None:
                self.mark(self.t - 1)
