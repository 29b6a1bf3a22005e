"""Joiners over n (crd, payload) input pairs: intersect and union.

Each iteration peeks every crd head, then every payload head (t = max of their stamps),
makes one decision and costs one cycle. A crd N (a scanner's empty fiber, which has no
stop of its own) counts as an input already at the end of its fiber.
"""

from __future__ import annotations

from typing import Any

from fuseflow.sim.prims.common import DONE, EMPTY, is_payload, is_stop, lanes, stop
from fuseflow.sim.process import Proc, Wait


class _Joiner(Proc):
    union = False

    def run(self) -> Wait:
        crds, refs = lanes(self, "crd", self.ins), lanes(self, "ref", self.ins)
        oc, orefs = self.outs["crd"], lanes(self, "ref", self.outs)
        while True:
            heads: list[Any] = []
            for ch in crds:
                heads.append((yield from self.peek(ch)))
            pays: list[Any] = []
            for ch in refs:
                pays.append((yield from self.peek(ch)))
            h0 = heads[0]
            if all(h == h0 for h in heads):  # a match (also equal stops, all N, D): tokens of other kinds differ
                yield from self.emit(oc, h0)
                for ch, p in zip(orefs, pays, strict=True):
                    yield from self.emit(ch, p)
                for c, r in zip(crds, refs, strict=True):
                    yield from self.deq_each(c, r)
                if h0 is DONE:
                    return
            else:
                vals = [h for h in heads if is_payload(h)]
                if vals:
                    yield from self._values(min(vals), heads, pays, crds, refs, oc, orefs)
                else:
                    yield from self._close(heads, crds, refs, oc, orefs)
            self.t += 1

    def _values(self, m: int, heads: list[Any], pays: list[Any], crds: list[Any], refs: list[Any],
                oc: Any, orefs: list[Any]) -> Wait:
        if self.union:
            yield from self.emit(oc, m)
        for i, h in enumerate(heads):
            if is_payload(h) and h == m:
                if self.union:
                    yield from self.emit(orefs[i], pays[i])
                yield from self.deq_each(crds[i], refs[i])
            elif self.union:
                yield from self.emit(orefs[i], EMPTY)

    def _close(self, heads: list[Any], crds: list[Any], refs: list[Any], oc: Any, orefs: list[Any]) -> Wait:
        """Every input is at a stop or an N: close the output fiber with the stop."""
        levels = {h.level for h in heads if is_stop(h)}
        if len(levels) != 1 or any(h is DONE for h in heads):
            raise self.fail("input streams out of step: heads " + " ".join(map(str, heads)))
        k = levels.pop()
        s = stop(k)
        yield from self.emit_each(s, oc, *orefs)
        for i, h in enumerate(heads):
            yield from self.deq_each(crds[i], refs[i])
            if h is EMPTY and k > 0:  # the empty fiber's stop follows its N
                nxt = yield from self.peek(crds[i])
                if nxt != s:
                    raise self.fail(f"input {i}: expected {s} after N, got {nxt}")
                yield from self.deq_each(crds[i], refs[i])


class Intersect(_Joiner):
    union = False


class Union(_Joiner):
    union = True
