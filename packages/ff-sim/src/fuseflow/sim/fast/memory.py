"""The HBM model of :mod:`fuseflow.sim.memory`, with the same answers and less work per word.

Same algorithm (round-robin words, first-fit slots found through a union-find of taken
slots per channel), written as one inlined loop. Invariant of ``taken``: ``taken[x] = y``
means every slot in ``[x, y)`` is taken, so a lookup from any slot finds the first free
one; consecutive words of one request to the same channel continue from the last slot.
"""

from __future__ import annotations

from fuseflow.sim.hw import MemoryConfig


class FastMemory:
    __slots__ = ("n", "ii", "lat", "startup", "ready", "taken", "rr")

    def __init__(self, cfg: MemoryConfig) -> None:
        self.n = max(1, cfg.channels)
        self.ii = max(1, cfg.initiation_interval)
        self.lat = cfg.latency
        self.startup = cfg.startup
        self.ready: list[int | None] = [None] * self.n
        self.taken: list[dict[int, int]] = [{} for _ in range(self.n)]
        self.rr = 0

    def access(self, t: int, words: int) -> int:
        """Issue ``words`` word requests at cycle ``t``; the cycle the last one completes."""
        n = self.n
        ii = self.ii
        ready = self.ready
        takens = self.taken
        rr = self.rr
        done = t
        base, extra = divmod(words, n)
        for i in range(words if words < n else n):
            c = rr + i
            if c >= n:
                c -= n
            r = ready[c]
            if r is None:
                r = ready[c] = t + self.startup
            e = t if t > r else r
            s = -(-e // ii)
            taken = takens[c]
            for _ in range(base + 1 if i < extra else base):
                if s in taken:
                    path = []
                    while s in taken:
                        path.append(s)
                        s = taken[s]
                    s1 = s + 1
                    for p in path:
                        taken[p] = s1
                taken[s] = s + 1
                s += 1
            fin = (s - 1) * ii + self.lat
            if fin > done:
                done = fin
        self.rr = (rr + words) % n
        return done
