"""A graph builder that lets an output port feed many readers.

Lowering and passes work on this form; :meth:`GraphBuilder.to_graph` turns each
multi-reader output into an explicit BROADCAST so that every IR stream has one
writer and one reader.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from fuseflow.ir.errors import CompileError
from fuseflow.ir.graph import Attrs, Graph, NodeKind, StreamKind, port_spec_maps, port_specs


@dataclass(frozen=True)
class Out:
    """An output port of a node, with the kind of stream it produces."""

    node: int
    port: str
    kind: StreamKind


@dataclass
class BNode:
    id: int
    kind: NodeKind
    attrs: Attrs
    inputs: dict[str, Out] = field(default_factory=dict)


class GraphBuilder:
    def __init__(self, name: str) -> None:
        self.name = name
        self.nodes: dict[int, BNode] = {}
        self._next = 0

    # -- construction ---------------------------------------------------------------
    def add(self, kind: NodeKind, inputs: dict[str, Out] | None = None, **attrs: object) -> BNode:
        node = BNode(self._next, kind, Attrs(**attrs), dict(inputs or {}))  # type: ignore[arg-type]  # attribute names and types come from Attrs' own fields
        self._next += 1
        self.nodes[node.id] = node
        return node

    def out(self, node: BNode, port: str) -> Out:
        spec = port_spec_maps(node.kind, node.attrs)[1].get(port)
        if spec is None:
            raise CompileError(f"internal: {node.kind.value} has no output port {port!r}")
        if len(spec.kinds) == 1:
            return Out(node.id, port, next(iter(spec.kinds)))
        # polymorphic port: follows the kind of the input that names it
        for ip in port_specs(node.kind, node.attrs)[0]:
            if ip.same_as in (port, "*") and ip.name in node.inputs:
                return Out(node.id, port, node.inputs[ip.name].kind)
        raise CompileError(f"internal: cannot infer kind of {node.kind.value}.{port}")

    # convenient single-output helpers
    def alu(self, op: object, *args: Out, scalar: float | None = None, label: str | None = None,
            block: tuple[int, ...] | None = None) -> Out:
        names = "ab"
        n = self.add(NodeKind.ALU, {names[i]: a for i, a in enumerate(args)}, op=op, arity=len(args),
                     scalar=scalar, label=label, block=block)
        return self.out(n, "val")

    def repeat(self, what: Out, crd: Out, index: str) -> Out:
        sig = self.add(NodeKind.REPEAT_SIG, {"crd": crd}, index=index)
        rep = self.add(NodeKind.REPEAT, {"in": what, "repsig": self.out(sig, "repsig")}, index=index)
        return self.out(rep, "out")

    # -- queries --------------------------------------------------------------------
    def readers(self) -> dict[Out, list[tuple[int, str]]]:
        r: dict[Out, list[tuple[int, str]]] = {}
        for n in self.nodes.values():
            for port, src in n.inputs.items():
                r.setdefault(src, []).append((n.id, port))
        return r

    def replace_uses(self, old: Out, new: Out) -> None:
        for n in self.nodes.values():
            for port, src in list(n.inputs.items()):
                if src == old:
                    n.inputs[port] = new

    def replace_many(self, mapping: dict[Out, Out]) -> None:
        """Redirect every reader of each key to its value, all at once."""
        for n in self.nodes.values():
            for port, src in list(n.inputs.items()):
                if src in mapping:
                    n.inputs[port] = mapping[src]

    def remove(self, nid: int) -> None:
        del self.nodes[nid]

    def set_attrs(self, nid: int, **attrs: Any) -> None:
        self.nodes[nid].attrs = replace(self.nodes[nid].attrs, **attrs)

    def counts(self) -> dict[str, int]:
        c: dict[str, int] = {}
        for n in self.nodes.values():
            c[n.kind.value] = c.get(n.kind.value, 0) + 1
        return dict(sorted(c.items()))

    # -- conversion -----------------------------------------------------------------
    def to_graph(self) -> Graph:
        """The IR graph: node ids renumbered densely, fan-out through BROADCAST nodes."""
        g = Graph(self.name)
        order = self._topo()
        new_id: dict[int, int] = {}
        readers = self.readers()
        bcast_outs: dict[Out, list[tuple[int, str]]] = {}
        for nid in order:
            n = self.nodes[nid]
            node = g.add(n.kind, **{k: getattr(n.attrs, k) for k in n.attrs.__dataclass_fields__})
            new_id[nid] = node.id
            for port in (p.name for p in port_specs(n.kind, n.attrs)[1]):
                o = self.out(n, port) if self._has_kind(n, port) else None
                if o is None:
                    continue
                rs = readers.get(o, [])
                if len(rs) > 1:
                    b = g.add(NodeKind.BROADCAST, arity=len(rs))
                    g.connect(node.id, port, b.id, "in", kind=o.kind)
                    bcast_outs[o] = [(b.id, f"out{i}") for i in range(len(rs))]
        # connect inputs (in reader order so broadcast lanes are deterministic)
        lane: dict[Out, int] = {}
        for nid in order:
            n = self.nodes[nid]
            for port, src in n.inputs.items():
                if src in bcast_outs:
                    k = lane.get(src, 0)
                    lane[src] = k + 1
                    b_id, b_port = bcast_outs[src][k]
                    g.connect(b_id, b_port, new_id[nid], port, kind=src.kind)
                else:
                    g.connect(new_id[src.node], src.port, new_id[nid], port, kind=src.kind)
        return g

    def _has_kind(self, n: BNode, port: str) -> bool:
        try:
            self.out(n, port)
            return True
        except CompileError:
            return False

    def _topo(self) -> list[int]:
        indeg = {n: 0 for n in self.nodes}
        succ: dict[int, list[int]] = {n: [] for n in self.nodes}
        for n in self.nodes.values():
            for src in n.inputs.values():
                if src.node not in self.nodes:
                    raise CompileError(f"internal: {n.kind.value}#{n.id} reads a removed node {src.node}")
                indeg[n.id] += 1
                succ[src.node].append(n.id)
        ready = sorted(n for n, d in indeg.items() if d == 0)
        out: list[int] = []
        import heapq

        heapq.heapify(ready)
        while ready:
            nid = heapq.heappop(ready)
            out.append(nid)
            for m in succ[nid]:
                indeg[m] -= 1
                if indeg[m] == 0:
                    heapq.heappush(ready, m)
        if len(out) != len(self.nodes):
            raise CompileError("internal: lowering produced a cycle")
        return out


def from_graph(g: Graph) -> GraphBuilder:
    """Back to the builder form: BROADCAST nodes dissolve into multi-reader outputs."""
    b = GraphBuilder(g.name)
    b._next = max(g.nodes, default=-1) + 1
    for n in g.nodes.values():
        if n.kind is not NodeKind.BROADCAST:
            b.nodes[n.id] = BNode(n.id, n.kind, n.attrs)
    src_of: dict[tuple[int, str], tuple[int, str, StreamKind]] = {}
    for s in g.streams:
        src_of[(s.dst.node, s.dst.port)] = (s.src.node, s.src.port, s.kind)

    def resolve(node: int, port: str, kind: StreamKind) -> Out:
        while g.nodes[node].kind is NodeKind.BROADCAST:
            node, port, kind = src_of[(node, "in")]
        return Out(node, port, kind)

    for (dn, dp), (sn, sp, kind) in src_of.items():
        if dn in b.nodes:
            b.nodes[dn].inputs[dp] = resolve(sn, sp, kind)
    return b
