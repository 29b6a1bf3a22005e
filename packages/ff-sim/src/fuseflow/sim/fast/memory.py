"""The HBM model of :mod:`fuseflow.sim.memory`, with the same answers and far less memory.

The reference keeps a union-find dict entry per taken slot (about 100 bytes each, forever).
Here each channel is a bytearray with one byte per slot (1 = taken) plus a summary with one
byte per block of 64 slots (1 = block full). The first free slot at or after a request's
earliest one is found with ``bytearray.find`` (a C scan) in the slot's block, then in the
summary. First-fit only depends on the set of taken slots, so the answers are identical.
"""

from __future__ import annotations

from fuseflow.sim.hw import MemoryConfig

_B = 64  # slots per summary block


class FastMemory:
    __slots__ = ("n", "ii", "lat", "startup", "ready", "slots", "full", "rr")

    def __init__(self, cfg: MemoryConfig) -> None:
        self.n = max(1, cfg.channels)
        self.ii = max(1, cfg.initiation_interval)
        self.lat = cfg.latency
        self.startup = cfg.startup
        self.ready: list[int | None] = [None] * self.n
        self.slots: list[bytearray] = [bytearray(_B * 16) for _ in range(self.n)]
        self.full: list[bytearray] = [bytearray(16) for _ in range(self.n)]
        self.rr = 0

    def _grow(self, c: int, blocks: int) -> None:
        full = self.full[c]
        add = max(blocks - len(full), len(full))  # geometric: amortised O(1) per slot
        full.extend(bytes(add))
        self.slots[c].extend(bytes(add * _B))

    def _next_free(self, c: int, s: int) -> int:
        """First free slot after the (taken) rest of s's block; marks full blocks lazily."""
        b = s // _B
        if b + 2 > len(self.full[c]):
            self._grow(c, b + 2)
        ba, full = self.slots[c], self.full[c]
        j = ba.find(0, s, (b + 1) * _B)
        if j >= 0:
            return j
        if ba.find(0, b * _B, s) < 0:
            full[b] = 1
        while True:
            nb = full.find(0, b + 1)
            if nb < 0 or nb + 2 > len(full):
                self._grow(c, len(full) + 2)
                ba, full = self.slots[c], self.full[c]
                continue
            b = nb
            j = ba.find(0, b * _B, (b + 1) * _B)
            if j >= 0:
                return j
            full[b] = 1  # found full on the way: never scanned again

    def access(self, t: int, words: int) -> int:
        """Issue ``words`` word requests at cycle ``t``; the cycle the last one completes."""
        n = self.n
        ii = self.ii
        ready = self.ready
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
            ba = self.slots[c]
            k = base + 1 if i < extra else base
            if (s + k) // _B + 2 > len(self.full[c]):
                self._grow(c, (s + k) // _B + 2)
                ba = self.slots[c]
            for _ in range(k):
                j = ba.find(0, s, s - s % _B + _B)
                if j < 0:
                    j = self._next_free(c, s)
                    ba = self.slots[c]
                ba[j] = 1
                s = j + 1
            fin = (s - 1) * ii + self.lat
            if fin > done:
                done = fin
        self.rr = (rr + words) % n
        return done
