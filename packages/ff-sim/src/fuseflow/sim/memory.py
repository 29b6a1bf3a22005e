"""The off-chip memory model (Comal's HBM): channels with latency, II and a start-up cost.

Each word is one request. Each client (a primitive, named by its node id) walks the
channels round-robin from channel ``id % channels``, as consecutive addresses of its
array interleave over them. A channel serves one word per ``initiation_interval``
cycles in fixed slots, from cycle ``startup`` on; a request takes the first free slot at
or after its issue time (first-fit in time, so a client that runs ahead in the
simulator's processing order does not push earlier requests of other clients back).

A client's answers depend only on its own requests and on the slots that clients with
lower ids took: no state is shared across clients but the slots. That is what lets the
fast engine stream a kernel (docs/fast-engine.md, "Streaming"): the answer to a request
is final once every lower-id client's clock has passed the slots it searched.

:class:`Memory`, the model both engines use, keeps the taken slots as a bitmap and answers
through the compiled ``fast.jitmem.mem_access`` (the streaming engine's step functions
inline the same function), so the model is implemented once. The tests check it against
``SlotDictMemory`` (tests/sim_testlib.py), the model as first written: a union-find dict
of taken slots per channel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fuseflow.sim.hw import MemoryConfig

_B = 64  # slots per block: one int64 of the bitmap per channel


_COMPILED: list[Any] = []


def _access(slots: np.ndarray, mstate: np.ndarray, ii: int, lat: int, startup: int, t: int, w: int,
            buf: np.ndarray) -> int:
    if not _COMPILED:  # loaded on first use: importing the model does not fix how loops compile
        from fuseflow.sim.fast.memory import access

        _COMPILED.append(access)
    return int(_COMPILED[0](slots, mstate, ii, lat, startup, t, w, buf))


class Memory:
    """``slots``: blocks x channels int64, slot j of channel c in bit j % 64 of
    ``slots[j // 64, c]`` (``cap`` = 64 x blocks slots per channel). First-fit only
    depends on the set of taken slots, so it answers as the slot dict does. Each client
    has its own ``mstate`` = [next channel, grow channel, grow blocks, first block]
    (:meth:`client`), which the streaming engine's memory clients get. Row 0 of the bitmap
    is block ``base``: :meth:`advance` drops the blocks no request can reach any more. A
    block of all ones is a full block; the channels' words of one block share a cache line,
    as the words of one request do. The bitmap grows without zero-filling the new room (the OS zeroes pages on first touch)."""

    def __init__(self, cfg: MemoryConfig) -> None:
        self.cfg = cfg
        self.n = max(1, cfg.channels)
        self.ii = max(1, cfg.initiation_interval)
        self.lat = cfg.latency
        self.startup = cfg.startup
        self.cap = _B * 16
        self.slots = np.zeros((self.cap // _B, self.n), np.int64)
        self.clients: dict[int, np.ndarray] = {}
        self.base = 0  # the block that row 0 of ``slots`` holds
        self._buf = np.empty((2, 8), np.int64)

    def client(self, cid: int) -> np.ndarray:
        """Client ``cid``'s state: its next channel starts at ``cid % channels``."""
        ms = self.clients.get(cid)
        if ms is None:
            ms = self.clients[cid] = np.array([cid % self.n, 0, 0, self.base], np.int64)
        return ms

    def advance(self, slot: int) -> None:
        """No request will search below ``slot`` any more (every client's clock has passed
        it): once the blocks below it are half the bitmap, drop them, so that the bitmap
        holds the slots between the clients' clocks, not every slot of the run."""
        dead = slot // _B - self.base
        nb = len(self.slots)
        if 2 * dead < nb:
            return
        dead = min(dead, nb)
        live = nb - dead
        self.slots[:live] = self.slots[dead:]
        self.slots[live:] = 0
        self.base += dead
        for ms in self.clients.values():
            ms[3] = self.base

    def _grow(self, c: int, blocks: int) -> None:
        """At least ``blocks`` blocks per channel (every channel grows together)."""
        nb = self.cap // _B
        if blocks <= nb:
            return
        new_nb = max(blocks, 2 * nb)  # geometric: amortised O(1) per slot
        slots = np.zeros((new_nb, self.n), np.int64)
        slots[:nb] = self.slots
        self.slots, self.cap = slots, new_nb * _B

    def buffer(self, words: int) -> np.ndarray:
        """Scratch room for the slots (and channels) a request of ``words`` takes."""
        if self._buf.shape[1] < words:
            self._buf = np.empty((2, words), np.int64)
        return self._buf

    def access(self, t: int, words: int, client: int = 0) -> int:
        """Client ``client`` issues ``words`` word requests at cycle ``t``; the cycle the
        last one completes."""
        buf = self.buffer(words)
        mstate = self.client(client)
        while True:
            done = _access(self.slots, mstate, self.ii, self.lat, self.startup, t, words, buf)
            if done >= 0:
                return done
            self._grow(int(mstate[1]), int(mstate[2]))
