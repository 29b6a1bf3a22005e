"""The HBM model of :mod:`fuseflow.sim.memory`, with the same answers and less work per word.

A channel's taken slots are kept as sorted disjoint intervals; first-fit only depends on
the set of taken slots, so this is equivalent to the union-find of the reference.
"""

from __future__ import annotations

from bisect import bisect_right

from fuseflow.sim.hw import MemoryConfig


class FastMemory:
    __slots__ = ("n", "ii", "lat", "startup", "ready", "starts", "ends", "rr")

    def __init__(self, cfg: MemoryConfig) -> None:
        self.n = max(1, cfg.channels)
        self.ii = max(1, cfg.initiation_interval)
        self.lat = cfg.latency
        self.startup = cfg.startup
        self.ready: list[int | None] = [None] * self.n
        self.starts: list[list[int]] = [[] for _ in range(self.n)]  # interval starts, sorted
        self.ends: list[list[int]] = [[] for _ in range(self.n)]  # exclusive ends
        self.rr = 0

    def _claim(self, c: int, slot: int, k: int) -> int:
        """Claim the first k free slots >= slot of channel c; the last one claimed."""
        starts, ends = self.starts[c], self.ends[c]
        if not ends or slot > ends[-1]:  # past everything: a new interval
            starts.append(slot)
            ends.append(slot + k)
            return slot + k - 1
        if slot == ends[-1]:
            ends[-1] += k
            return slot + k - 1
        last = slot
        while k:
            j = bisect_right(starts, slot) - 1  # interval starting at or before slot
            if j >= 0 and ends[j] > slot:  # slot is taken: jump past the interval
                slot = ends[j]
                continue
            # slot is free; the gap runs to the next interval's start
            nxt = starts[j + 1] if j + 1 < len(starts) else None
            take = k if nxt is None else min(k, nxt - slot)
            last = slot + take - 1
            k -= take
            # record [slot, slot+take): merge with neighbours
            new_end = slot + take
            if j >= 0 and ends[j] == slot:
                ends[j] = new_end
                if nxt is not None and new_end == nxt:
                    ends[j] = ends[j + 1]
                    del starts[j + 1]
                    del ends[j + 1]
            elif nxt is not None and new_end == nxt:
                starts[j + 1] = slot
            else:
                starts.insert(j + 1, slot)
                ends.insert(j + 1, new_end)
            slot = new_end
        return last

    def access(self, t: int, words: int) -> int:
        n = self.n
        ii = self.ii
        done = t
        rr = self.rr
        base, extra = divmod(words, n)
        ready = self.ready
        for i in range(min(words, n)):
            c = (rr + i) % n
            k = base + (1 if i < extra else 0)
            r = ready[c]
            if r is None:
                r = ready[c] = t + self.startup
            earliest = t if t > r else r
            last = self._claim(c, -(-earliest // ii), k)
            fin = last * ii + self.lat
            if fin > done:
                done = fin
        self.rr = (rr + words) % n
        return done
