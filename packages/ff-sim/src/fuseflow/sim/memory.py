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
"""

from __future__ import annotations

from fuseflow.sim.hw import MemoryConfig


class _Channel:
    __slots__ = ("taken",)

    def __init__(self) -> None:
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
        self.rr: dict[int, int] = {}  # client -> its next channel

    def access(self, t: int, words: int, client: int = 0) -> int:
        """Client ``client`` issues ``words`` word requests at cycle ``t``; the cycle the
        last one completes."""
        cfg = self.cfg
        ii = max(1, cfg.initiation_interval)
        n = len(self.chans)
        rr = self.rr.get(client, client % n)
        done = t
        for _ in range(words):
            ch = self.chans[rr]
            rr = (rr + 1) % n
            earliest = max(t, cfg.startup)
            slot = ch.claim(-(-earliest // ii))
            finish = slot * ii + cfg.latency
            if finish > done:
                done = finish
        self.rr[client] = rr
        return done


_B = 64  # slots per summary block


class Memory:
    """The model used by both engines: one byte per slot per channel plus a "block full"
    byte per 64 slots; the first free slot is found with ``bytearray.find`` (a C scan).
    First-fit only depends on the set of taken slots, so it answers as the slot dict does.

    All channels share one buffer, ``cap`` slots per channel (channel c at ``c * cap``).
    The fast engine's ``FastMemory`` keeps the same state as bits, slot-major."""

    __slots__ = ("n", "ii", "lat", "startup", "cap", "slots", "full", "rr", "cfg")

    def __init__(self, cfg: MemoryConfig) -> None:
        self.cfg = cfg
        self.n = max(1, cfg.channels)
        self.ii = max(1, cfg.initiation_interval)
        self.lat = cfg.latency
        self.startup = cfg.startup
        self.cap = _B * 16
        self.slots = bytearray(self.n * self.cap)
        self.full = bytearray(self.n * (self.cap // _B))
        self.rr: dict[int, int] = {}  # client -> its next channel

    @property
    def blocks(self) -> int:
        """Summary blocks per channel."""
        return self.cap // _B

    def channel(self, c: int) -> bytes:
        """Channel c's slot bitmap (a copy)."""
        return bytes(self.slots[c * self.cap:(c + 1) * self.cap])

    def _grow(self, c: int, blocks: int) -> None:
        """At least ``blocks`` summary blocks per channel (every channel grows together)."""
        nb = self.blocks
        if blocks <= nb:
            return
        new_nb = max(blocks, 2 * nb)  # geometric: amortised O(1) per slot
        new_cap = new_nb * _B
        slots, full = bytearray(self.n * new_cap), bytearray(self.n * new_nb)
        for ch in range(self.n):
            slots[ch * new_cap:ch * new_cap + self.cap] = self.slots[ch * self.cap:(ch + 1) * self.cap]
            full[ch * new_nb:ch * new_nb + nb] = self.full[ch * nb:(ch + 1) * nb]
        self.slots, self.full, self.cap = slots, full, new_cap

    def _next_free(self, c: int, s: int) -> int:
        """First free slot (of channel c) after the (taken) rest of s's block; marks full
        blocks lazily."""
        b = s // _B
        if b + 2 > self.blocks:
            self._grow(c, b + 2)
        base, nb = c * self.cap, self.blocks
        ba, full = self.slots, self.full
        j = ba.find(0, base + s, base + (b + 1) * _B)
        if j >= 0:
            return j - base
        if ba.find(0, base + b * _B, base + s) < 0:
            full[c * nb + b] = 1
        while True:
            found = full.find(0, c * nb + b + 1, (c + 1) * nb)
            if found < 0 or found - c * nb + 2 > nb:
                self._grow(c, nb + 2)
                base, nb = c * self.cap, self.blocks
                ba, full = self.slots, self.full
                continue
            b = found - c * nb
            j = ba.find(0, base + b * _B, base + (b + 1) * _B)
            if j >= 0:
                return j - base
            full[c * nb + b] = 1  # found full on the way: never scanned again

    def access(self, t: int, words: int, client: int = 0) -> int:
        """Client ``client`` issues ``words`` word requests at cycle ``t``; the cycle the
        last one completes."""
        n = self.n
        ii = self.ii
        rr = self.rr.get(client, client % n)
        done = t
        base_k, extra = divmod(words, n)
        e = t if t > self.startup else self.startup
        s0 = -(-e // ii)
        for i in range(words if words < n else n):
            c = rr + i
            if c >= n:
                c -= n
            s = s0
            k = base_k + 1 if i < extra else base_k
            for _ in range(k):
                # room for the scan from s (taken slots push s on): it must stay in channel c
                if s // _B + 2 > self.blocks:
                    self._grow(c, s // _B + 2)
                base = c * self.cap
                j = self.slots.find(0, base + s, base + s - s % _B + _B)
                j = j - base if j >= 0 else self._next_free(c, s)
                self.slots[c * self.cap + j] = 1
                s = j + 1
            fin = (s - 1) * ii + self.lat
            if fin > done:
                done = fin
        self.rr[client] = (rr + words) % n
        return done
