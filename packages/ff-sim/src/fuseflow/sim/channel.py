"""Streams between primitives: FIFOs of (token, stamp), optionally bounded."""

from __future__ import annotations

from array import array
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fuseflow.sim.process import Proc

_COMPACT = 1 << 14  # drop consumed elements once this many (and half the queue) are read


class Channel:
    """One stream. ``depth`` None means unbounded; otherwise a full channel stalls its writer.
    Tokens sit in a list and stamps in an ``array('q')`` (about 16 bytes each), read from ``head``."""

    __slots__ = ("name", "toks", "stamps", "head", "depth", "reader", "writer", "pushed", "popped",
                 "pop_times", "_pop_base", "reader_waiting", "writer_waiting")

    def __init__(self, name: str, depth: int | None = None) -> None:
        self.name = name
        self.toks: list[Any] = []
        self.stamps = array("q")
        self.head = 0  # index of the first element not yet dequeued
        self.depth = depth
        self.reader: Proc | None = None
        self.writer: Proc | None = None
        self.pushed = 0
        self.popped = 0
        self.pop_times: deque[int] = deque()  # dequeue times still needed by a bounded writer
        self._pop_base = 0  # index of pop_times[0]
        self.reader_waiting = False
        self.writer_waiting = False

    def space_time(self) -> int:
        """Clock at which the writer may send its next element (the reader freed a slot)."""
        assert self.depth is not None
        idx = self.pushed - self.depth  # the pop that freed the slot this push uses
        if idx < 0:
            return 0
        t = self.pop_times[idx - self._pop_base]
        while self._pop_base < idx:  # older entries are no longer needed
            self.pop_times.popleft()
            self._pop_base += 1
        return t + 1

    def push(self, tok: Any, stamp: int) -> None:
        self.toks.append(tok)
        self.stamps.append(stamp)
        self.pushed += 1
        if self.reader_waiting:
            self.reader_waiting = False
            assert self.reader is not None
            self.reader.wake()

    def pop(self, t: int) -> Any:
        h = self.head
        tok = self.toks[h]
        h += 1
        if h >= _COMPACT and 2 * h >= len(self.toks):
            del self.toks[:h]
            del self.stamps[:h]
            h = 0
        self.head = h
        self.popped += 1
        if self.depth is not None:
            self.pop_times.append(t)
            if self.writer_waiting:
                self.writer_waiting = False
                assert self.writer is not None
                self.writer.wake()
        return tok
