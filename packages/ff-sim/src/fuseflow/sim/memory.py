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


class SlotDictMemory:
    """The model as first written: a union-find dict of taken slots per channel (~100 bytes
    per slot, forever). Kept as the readable specification; tests check :class:`Memory`
    against it."""

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


_B = 64  # slots per summary block


class Memory:
    """The model used by both engines: one byte per slot per channel plus a "block full"
    byte per 64 slots; the first free slot is found with ``bytearray.find`` (a C scan).
    First-fit only depends on the set of taken slots, so it answers as the slot dict does."""

    __slots__ = ("n", "ii", "lat", "startup", "ready", "slots", "full", "rr", "cfg")

    def __init__(self, cfg: MemoryConfig) -> None:
        self.cfg = cfg
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
