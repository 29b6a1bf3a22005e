"""Primitive processes and the scheduler that runs them as a Kahn network.

Each primitive is a generator with its own local clock ``t``. Reading an empty channel
or writing a full one suspends it; the scheduler resumes it when the channel changes.
Comal's rules: an enqueue is stamped ``max(requested, t + 1)``; a dequeue or peek sets
``t = max(t, stamp)``. Runs are deterministic: processes resume in FIFO order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from typing import Any

from fuseflow.ir.errors import SimulationError
from fuseflow.ir.graph import Node
from fuseflow.sim.channel import Channel
from fuseflow.sim.counters import Counters

Wait = Generator[Channel, None, Any]


class Proc:
    """Base of every primitive: ports, local clock, counters, the read/write helpers."""

    def __init__(self, node: Node, ins: dict[str, Channel], outs: dict[str, Channel], ctx: Any = None) -> None:
        self.node = node
        self.ins = ins
        self.outs = outs
        self.ctx = ctx  # the kernel context: stored tensors, hardware, memory
        self.t = 0
        self.counters = Counters()
        self.done = False
        self.blocked_on: Channel | None = None
        self.busy: list[list[int]] | None = None  # [start, end) intervals, when tracing
        self._ready: deque[Proc] | None = None  # the run queue, while running
        for ch in ins.values():
            ch.reader = self
        for ch in outs.values():
            ch.writer = self

    def run(self) -> Wait:
        """The primitive's behaviour (each primitive overrides it)."""
        raise SimulationError(f"{self.describe()}: this primitive has no simulation behaviour")
        yield  # pragma: no cover

    def describe(self) -> str:
        return self.node.describe()

    def wake(self) -> None:
        if self._ready is not None:
            self._ready.append(self)

    def peek(self, ch: Channel) -> Wait:
        while ch.head >= len(ch.toks):
            ch.reader_waiting = True
            yield ch
        self.t = max(self.t, ch.stamps[ch.head])
        return ch.toks[ch.head]

    def deq(self, ch: Channel) -> Wait:
        yield from self.peek(ch)
        return ch.pop(self.t)

    def deq_each(self, *chans: Channel) -> Wait:
        """Dequeue one token from each channel in turn."""
        for ch in chans:
            yield from self.deq(ch)

    def emit(self, ch: Channel, tok: Any, at: int | None = None) -> Wait:
        """Enqueue ``tok`` stamped max(at, t + 1); a full channel first waits for space."""
        if ch.depth is not None:
            while ch.pushed - ch.popped >= ch.depth:
                ch.writer_waiting = True
                yield ch
            self.t = max(self.t, ch.space_time())
        stamp = self.t + 1 if at is None or at <= self.t else at
        ch.push(tok, stamp)
        self.counters.tokens += 1
        if self.busy is not None:
            self.mark(stamp - 1)

    def emit_each(self, tok: Any, *chans: Channel) -> Wait:
        """Emit ``tok`` on each channel in turn."""
        for ch in chans:
            yield from self.emit(ch, tok)

    def mark(self, t: int) -> None:
        """Record activity in cycle ``t`` (for the trace)."""
        b = self.busy
        assert b is not None
        if b and b[-1][0] <= t <= b[-1][1]:
            b[-1][1] = max(b[-1][1], t + 1)
        else:
            b.append([t, t + 1])

    def fail(self, msg: str) -> SimulationError:
        return SimulationError(f"{self.describe()} at cycle {self.t}: {msg}")


def run_network(procs: list[Proc]) -> None:
    """Runs processes until all return; an unfinishable network is a deadlock error."""
    ready: deque[Proc] = deque(procs)
    gens = {id(p): p.run() for p in procs}
    for p in procs:
        p._ready = ready
    while ready:
        p = ready.popleft()
        if p.done:
            continue
        try:
            p.blocked_on = next(gens[id(p)])
        except StopIteration:
            p.done = True
    stuck = [p for p in procs if not p.done]
    if not stuck:
        return
    parts = [f"{p.describe()} waiting to read {ch.name} (empty)" if ch.reader is p
             else f"{p.describe()} waiting to write {ch.name} (full, depth {ch.depth})"
             for p in stuck[:8] if (ch := p.blocked_on) is not None]  # every process ran at least once
    more = f" and {len(stuck) - 8} more" if len(stuck) > 8 else ""
    raise SimulationError(f"deadlock at cycle {max(p.t for p in stuck)}: " + "; ".join(parts) + more)
