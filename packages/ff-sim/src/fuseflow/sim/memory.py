"""The off-chip memory model (Comal's HBM): channels with latency, II and a start-up cost.

Each word is one request; words go to channels round-robin. A channel serves one word
per ``initiation_interval`` cycles in fixed slots; a request takes the first free slot
at or after its issue time (first-fit in time, so a client that runs ahead in the
simulator's processing order does not push earlier requests of other clients back).
"""

from __future__ import annotations

from fuseflow.sim.hw import MemoryConfig


class _Channel:
    __slots__ = ("ready", "taken")

    def __init__(self) -> None:
        self.ready: int | None = None  # first usable cycle (set by the first request)
        self.taken: dict[int, int] = {}  # slot -> a later slot that may be free (union-find)

    def claim(self, slot: int) -> int:
        path = []
        s = slot
        while s in self.taken:
            path.append(s)
            s = self.taken[s]
        for p in path:  # path compression
            self.taken[p] = s + 1
        self.taken[s] = s + 1
        return s


class Memory:
    def __init__(self, cfg: MemoryConfig) -> None:
        self.cfg = cfg
        self.chans = [_Channel() for _ in range(max(1, cfg.channels))]
        self.rr = 0

    def access(self, t: int, words: int) -> int:
        """Issue ``words`` word requests at cycle ``t``; the cycle the last one completes."""
        cfg = self.cfg
        ii = max(1, cfg.initiation_interval)
        done = t
        for _ in range(words):
            ch = self.chans[self.rr]
            self.rr = (self.rr + 1) % len(self.chans)
            if ch.ready is None:
                ch.ready = t + cfg.startup
            earliest = max(t, ch.ready)
            slot = ch.claim(-(-earliest // ii))
            finish = slot * ii + cfg.latency
            if finish > done:
                done = finish
        return done
