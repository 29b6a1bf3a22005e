"""The fast engine's HBM model: the reference's :class:`fuseflow.sim.memory.Memory` (same
first-fit slots, same answers) with its bitmaps in numpy arrays.

A ``bytearray`` is zeroed in full and copied channel by channel each time the bitmaps
grow; ``np.zeros`` leaves fresh pages for the OS to zero on first touch. Every request,
from compiled clients and from the Python loops alike, goes through the compiled
``mem_access``; ``test_memory_model_equivalent`` checks it against the slot-dict
specification, and the engine tests against the reference's ``Memory``.
"""

from __future__ import annotations

import numpy as np
from fuseflow.sim.fast.jit import jit
from fuseflow.sim.fast.jitmem import mem_access
from fuseflow.sim.hw import MemoryConfig
from fuseflow.sim.memory import Memory

_B = 64  # slots per summary block (as in fuseflow.sim.memory)


@jit
def _access(slots, fulls, ready, mstate, ii, lat, startup, t, w, buf):
    return mem_access(slots, fulls, ready, mstate, ii, lat, startup, t, w, buf)


class FastMemory(Memory):
    """``slots``: channels x cap bytes; ``full``: channels x cap/64; ``ready``: int64 per
    channel (-1 before its first request); ``mstate`` = [round robin, grow channel, grow
    blocks], the state compiled clients share (``membridge.drive``)."""

    def __init__(self, cfg: MemoryConfig) -> None:
        super().__init__(cfg)
        self.slots = np.zeros((self.n, self.cap), np.uint8)  # type: ignore[assignment]
        self.full = np.zeros((self.n, self.cap // _B), np.uint8)  # type: ignore[assignment]
        self.ready = np.full(self.n, -1, np.int64)  # type: ignore[assignment]
        self.mstate = np.zeros(3, np.int64)
        self._buf = np.empty((self.n, 1), np.int64)

    @property  # type: ignore[override]
    def rr(self) -> int:
        return int(self.mstate[0])

    @rr.setter
    def rr(self, value: int) -> None:
        if hasattr(self, "mstate"):  # Memory.__init__ sets it before mstate exists
            self.mstate[0] = value

    def channel(self, c: int) -> bytes:
        return bytes(self.slots[c])

    def _grow(self, c: int, blocks: int) -> None:
        nb = self.blocks
        if blocks <= nb:
            return
        new_nb = max(blocks, 2 * nb)  # geometric: amortised O(1) per slot
        slots = np.zeros((self.n, new_nb * _B), np.uint8)
        slots[:, :self.cap] = self.slots
        full = np.zeros((self.n, new_nb), np.uint8)
        full[:, :nb] = self.full
        self.slots, self.full, self.cap = slots, full, new_nb * _B  # type: ignore[assignment]

    def buffer(self, words: int) -> np.ndarray:
        """Scratch room for the slots of a request of ``words`` (per channel)."""
        per = max(1, -(-words // self.n))
        if self._buf.shape[1] < per:
            self._buf = np.empty((self.n, per), np.int64)
        return self._buf

    def access(self, t: int, words: int) -> int:
        buf = self.buffer(words)
        while True:
            done = _access(self.slots, self.full, self.ready, self.mstate, self.ii, self.lat, self.startup,
                           t, words, buf)
            if done >= 0:
                return int(done)
            self._grow(int(self.mstate[1]), int(self.mstate[2]))
