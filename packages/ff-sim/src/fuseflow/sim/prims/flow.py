"""Stream plumbing: repeat (signal generator + repeater), broadcast, fork/join, crd drop/hold."""

from __future__ import annotations

from typing import Any

from fuseflow.ir.graph import StreamKind
from fuseflow.sim.prims.common import DONE, EMPTY, Sig, fiber_stop, is_payload, is_stop, lanes, stop
from fuseflow.sim.process import Proc, Wait


class RepeatSig(Proc):
    """crd/ref stream -> repeat signals: payload R, stop S, D D. A crd-stream N (an empty
    fiber) gives the signal N; a ref-stream N (an absent operand) gives R."""

    def run(self) -> Wait:
        inp, out = self.ins["crd"], self.outs["repsig"]
        fiber_n = self.ctx.kinds.get((self.node.id, "crd")) is StreamKind.CRD
        while True:
            tok = yield from self.deq(inp)
            if tok is DONE:
                yield from self.emit(out, DONE)
                return
            sig = Sig.S if is_stop(tok) else Sig.N if tok is EMPTY and fiber_n else Sig.R
            yield from self.emit(out, sig)
            self.t += 1


class Repeat(Proc):
    """R re-emits the input head; S pops it and closes the fiber by the scanner stop rule;
    N emits N and pops it. Peeks the input before taking each signal (Comal's order)."""

    def run(self) -> Wait:
        inp, sig_in, out = self.ins["in"], self.ins["repsig"], self.outs["out"]
        while True:
            head = yield from self.peek(inp)
            sig = yield from self.deq(sig_in)
            if sig is Sig.R:
                if not (is_payload(head) or head is EMPTY):
                    raise self.fail(f"signal R but the input head is {head}")
                yield from self.emit(out, head)
            elif sig is Sig.S:
                h = yield from self.deq(inp)
                if h is DONE:
                    raise self.fail("signal S but the input has ended")
                s = stop(h.level + 1) if is_stop(h) else (yield from fiber_stop(self, inp))
                yield from self.emit(out, s)
            elif sig is Sig.N:
                yield from self.deq(inp)
                yield from self.emit(out, EMPTY)
            else:
                yield from self.emit(out, DONE)
                return
            self.t += 1


class Broadcast(Proc):
    """Copies every token to every output (no cycle cost of its own)."""

    def run(self) -> Wait:
        inp = self.ins["in"]
        while True:
            tok = yield from self.deq(inp)
            yield from self.emit_each(tok, *self.outs.values())
            if tok is DONE:
                return


class Fork(Proc):
    """Payloads (and N) go to the lanes round-robin, restarting at lane 0 after each stop;
    stops and D go to every lane."""

    def run(self) -> Wait:
        inp = self.ins["in"]
        outs = lanes(self, "out", self.outs)
        p = 0
        while True:
            tok = yield from self.deq(inp)
            if is_payload(tok) or tok is EMPTY:
                yield from self.emit(outs[p], tok)
                p = (p + 1) % len(outs)
            else:
                yield from self.emit_each(tok, *outs)
                if tok is DONE:
                    return
                p = 0
            self.t += 1


class Join(Proc):
    """Merges the lanes of a fork back into one stream, element by element.

    ``level`` (delta) is how deep this stream lies below the forked one. The fork sent the
    n-th element of each segment (the tokens between the forked stream's stops) to lane
    n mod P. Here an element is one token (delta 0), or a subtree closed by a stop of
    level >= delta-1 (delta >= 1); a closing stop of level >= delta also ends the lane's
    segment, and a lane with no element in a segment shows a bare stop of that level.
    Stops are restored: S(delta-1) between elements, the segment's stop after the last.

    A lane whose last element in a segment is an empty fiber also shows just the segment
    stop. The optional ``count`` input (the forked coordinate stream) tells the two apart:
    element k exists when the segment has more than k coordinates. Its tokens are read
    only when that question comes up, and drained at the segment's end.
    """

    def run(self) -> Wait:
        ins = lanes(self, "in", self.ins)
        out = self.outs["out"]
        count = self.ins.get("count")
        delta = int(self.node.attrs.level or 0)
        n = len(ins)
        while True:
            parked: list[Any] = [None] * n  # the stop that ended each lane's segment
            held: Any = None  # closing stop of the last element, not yet emitted
            seen = 0  # coordinates of this segment read from ``count``
            k = 0
            while True:
                p = k % n
                if parked[p] is not None:
                    break
                head = yield from self.peek(ins[p])
                if head is DONE or (is_stop(head) and head.level >= delta):
                    # a bare segment stop: no element k, unless count says element k is empty
                    empty_last = False
                    if count is not None and head is not DONE and delta > 0:
                        while seen <= k:
                            c = yield from self.peek(count)
                            if not (is_payload(c) or c is EMPTY):
                                break
                            yield from self.deq(count)
                            seen += 1
                        empty_last = seen > k
                    parked[p] = yield from self.deq(ins[p])
                    if not empty_last:
                        break
                    if held is not None:
                        yield from self.emit(out, stop(delta - 1))
                    held = parked[p]
                    self.t += 1
                    k += 1
                    continue
                if delta == 0:
                    tok = yield from self.deq(ins[p])
                    yield from self.emit(out, tok)
                    self.t += 1
                    k += 1
                    continue
                if held is not None:
                    yield from self.emit(out, stop(delta - 1))
                while True:  # one element: up to its closing stop
                    tok = yield from self.deq(ins[p])
                    self.t += 1
                    if is_stop(tok) and tok.level >= delta - 1:
                        held = tok
                        if tok.level >= delta:
                            parked[p] = tok
                        break
                    if tok is DONE:
                        raise self.fail(f"lane {p} ended inside an element")
                    yield from self.emit(out, tok)
                k += 1
            # the segment is over: every lane still owes its bare stop (or D)
            for q in range(n):
                if parked[q] is None:
                    parked[q] = yield from self.deq(ins[q])
            ends = {str(x) for x in parked}
            if len(ends) != 1:
                raise self.fail("lanes end a segment out of step: " + " ".join(map(str, parked)))
            end = parked[0]
            if count is not None:  # the rest of this segment's coordinates, and its stop (or D)
                while True:
                    c = yield from self.deq(count)
                    if not (is_payload(c) or c is EMPTY):
                        break
            if end is DONE:
                if held is not None:
                    raise self.fail("stream ended without closing its last element")
                yield from self.emit(out, DONE)
                return
            yield from self.emit(out, end)
            self.t += 1


class CrdDrop(Proc):
    """Drops outer coordinates whose inner fiber is empty (and that fiber from the inner
    stream). The closing S0 of a kept fiber is held back until the next kept fiber, or
    upgraded to Sk when the segment ends inside dropped fibers."""

    def run(self) -> Wait:
        io_, ii = self.ins["outer"], self.ins["inner"]
        oo, oi = self.outs["outer"], self.outs["inner"]
        held: Any = None
        while True:
            o = yield from self.deq(io_)
            if is_payload(o):
                kept = False
                while True:
                    c = yield from self.deq(ii)
                    if is_payload(c):
                        if not kept and held is not None:
                            yield from self.emit(oi, held)
                            held = None
                        kept = True
                        yield from self.emit(oi, c)
                    elif is_stop(c):
                        if kept:
                            yield from self.emit(oo, o)
                            if c.level == 0:
                                held = c
                            else:
                                yield from self.emit(oi, c)
                        elif c.level > 0:
                            yield from self.emit(oi, stop(max(c.level, held.level if held else 0)))
                            held = None
                        break
                    elif c is EMPTY:
                        nxt = yield from self.peek(ii)
                        if not is_stop(nxt):
                            break
                    else:
                        raise self.fail("inner stream ended before the outer one")
            elif is_stop(o):
                yield from self.emit(oo, o)
            elif o is DONE:
                c = yield from self.deq(ii)
                if c is not DONE:
                    raise self.fail(f"inner stream continues after the outer one ended ({c})")
                if held is not None:
                    yield from self.emit(oi, held)
                yield from self.emit_each(DONE, oi, oo)
                return
            self.t += 1


class CrdHold(Proc):
    """Repeats the outer coordinate once per inner coordinate (inner passes through)."""

    def run(self) -> Wait:
        io_, ii = self.ins["outer"], self.ins["inner"]
        oo, oi = self.outs["outer"], self.outs["inner"]
        while True:
            o = yield from self.peek(io_)
            c = yield from self.deq(ii)
            if is_payload(c):
                yield from self.emit(oi, c)
                yield from self.emit(oo, o)
            elif is_stop(c):
                yield from self.emit_each(c, oi, oo)
                yield from self.deq(io_)
                if is_payload(o) and c.level > 0:  # the inner stop also closed the outer fiber
                    s = yield from self.deq(io_)
                    if s != stop(c.level - 1):
                        raise self.fail(f"outer stream: expected {stop(c.level - 1)}, got {s}")
            elif c is EMPTY:
                yield from self.emit_each(EMPTY, oi, oo)
                nxt = yield from self.peek(ii)
                if not is_stop(nxt):
                    yield from self.deq(io_)
            else:
                yield from self.deq(io_)
                yield from self.emit_each(DONE, oi, oo)
                return
            self.t += 1
