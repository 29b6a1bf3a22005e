"""The dataflow-graph level of the IR: SAM primitives with typed ports, joined by streams.

Every stream has exactly one writer port and one reader port; fan-out is an explicit
BROADCAST node. Port lists depend on a node's kind and, for variadic kinds (joiners,
broadcast, fork, join, ALU), on its ``arity`` attribute.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

from fuseflow.ir.errors import VerificationError
from fuseflow.ir.formats import LevelFormat
from fuseflow.ir.program import BinaryOp, ReduceOp, UnaryOp


class StreamKind(enum.Enum):
    CRD = "crd"
    REF = "ref"
    VAL = "val"
    REPSIG = "repsig"


class NodeKind(enum.Enum):
    ROOT = "root"
    LEVEL_SCAN = "level_scan"
    LEVEL_WRITE = "level_write"
    VAL_WRITE = "val_write"
    VAL_ARRAY = "val_array"
    REPEAT_SIG = "repeat_sig"
    REPEAT = "repeat"
    INTERSECT = "intersect"
    UNION = "union"
    ALU = "alu"
    REDUCE = "reduce"
    SPACC1 = "spacc1"
    SPACC2 = "spacc2"
    CRD_DROP = "crd_drop"
    CRD_HOLD = "crd_hold"
    LOCATE = "locate"
    BROADCAST = "broadcast"
    FORK = "fork"
    JOIN = "join"


AluOp = UnaryOp | BinaryOp


@dataclass(frozen=True)
class Attrs:
    """Typed node attributes; which ones a kind needs is in :data:`REQUIRED_ATTRS`."""

    index: str | None = None  # index variable the node iterates / joins / reduces
    tensor: str | None = None  # tensor read or written
    level: int | None = None  # storage level of ``tensor``
    format: LevelFormat | None = None  # format of that level
    dim: int | None = None  # size of a dense level (coordinates 0..dim-1)
    arity: int | None = None  # number of inputs (joiner, ALU, join) or outputs (broadcast, fork)
    op: UnaryOp | BinaryOp | ReduceOp | None = None  # ALU / reduce operation
    scalar: float | None = None  # operand of scalar ALU ops
    block: tuple[int, ...] | None = None  # value tile shape in blocked mode
    label: str | None = None  # free text for humans (e.g. which expression it came from)


REQUIRED_ATTRS: dict[NodeKind, tuple[str, ...]] = {
    NodeKind.ROOT: (),
    # a dense scan with no tensor (only ``dim``) iterates an index space (the "universe")
    NodeKind.LEVEL_SCAN: ("format", "index"),
    NodeKind.LEVEL_WRITE: ("tensor", "level", "format"),
    NodeKind.VAL_WRITE: ("tensor",),
    NodeKind.VAL_ARRAY: ("tensor",),
    NodeKind.REPEAT_SIG: (),
    NodeKind.REPEAT: (),
    NodeKind.INTERSECT: ("index", "arity"),
    NodeKind.UNION: ("index", "arity"),
    NodeKind.ALU: ("op", "arity"),
    NodeKind.REDUCE: ("op",),
    NodeKind.SPACC1: ("index",),
    NodeKind.SPACC2: ("index",),
    NodeKind.CRD_DROP: (),
    NodeKind.CRD_HOLD: (),
    NodeKind.LOCATE: ("tensor", "level", "index"),
    NodeKind.BROADCAST: ("arity",),
    NodeKind.FORK: ("arity",),
    NodeKind.JOIN: ("arity",),
}

CRD, REF, VAL, REPSIG = StreamKind.CRD, StreamKind.REF, StreamKind.VAL, StreamKind.REPSIG
ANY = frozenset(StreamKind)
REF_OR_VAL = frozenset({REF, VAL})
CRD_OR_REF = frozenset({CRD, REF})


@dataclass(frozen=True)
class PortSpec:
    name: str
    kinds: frozenset[StreamKind]
    optional: bool = False
    same_as: str | None = None  # an output whose kind equals the kind on this input port

    def accepts(self, kind: StreamKind) -> bool:
        return kind in self.kinds


def _p(name: str, kinds: StreamKind | frozenset[StreamKind], optional: bool = False,
       same_as: str | None = None) -> PortSpec:
    ks = frozenset({kinds}) if isinstance(kinds, StreamKind) else kinds
    return PortSpec(name, ks, optional, same_as)


# caches keyed by the kind's value: enum members hash in Python, strings in C
_SPECS: dict[tuple[str, int], tuple[tuple[PortSpec, ...], tuple[PortSpec, ...]]] = {}
_SPEC_MAPS: dict[tuple[str, int], tuple[dict[str, PortSpec], dict[str, PortSpec]]] = {}


def port_specs(kind: NodeKind, attrs: Attrs) -> tuple[tuple[PortSpec, ...], tuple[PortSpec, ...]]:
    """(inputs, outputs) of a node of this kind with these attributes (cached, immutable)."""
    key = (kind._value_, attrs.arity or 0)
    hit = _SPECS.get(key)
    if hit is None:
        ins, outs = _build_port_specs(kind, Attrs(arity=attrs.arity or 0))
        hit = _SPECS[key] = (tuple(ins), tuple(outs))
    return hit


def port_spec_maps(kind: NodeKind, attrs: Attrs) -> tuple[dict[str, PortSpec], dict[str, PortSpec]]:
    """(inputs, outputs) by port name (cached; do not mutate)."""
    key = (kind._value_, attrs.arity or 0)
    hit = _SPEC_MAPS.get(key)
    if hit is None:
        ins, outs = port_specs(kind, attrs)
        hit = _SPEC_MAPS[key] = ({p.name: p for p in ins}, {p.name: p for p in outs})
    return hit


def _build_port_specs(kind: NodeKind, attrs: Attrs) -> tuple[list[PortSpec], list[PortSpec]]:
    n = attrs.arity or 0
    if kind is NodeKind.ROOT:
        return [], [_p("ref", REF)]
    if kind is NodeKind.LEVEL_SCAN:
        return [_p("ref", REF)], [_p("crd", CRD), _p("ref", REF)]
    if kind is NodeKind.LEVEL_WRITE:
        return [_p("crd", CRD)], []
    if kind is NodeKind.VAL_WRITE:
        return [_p("val", VAL)], []
    if kind is NodeKind.VAL_ARRAY:
        return [_p("ref", REF)], [_p("val", VAL)]
    if kind is NodeKind.REPEAT_SIG:
        return [_p("crd", CRD_OR_REF)], [_p("repsig", REPSIG)]
    if kind is NodeKind.REPEAT:
        return [_p("in", REF_OR_VAL, same_as="out"), _p("repsig", REPSIG)], [_p("out", REF_OR_VAL)]
    if kind in (NodeKind.INTERSECT, NodeKind.UNION):
        ins = [_p(f"crd{i}", CRD) for i in range(n)]
        ins += [_p(f"ref{i}", REF_OR_VAL, same_as=f"ref{i}") for i in range(n)]
        return ins, [_p("crd", CRD)] + [_p(f"ref{i}", REF_OR_VAL) for i in range(n)]
    if kind is NodeKind.ALU:
        return [_p(chr(ord("a") + i), VAL) for i in range(n)], [_p("val", VAL)]
    if kind is NodeKind.REDUCE:
        # crd (optional): the coordinates of the level above the reduced one; with it an
        # empty parent fiber (a bare stop) yields no value, which SAM's folded stops
        # cannot express on the value stream alone
        return [_p("val", VAL), _p("crd", CRD, optional=True)], [_p("val", VAL)]
    if kind is NodeKind.SPACC1:
        return ([_p("crd_outer", CRD), _p("crd_inner", CRD), _p("val", VAL)],
                [_p("crd", CRD), _p("val", VAL)])
    if kind is NodeKind.SPACC2:
        return ([_p("crd_outer", CRD), _p("crd_mid", CRD), _p("crd_inner", CRD), _p("val", VAL)],
                [_p("crd_mid", CRD), _p("crd_inner", CRD), _p("val", VAL)])
    if kind in (NodeKind.CRD_DROP, NodeKind.CRD_HOLD):
        return [_p("outer", CRD), _p("inner", CRD)], [_p("outer", CRD), _p("inner", CRD)]
    if kind is NodeKind.LOCATE:
        # located = base * dim + crd, token by token (base aligned with crd)
        return ([_p("crd", CRD), _p("ref", REF, optional=True), _p("base", REF, optional=True)],
                [_p("crd", CRD), _p("ref", REF), _p("located", REF)])
    if kind is NodeKind.BROADCAST:
        return [_p("in", ANY, same_as="*")], [_p(f"out{i}", ANY) for i in range(n)]
    if kind is NodeKind.FORK:
        return [_p("in", ANY, same_as="*")], [_p(f"out{i}", ANY) for i in range(n)]
    if kind is NodeKind.JOIN:
        # count: the forked coordinate stream, to tell a lane's empty last fiber from none
        return ([_p(f"in{i}", ANY, same_as="out") for i in range(n)] + [_p("count", CRD, optional=True)],
                [_p("out", ANY)])
    raise VerificationError(f"unknown node kind {kind!r}")


@dataclass(frozen=True)
class Node:
    id: int
    kind: NodeKind
    attrs: Attrs = Attrs()

    def inputs(self) -> tuple[PortSpec, ...]:
        return port_specs(self.kind, self.attrs)[0]

    def outputs(self) -> tuple[PortSpec, ...]:
        return port_specs(self.kind, self.attrs)[1]

    def describe(self) -> str:
        a = self.attrs
        bits = [f"{self.kind.value}#{self.id}"]
        if a.tensor is not None:
            bits.append(f"{a.tensor}" + (f".{a.level}" if a.level is not None else ""))
        if a.index is not None:
            bits.append(f"[{a.index}]")
        if a.op is not None:
            bits.append(a.op.value)
        return " ".join(bits)


@dataclass(frozen=True)
class PortRef:
    node: int
    port: str

    def __str__(self) -> str:
        return f"{self.node}.{self.port}"


@dataclass(frozen=True)
class Stream:
    id: int
    kind: StreamKind
    src: PortRef
    dst: PortRef
    name: str = ""


@dataclass
class Graph:
    name: str
    nodes: dict[int, Node] = field(default_factory=dict)
    streams: list[Stream] = field(default_factory=list)

    # -- construction -------------------------------------------------------------
    def add(self, kind: NodeKind, **attrs: object) -> Node:
        nid = self._next_id(self.nodes)
        node = Node(nid, kind, Attrs(**attrs))  # type: ignore[arg-type]  # attribute names and types come from Attrs' own fields
        self.nodes[nid] = node
        return node

    def connect(self, src: Node | int, src_port: str, dst: Node | int, dst_port: str,
                kind: StreamKind | None = None, name: str = "") -> Stream:
        s_id = src.id if isinstance(src, Node) else src
        d_id = dst.id if isinstance(dst, Node) else dst
        if kind is None:
            kind = self.infer_kind(PortRef(s_id, src_port))
        sid = self._next_stream_id()
        st = Stream(sid, kind, PortRef(s_id, src_port), PortRef(d_id, dst_port), name)
        self.streams.append(st)
        return st

    @staticmethod
    def _next_id(nodes: dict[int, Node]) -> int:
        """An unused id: one past the last added (``add`` inserts increasing ids)."""
        if not nodes:
            return 0
        cand = next(reversed(nodes)) + 1
        return cand if cand not in nodes else max(nodes) + 1

    def _next_stream_id(self) -> int:
        """Stream ids grow by one per ``connect``; the max is recomputed only when the list
        was changed behind our back."""
        cache = self.__dict__.get("_sid_cache")
        if cache is None or cache[0] != len(self.streams):
            top = max((st.id for st in self.streams), default=-1)
        else:
            top = cache[1]
        self.__dict__["_sid_cache"] = (len(self.streams) + 1, top + 1)
        return top + 1

    def infer_kind(self, out: PortRef) -> StreamKind:
        """The kind of stream an output port produces (polymorphic ports follow an input)."""
        node = self.nodes[out.node]
        spec = next((p for p in node.outputs() if p.name == out.port), None)
        if spec is None:
            raise VerificationError(f"{node.describe()} has no output port {out.port!r}")
        if len(spec.kinds) == 1:
            return next(iter(spec.kinds))
        for ip in node.inputs():
            if ip.same_as in (out.port, "*"):
                st = self.stream_into(PortRef(node.id, ip.name))
                if st is not None:
                    return st.kind
        raise VerificationError(
            f"cannot infer the stream kind of {node.describe()} port {out.port!r}: connect its input first"
        )

    def replace_node(self, node: Node) -> None:
        self.nodes[node.id] = node

    def set_attrs(self, nid: int, **attrs: object) -> None:
        self.nodes[nid] = replace(self.nodes[nid], attrs=replace(self.nodes[nid].attrs, **attrs))  # type: ignore[arg-type]  # attribute names and types come from Attrs' own fields

    # -- queries ------------------------------------------------------------------
    def stream_into(self, port: PortRef) -> Stream | None:
        for s in self.streams:
            if s.dst == port:
                return s
        return None

    def streams_from(self, nid: int) -> list[Stream]:
        return [s for s in self.streams if s.src.node == nid]

    def streams_to(self, nid: int) -> list[Stream]:
        return [s for s in self.streams if s.dst.node == nid]

    def topological_order(self) -> list[int]:
        """Node ids in dependency order; raises on a cycle (naming a node on it)."""
        indeg = {n: 0 for n in self.nodes}
        succ: dict[int, list[int]] = {n: [] for n in self.nodes}
        for s in self.streams:
            if s.src.node in indeg and s.dst.node in indeg:
                indeg[s.dst.node] += 1
                succ[s.src.node].append(s.dst.node)
        ready = sorted(n for n, d in indeg.items() if d == 0)
        order: list[int] = []
        import heapq

        heapq.heapify(ready)
        while ready:
            n = heapq.heappop(ready)
            order.append(n)
            for m in succ[n]:
                indeg[m] -= 1
                if indeg[m] == 0:
                    heapq.heappush(ready, m)
        if len(order) != len(self.nodes):
            stuck = sorted(n for n, d in indeg.items() if d > 0)
            raise VerificationError(
                f"graph {self.name}: cycle through {self.nodes[stuck[0]].describe()}"
            )
        return order

    def kind_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self.nodes.values():
            counts[n.kind.value] = counts.get(n.kind.value, 0) + 1
        return dict(sorted(counts.items()))
