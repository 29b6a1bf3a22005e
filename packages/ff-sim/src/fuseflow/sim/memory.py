"""The off-chip memory model (Comal's HBM): channels with latency, II and a start-up cost.

Each word is one request. A client (a primitive, by node id) walks the channels round-robin
from channel ``id % channels``; a channel serves one word per ``initiation_interval`` cycles in
fixed slots from cycle ``startup`` on, and a request takes the first free slot at or after its
issue time. A client's answers depend only on its own requests and the slots lower-id clients
took: that lets the fast engine stream a kernel (docs/fast-engine.md, "Streaming").
"""

from __future__ import annotations

import numpy as np
from fuseflow.sim.hw import MemoryConfig

_B = 64  # slots per block: one int64 of the bitmap per channel


class Memory:
    """``slots``: blocks x channels int64, slot j of channel c in bit j % 64 of
    ``slots[j // 64 - base, c]``. Each client has its own ``mstate`` = [next channel, grow
    channel, grow blocks, first block] (:meth:`client`). Row 0 is block ``base``:
    :meth:`advance` drops the blocks no request can reach any more."""

    def __init__(self, cfg: MemoryConfig) -> None:
        from fuseflow.sim.fast.jitmem import access

        self._access = access  # imported here: importing the model does not fix how loops compile
        self.n = max(1, cfg.channels)
        self.ii = max(1, cfg.initiation_interval)
        self.lat = cfg.latency
        self.startup = cfg.startup
        self.slots = np.zeros((16, self.n), np.int64)
        self.clients: dict[int, np.ndarray] = {}
        self.base = 0  # the block that row 0 of ``slots`` holds
        self._bufs: dict[int, np.ndarray] = {}  # per client: clients may run at once

    def client(self, cid: int) -> np.ndarray:
        """Client ``cid``'s state: its next channel starts at ``cid % channels``."""
        if cid not in self.clients:
            self.clients[cid] = np.array([cid % self.n, 0, 0, self.base], np.int64)
        return self.clients[cid]

    def advance(self, slot: int) -> None:
        """No request searches below ``slot`` any more (every client's clock passed it): once the
        blocks below it are half the bitmap, drop them (it holds the slots between the clocks)."""
        dead = min(slot // _B - self.base, nb := len(self.slots))
        if 2 * dead < nb:
            return
        live = nb - dead
        self.slots[:live] = self.slots[dead:]
        self.slots[live:] = 0
        self.base += dead
        for ms in self.clients.values():
            ms[3] = self.base

    def _grow(self, c: int, blocks: int) -> None:
        """At least ``blocks`` blocks per channel (every channel grows together, at least doubling)."""
        nb = len(self.slots)
        if blocks > nb:
            self.slots = np.concatenate([self.slots, np.zeros((max(blocks, 2 * nb) - nb, self.n), np.int64)])

    def buffer(self, words: int, client: int = 0) -> np.ndarray:
        """Client ``client``'s scratch room for the slots (and channels) a request of ``words`` takes."""
        if client not in self._bufs or self._bufs[client].shape[1] < words:
            self._bufs[client] = np.empty((2, max(words, 8)), np.int64)
        return self._bufs[client]

    def access(self, t: int, words: int, client: int = 0) -> int:
        """The cycle the last of client ``client``'s ``words`` word requests at cycle ``t`` completes."""
        buf = self.buffer(words, client)
        mstate = self.client(client)
        while True:
            done = int(self._access(self.slots, mstate, self.ii, self.lat, self.startup, t, words, buf))
            if done >= 0:
                return done
            self._grow(int(mstate[1]), int(mstate[2]))
