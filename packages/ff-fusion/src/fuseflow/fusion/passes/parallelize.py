"""Parallelization: fork the streams entering an index's region into lanes, clone the
region per lane, and join the lanes back in order.

The region of index ``v`` is everything downstream of the streams aligned with v's
coordinate stream (v's scanner or joiner outputs, locates on it, repeats signalled by
it) up to the output writers. FORK sends the n-th coordinate of each v-fiber to lane
n mod P and stops/done to all lanes; JOIN (``level`` = depth of its stream below v)
drains lanes in the same order, restoring the stop levels of one stream; below v it also
reads v's coordinates, to know how many fibers each segment has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from fuseflow.fusion.builder import BNode, GraphBuilder, Out
from fuseflow.fusion.passes import Knob
from fuseflow.ir.errors import CompileError, KnobError
from fuseflow.ir.graph import NodeKind

FACTORS = (1, 2, 4, 8, 16)

#: ``--par *:4``: the index is chosen per kernel (its outermost output index)
AUTO_INDEX = "*"


@dataclass
class Parallelize:
    name: ClassVar[str] = "parallelize"
    index: str = ""
    factor: int = 1

    @staticmethod
    def knobs() -> list[Knob]:
        return [Knob("par", tuple((None, f) for f in FACTORS),
                     "parallelize an output index by a factor (None/'*': each kernel's outermost output index)")]

    def apply(self, b: GraphBuilder) -> None:
        if self.factor <= 1:
            return
        if self.index in ("", AUTO_INDEX):
            index = outermost_output_index(b)
            if index is not None:
                Parallelize(index=index, factor=self.factor).apply(b)
            return
        writers = [n for n in b.nodes.values()
                   if n.kind is NodeKind.LEVEL_WRITE and n.attrs.index == self.index]
        if not writers:
            known = sorted({n.attrs.index for n in b.nodes.values()
                            if n.kind is NodeKind.LEVEL_WRITE and n.attrs.index})
            if any(n.attrs.index == self.index for n in b.nodes.values()):
                raise CompileError(f"--par {self.index}:{self.factor}: {self.index} is not an output index of "
                                   f"kernel {b.name} (output indices: {', '.join(known) or 'none'})")
            return  # index absent from this kernel: nothing to do
        extent = _top_extent(b, self.index)
        if extent is not None and self.factor > extent:
            raise KnobError(f"--par {self.index}:{self.factor}: kernel {b.name} has only {extent} coordinates of "
                            f"{self.index}; lanes would stay empty (use a factor <= {extent})")
        done: set[Out] = set()
        for w in writers:  # outputs sharing the loop of the index are parallelized once
            if w.inputs["crd"] not in done:
                done.add(w.inputs["crd"])
                self._parallelize(b, w)

    def _parallelize(self, b: GraphBuilder, writer: BNode) -> None:
        crd_v = writer.inputs["crd"]
        level = writer.attrs.level or 0
        aligned = _aligned_streams(b, crd_v)
        producers = {o.node for o in aligned} | {
            n.id for n in b.nodes.values() if n.kind is NodeKind.REPEAT_SIG and n.inputs.get("crd") in aligned}
        readers = b.readers()
        region: set[int] = set()
        todo = [r for o in aligned for r, _ in readers.get(o, [])]
        while todo:
            nid = todo.pop()
            if nid in region or nid in producers:
                continue
            n = b.nodes[nid]
            if n.kind in (NodeKind.LEVEL_WRITE, NodeKind.VAL_WRITE):
                continue
            region.add(nid)
            for o in _outputs(b, n):
                todo.extend(r for r, _ in readers.get(o, []))
        if not region:
            return
        # streams crossing into the region must all be aligned with v's coordinates
        crossing: list[Out] = []
        for nid in sorted(region):
            for port, src in b.nodes[nid].inputs.items():
                if src.node in region:
                    continue
                if src not in aligned:
                    raise CompileError(
                        f"--par {self.index}:{self.factor}: {b.nodes[nid].kind.value}#{nid} ({port}) reads a "
                        f"stream from outside the region of {self.index} that is not aligned with it")
                if src not in crossing:
                    crossing.append(src)
        # writers and other readers outside the region
        exits: dict[Out, list[tuple[int, str]]] = {}
        for nid in region:
            for o in _outputs(b, b.nodes[nid]):
                for r, port in readers.get(o, []):
                    if r in region:
                        continue
                    rn = b.nodes[r]
                    if rn.kind not in (NodeKind.LEVEL_WRITE, NodeKind.VAL_WRITE):
                        raise CompileError(f"--par {self.index}:{self.factor}: the region of {self.index} feeds "
                                           f"{rn.kind.value}#{r} outside it")
                    exits.setdefault(o, []).append((r, port))
        p = self.factor
        forks = {s: b.add(NodeKind.FORK, {"in": s}, arity=p, index=self.index) for s in crossing}
        clones: list[dict[int, int]] = []
        for lane in range(p):
            m: dict[int, int] = {}
            for nid in sorted(region):
                old = b.nodes[nid]
                new = b.add(old.kind, None, **{k: getattr(old.attrs, k) for k in old.attrs.__dataclass_fields__})
                m[nid] = new.id
            for nid in sorted(region):
                new = b.nodes[m[nid]]
                for port, src in b.nodes[nid].inputs.items():
                    if src.node in region:
                        new.inputs[port] = Out(m[src.node], src.port, src.kind)
                    else:
                        new.inputs[port] = b.out(forks[src], f"out{lane}")
            clones.append(m)
        for o, rs in exits.items():
            for r, port in rs:
                rn = b.nodes[r]
                depth = _depth_below(b, rn, level)
                lanes = {f"in{lane}": Out(clones[lane][o.node], o.port, o.kind) for lane in range(p)}
                if depth > 0:  # fibers below v: the join counts v's coordinates (empty last fibers)
                    lanes["count"] = crd_v
                j = b.add(NodeKind.JOIN, lanes, arity=p, index=self.index, level=depth)
                rn.inputs[port] = b.out(j, "out")
        for nid in region:
            b.remove(nid)


def outermost_output_index(b: GraphBuilder) -> str | None:
    """The index of the first output's top level (what ``*`` parallelizes), if it has one."""
    tops = sorted((n.id, n.attrs.index) for n in b.nodes.values()
                  if n.kind is NodeKind.LEVEL_WRITE and not n.attrs.level and n.attrs.index)
    return tops[0][1] if tops else None


def _top_extent(b: GraphBuilder, index: str) -> int | None:
    """The dimension of ``index`` where it is a kernel's top level (scanned from the root)."""
    dims = [n.attrs.dim for n in b.nodes.values()
            if n.kind is NodeKind.LEVEL_SCAN and n.attrs.index == index and not n.attrs.level and n.attrs.dim]
    return max(dims) if dims else None


def _outputs(b: GraphBuilder, n: BNode) -> list[Out]:
    from fuseflow.ir.graph import port_specs

    outs = []
    for spec in port_specs(n.kind, n.attrs)[1]:
        try:
            outs.append(b.out(n, spec.name))
        except CompileError:
            continue
    return outs


def _aligned_streams(b: GraphBuilder, crd_v: Out) -> set[Out]:
    """Streams with one token per coordinate of ``crd_v`` (and the same stops)."""
    aligned = set(_outputs(b, b.nodes[crd_v.node]))
    changed = True
    while changed:
        changed = False
        for n in b.nodes.values():
            if n.kind is NodeKind.REPEAT_SIG and n.inputs.get("crd") in aligned:
                sig = b.out(n, "repsig")
                for m in b.nodes.values():
                    if m.kind is NodeKind.REPEAT and m.inputs.get("repsig") == sig:
                        for o in _outputs(b, m):
                            if o not in aligned:
                                aligned.add(o)
                                changed = True
            if n.kind in (NodeKind.LOCATE, NodeKind.BROADCAST) and (n.inputs.get("crd") in aligned
                                                                    or n.inputs.get("in") in aligned):
                for o in _outputs(b, n):
                    if o not in aligned:
                        aligned.add(o)
                        changed = True
    return aligned


def _depth_below(b: GraphBuilder, writer: BNode, level: int) -> int:
    if writer.kind is NodeKind.LEVEL_WRITE:
        return (writer.attrs.level or 0) - level
    nlev = sum(1 for n in b.nodes.values()
               if n.kind is NodeKind.LEVEL_WRITE and n.attrs.tensor == writer.attrs.tensor)
    return nlev - 1 - level


@dataclass
class ParallelizeNest:
    """Several ``--par`` requests: applied innermost index first, so an outer index's
    region contains (and clones) the inner one's forks and joins: 4x4 nests."""

    name: ClassVar[str] = "parallelize-nest"
    requests: tuple[tuple[str, int], ...] = ()

    def apply(self, b: GraphBuilder) -> None:
        def depth(index: str) -> int:
            levels = [n.attrs.level or 0 for n in b.nodes.values()
                      if n.kind is NodeKind.LEVEL_WRITE and n.attrs.index == index]
            return min(levels) if levels else -1

        for index, factor in sorted(self.requests, key=lambda r: -depth(r[0])):
            Parallelize(index=index, factor=factor).apply(b)
