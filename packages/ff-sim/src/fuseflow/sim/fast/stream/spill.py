"""Queues that overflow to disk.

The model's channels are unbounded (a fast low-id memory client can run far ahead of a slow
higher-id one). A stream queue that the engine would grow past ``spill_at`` tokens instead
keeps a window in RAM and moves the rest, first in first out, to packed temporary files.

A spilled queue holds, in order: the unread RAM window ``[head, end)``, the file, then what
the producer writes next (``settle`` appends it to the file); a window running low gets
the file's oldest tokens (``refill``). Step functions never see this. The producer parks at
``limit`` tokens on disk (Parks' rule), doubled only when the graph would stall.
"""

from __future__ import annotations

import tempfile
import threading
from collections import deque
from typing import Any, NamedTuple

import numpy as np
from fuseflow.ir.errors import SimulationError
from fuseflow.sim.fast.stream.common import BASE, CAP, END, HEAD, NEED_IN, NEED_OUT

TOKEN = np.dtype([("code", np.int64), ("stamp", np.int64), ("val", np.float32)])  # 20 bytes a token in RAM
SEGMENT = 1 << 28  # bytes per file: a file read through is deleted, so disk use follows the tokens on it
BLOCK = 1 << 17  # tokens encoded together; a read decodes a whole block and keeps the rest
_WIDTHS: list[type[np.signedinteger[Any]]] = [np.int8, np.int16, np.int32, np.int64]


def _pack(x: np.ndarray, step: bool) -> tuple[int, np.ndarray]:
    """An integer column in the narrowest integer type that holds it; stamps (``step``) as
    their first element and the (wrapping, exact) steps from one to the next."""
    d = np.diff(x, prepend=x[:1]) if step else x  # int64 steps wrap, exactly undone by cumsum
    lo, hi = int(d.min()), int(d.max())
    w = next(w for w in _WIDTHS if np.iinfo(w).min <= lo and hi <= np.iinfo(w).max)
    return (int(x[0]) if step else 0), d.astype(w)


class _Chunk(NamedTuple):
    """``n`` <= BLOCK tokens at ``offset`` of ``file``: codes, stamps (steps from ``first``)
    and values (their int32 bits), each column packed by :func:`_pack`."""

    file: Any
    offset: int
    n: int
    first: int
    widths: tuple[np.dtype, ...]

    def read(self) -> list[np.ndarray]:
        """The block's three columns, decoded."""
        self.file.seek(self.offset)
        raw = self.file.read(size := self.n * sum(w.itemsize for w in self.widths))
        if len(raw) != size:
            raise OSError("a queue's overflow file came back short")
        cols = [np.frombuffer(raw, w, self.n, self.n * sum(v.itemsize for v in self.widths[:k]))
                for k, w in enumerate(self.widths)]
        cols[1] = np.cumsum(cols[1].astype(np.int64), out=np.empty(self.n, np.int64)) + self.first
        return cols


class DiskFifo:
    """One queue's overflow: tokens in a chain of temporary files, read in the order written."""

    def __init__(self, directory: str | None) -> None:
        self.dir = directory
        self.chunks: deque[_Chunk] = deque()
        self.file: Any | None = None  # the file written now
        self.end = 0  # its size
        self.count = 0  # tokens written, not yet read back
        self.bytes = 0  # their size on disk, with the front block's
        self.front: list[np.ndarray] = []  # the front block, decoded, and how far it is read
        self.at = 0

    def put(self, Q: np.ndarray, V: np.ndarray, a: int, b: int) -> None:
        """Tokens ``a:b`` of a queue's arrays, after those already here."""
        for s in range(a, b, BLOCK):
            e = min(b, s + BLOCK)
            if self.file is None or self.end >= SEGMENT:
                self.file, self.end = tempfile.TemporaryFile(prefix="ff-queue-", dir=self.dir), 0
            packed = [_pack(Q[0, s:e], False), _pack(Q[1, s:e], True), _pack(V[s:e].view(np.int32), False)]
            self.file.seek(self.end)
            for _, d in packed:
                self.file.write(d.data)
            self.chunks.append(_Chunk(self.file, self.end, e - s, packed[1][0], tuple(d.dtype for _, d in packed)))
            size = sum(d.nbytes for _, d in packed)
            self.end += size
            self.bytes += size
            self.file.flush()  # a full disk fails here, not later
        self.count += b - a

    def get(self, Q: np.ndarray, V: np.ndarray, at: int, room: int) -> int:
        """Up to ``room`` of the oldest tokens into ``Q``/``V`` from index ``at``; how many."""
        got = 0
        while got < room and (self.front or self.chunks):
            if not self.front:
                c = self.chunks.popleft()
                self.front, self.at = c.read(), 0
                self.bytes -= c.n * sum(w.itemsize for w in c.widths)
                if c.file is not self.file and (not self.chunks or self.chunks[0].file is not c.file):
                    c.file.close()  # read through: the file goes
            code, stamp, val = self.front
            k = min(len(code) - self.at, room - got)
            src, dst = slice(self.at, self.at + k), slice(at + got, at + got + k)
            Q[0, dst], Q[1, dst] = code[src], stamp[src]
            V[dst].view(np.int32)[:] = val[src]
            self.at += k
            got += k
            if self.at == len(code):
                self.front = []
        self.count -= got
        return got

    def close(self) -> None:
        """Closes (so deletes) its files; the fifo is not used after."""
        for f in [c.file for c in self.chunks] + [self.file]:
            if f is not None:
                f.close()  # (a second close of a file does nothing)


class Spills:
    """The spilled queues of one streaming run's ``Queues``."""

    def __init__(self, queues: Any, spill_at: int, directory: str | None) -> None:
        self.queues = queues
        self.spill_at = spill_at  # 0: never
        self.dir = directory
        self.fifo: dict[int, DiskFifo] = {}  # queues with tokens on disk now
        self.limit: dict[int, int] = {}  # tokens on disk at which the producer parks
        self.written = 0  # tokens that went through disk, all queues
        self.peak = 0  # most bytes on disk at once, all queues
        self.on_disk = 0
        self.lock = threading.Lock()

    def pending(self, q: int) -> int:
        f = self.fifo.get(q)
        return f.count if f is not None else 0

    def full(self, q: int) -> bool:
        """The producer of ``q`` must wait: as many tokens on disk as the limit allows."""
        return q in self.fifo and self.fifo[q].count >= self.limit[q]

    def relieve(self, q: int, need: int) -> bool:
        """Slack for the producer of a full queue that stalls the graph, on disk: twice as many
        tokens may wait there, or a stream queue at ``spill_at`` starts to spill its unread
        tokens past half the queue. False when that gives no ``need`` tokens of room: grow it."""
        qs = self.queues
        if self.pending(q):
            self.limit[q] *= 2  # as growing would allow in RAM
            self.gate(q)
            return qs.roomy(q, need)
        if not (self.spill_at > 0 and qs.kind[q] == "stream" and qs.size(q) >= self.spill_at):
            return False
        c = qs.ctl[q]
        size, window = qs.size(q), int(c[END] - c[HEAD])
        keep = min(window, max(1, size // 2))
        if size - keep < need:
            return False
        if window > keep:
            self.fifo.setdefault(q, DiskFifo(self.dir))
            self._put(q, int(c[HEAD]) + keep)
            self.limit[q] = self.fifo[q].count + size  # as far as doubling the queue would let it run
        qs.compact(q)
        self.gate(q)
        return True

    def gate(self, q: int) -> None:
        """Shut the queue to its producer (``cap`` at ``end``) while the disk holds its limit."""
        c = self.queues.ctl[q]
        c[CAP] = c[END] if self.full(q) else self.queues.size(q)

    def settle(self, r: Any, gave: np.ndarray) -> bool:
        """After a call of runner ``r`` (``gave``: base + end of its outputs before it): its writes
        to a spilled queue follow the tokens on disk, and a spilled queue it reads or waits on
        refills from disk. True: wake ``r`` again."""
        again = False
        for k, q in enumerate(r.outs):
            if self.pending(q):
                c = self.queues.ctl[q]
                self._put(q, max(int(gave[k]) - int(c[BASE]), int(c[HEAD])))
                self.gate(q)
                self.refill(q)  # its reader is woken as for any write (base + end moved)
                again |= r.status == NEED_OUT and r.rep[0] == q and self.queues.roomy(q, int(r.rep[1]))
        for q in r.ins:
            hungry = r.status == NEED_IN and r.rep[0] == q
            again |= bool(self.pending(q) and self.refill(q, force=hungry) and hungry)
        return again

    def refill(self, q: int, force: bool = False) -> int:
        """When the window of spilled queue ``q`` is under a quarter of the queue (or ``force``: its
        reader waits), the oldest tokens on disk come in behind it, up to half the queue; how many came."""
        f = self.fifo[q]
        qs = self.queues
        c = qs.ctl[q]
        window = int(c[END] - c[HEAD])
        if not force and 4 * window > qs.size(q):
            return 0
        qs.compact(q)
        if window >= qs.size(q):  # a reader that needs more than the whole queue at once
            qs.grow(q, 1)
        room = max(qs.size(q) // 2 - window, 1)
        held = f.bytes
        try:
            got = f.get(qs.Q[q], qs.V[q], window, room)
        except OSError as e:
            raise self._error(q, "reading back", e) from None
        c[END] = window + got
        with self.lock:  # threads do the I/O of their own queues at once (engine._spill_settle)
            self.on_disk -= held - f.bytes
        if not f.count:
            f.close()
            del self.fifo[q], self.limit[q]
        self.gate(q)
        return got

    def close(self) -> None:
        for f in self.fifo.values():
            f.close()
        self.fifo.clear()

    def _put(self, q: int, a: int) -> None:
        """Tokens from ``a`` to the end of the queue's RAM go to its file."""
        qs = self.queues
        c = qs.ctl[q]
        e = int(c[END])
        if e <= a:
            return
        f = self.fifo[q]
        held = f.bytes
        try:
            f.put(qs.Q[q], qs.V[q], a, e)
        except OSError as err:
            raise self._error(q, f"writing {(e - a) * TOKEN.itemsize:,} bytes of", err) from None
        c[END] = a  # base + end counts the tokens that reached RAM in order; the rest is pending
        with self.lock:
            self.written += e - a
            self.on_disk += f.bytes - held
            self.peak = max(self.peak, self.on_disk)

    def _error(self, q: int, doing: str, err: OSError) -> SimulationError:
        qs, where = self.queues, self.dir or tempfile.gettempdir()
        return SimulationError(
            f"kernel {qs.kernel}: {doing} the queue {qs.names[q]} on disk in {where} failed ({err}); "
            "give a directory with space and write access (--spill-dir), or more memory (--spill-at)")
