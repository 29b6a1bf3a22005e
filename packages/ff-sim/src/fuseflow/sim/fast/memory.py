"""The fast engine's HBM model: the reference's :class:`fuseflow.sim.memory.Memory` (same
first-fit slots, same answers) with its bitmap in a numpy array, a bit per slot.

A ``bytearray`` is zeroed in full and copied channel by channel each time the bitmaps
grow; ``np.zeros`` leaves fresh pages for the OS to zero on first touch, and a bit per
slot is 8x less of them. Every request, from compiled clients and from the Python loops
alike, goes through the compiled ``mem_access``; ``test_memory_model_equivalent`` checks
it against the slot-dict specification, and the engine tests against the reference's
``Memory``.
"""

from __future__ import annotations

import numpy as np
from fuseflow.sim.fast.jit import jit
from fuseflow.sim.fast.jitmem import NO_HORIZON, mem_access
from fuseflow.sim.hw import MemoryConfig
from fuseflow.sim.memory import Memory

_B = 64  # slots per block: one int64 of the bitmap per channel


@jit
def _access(slots, mstate, ii, lat, startup, t, w, buf):
    return mem_access(slots, mstate, ii, lat, startup, t, w, buf, NO_HORIZON)


class FastMemory(Memory):
    """``slots``: blocks x channels int64, slot j of channel c in bit j % 64 of
    ``slots[j // 64, c]`` (``cap`` = 64 x blocks slots per channel). Each client has its
    own ``mstate`` = [next channel, grow channel, grow blocks] (:meth:`client`), which
    compiled clients get (``membridge.drive``). A bit per slot is 8x less than the
    reference's byte (fewer fresh pages to fault in, less to copy when it grows), and the
    channels' words of one block share a cache line, as the words of one request do. A
    block of all ones plays the reference's "block full" mark."""

    def __init__(self, cfg: MemoryConfig) -> None:
        super().__init__(cfg)
        self.slots = np.zeros((self.cap // _B, self.n), np.int64)  # type: ignore[assignment]  # the fast model keeps a bit array where the reference keeps bytes
        self.clients: dict[int, np.ndarray] = {}
        self._buf = np.empty((2, 8), np.int64)

    def client(self, cid: int) -> np.ndarray:
        """Client ``cid``'s state: its next channel starts at ``cid % channels``."""
        ms = self.clients.get(cid)
        if ms is None:
            ms = self.clients[cid] = np.array([cid % self.n, 0, 0], np.int64)
        return ms

    def channel(self, c: int) -> bytes:
        words = np.ascontiguousarray(np.asarray(self.slots)[:, c]).astype("<i8")
        return np.unpackbits(words.view(np.uint8), bitorder="little").tobytes()

    def _grow(self, c: int, blocks: int) -> None:
        nb = self.blocks
        if blocks <= nb:
            return
        new_nb = max(blocks, 2 * nb)  # geometric: amortised O(1) per slot
        slots = np.zeros((new_nb, self.n), np.int64)
        slots[:nb] = self.slots
        self.slots, self.cap = slots, new_nb * _B  # type: ignore[assignment]  # the fast model keeps a bit array where the reference keeps bytes

    def buffer(self, words: int) -> np.ndarray:
        """Scratch room for the slots (and channels) a request of ``words`` takes."""
        if self._buf.shape[1] < words:
            self._buf = np.empty((2, words), np.int64)
        return self._buf

    def access(self, t: int, words: int, client: int = 0) -> int:
        buf = self.buffer(words)
        mstate = self.client(client)
        while True:
            done = _access(self.slots, mstate, self.ii, self.lat, self.startup, t, words, buf)
            if done >= 0:
                return int(done)
            self._grow(int(mstate[1]), int(mstate[2]))
