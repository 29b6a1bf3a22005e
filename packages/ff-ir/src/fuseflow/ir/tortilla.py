"""Export a dataflow graph to the ``tortilla`` ComalGraph protobuf and import it back.

Each node becomes one ``Operation`` (id = node id); each stream is named on its writer's
and its reader's port by ``stream id + 1`` (tortilla reserves 0 for "unconnected").
Attributes the tortilla messages cannot hold travel in the FuseFlow extension field
``Operation.ff``: the exporter decodes its own message and records only what differs, so
export -> import gives the same graph. Import maps tortilla ops to :class:`NodeKind`:

    root->ROOT  fiber_lookup->LEVEL_SCAN  fiber_write->LEVEL_WRITE  val_write->VAL_WRITE
    array->VAL_ARRAY  repeatsig->REPEAT_SIG  repeat->REPEAT  joiner->INTERSECT/UNION
    alu->ALU  reduce->REDUCE  spacc->SPACC1/SPACC2 (by order)  coord_drop->CRD_DROP
    coord_hold->CRD_HOLD  locate->LOCATE  broadcast->BROADCAST  fork->FORK  join->JOIN

Port conventions: spacc ``input_outer_crds`` lists outer coordinates from the inside out
(order 1: [crd_outer]; order 2: [crd_mid, crd_outer]); locate ``output_ref1`` is ``ref`` and
``output_ref2`` is ``located``; an ALU has one stage reading slots 0..n-1 into slot n.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

from fuseflow.ir._proto import tortilla_pb2 as tp
from fuseflow.ir.dataflow import Kernel, Program
from fuseflow.ir.errors import FuseFlowError, IRFormatError
from fuseflow.ir.formats import LevelFormat
from fuseflow.ir.graph import Attrs, Graph, Node, NodeKind, PortRef, Stream, StreamKind
from fuseflow.ir.program import BinaryOp, ReduceOp, TensorProgram, UnaryOp
from fuseflow.ir.verify import MAX_ARITY

CRD, REF, VAL, REPSIG = StreamKind.CRD, StreamKind.REF, StreamKind.VAL, StreamKind.REPSIG
DEFAULT_CHANNEL_SIZE = 1 << 20
ATTR_NAMES = frozenset(f.name for f in fields(Attrs))
STREAM_KIND = {tp.CrdStream: CRD, tp.RefStream: REF, tp.ValStream: VAL, tp.RepSigStream: REPSIG}
BUNDLE_FIELD = {CRD: "crd", REF: "ref", VAL: "val", REPSIG: "repsig"}
OP_FAMILY: dict[str, type[UnaryOp] | type[BinaryOp] | type[ReduceOp]] = {
    "unary": UnaryOp, "binary": BinaryOp, "reduce": ReduceOp}
A = tp.ALU
ALU_EXPORT: dict[UnaryOp | BinaryOp, int] = {
    BinaryOp.ADD: A.ADD, BinaryOp.SUB: A.SUB, BinaryOp.MUL: A.MUL, BinaryOp.DIV: A.DIV,
    BinaryOp.MAX: A.MAX, UnaryOp.EXP: A.EXP, UnaryOp.RSQRT: A.RSQRT, UnaryOp.SIGMOID: A.SIGMOID,
    UnaryOp.SCALAR_ADD: A.SCALARADD, UnaryOp.SCALAR_MUL: A.SCALARMUL, UnaryOp.SCALAR_DIV: A.SCALARDIV,
    UnaryOp.SCALAR_MAX: A.MAX, UnaryOp.RELU: A.MAX, UnaryOp.NEG: A.SCALARMUL,
}
ALU_IMPORT: dict[int, UnaryOp | BinaryOp] = {
    A.ADD: BinaryOp.ADD, A.SUB: BinaryOp.SUB, A.MUL: BinaryOp.MUL, A.ELEMMUL: BinaryOp.MUL,
    A.DIV: BinaryOp.DIV, A.EXP: UnaryOp.EXP, A.RSQRT: UnaryOp.RSQRT, A.SIGMOID: UnaryOp.SIGMOID,
    A.SCALARADD: UnaryOp.SCALAR_ADD, A.SCALARMUL: UnaryOp.SCALAR_MUL, A.SCALARDIV: UnaryOp.SCALAR_DIV,
}


def _fail(msg: str) -> IRFormatError:
    return IRFormatError(msg)


# ---- export -----------------------------------------------------------------------

class _Ports:
    """The stream on each (node, port) of a graph, checked to be unique."""

    def __init__(self, g: Graph) -> None:
        self.into: dict[tuple[int, str], Stream] = {}
        self.out: dict[tuple[int, str], Stream] = {}
        for s in g.streams:
            if s.id < 0:
                raise _fail(f"graph {g.name}: stream id {s.id} is negative (tortilla ids are unsigned)")
            for table, end in ((self.out, s.src), (self.into, s.dst)):
                key = (end.node, end.port)
                if key in table:
                    raise _fail(f"graph {g.name}: port {end} has two streams; tortilla holds one per port")
                table[key] = s
        self.written: set[tuple[bool, int, str]] = set()
        self.roots = {n.id for n in g.nodes.values() if n.kind is NodeKind.ROOT}

    def stream(self, node: Node, port: str, output: bool) -> Stream | None:
        s = (self.out if output else self.into).get((node.id, port))
        if s is not None:
            self.written.add((output, node.id, port))
        return s

    def kind(self, node: Node, ports: list[tuple[str, bool]], default: StreamKind = REF) -> StreamKind:
        for port, output in ports:
            s = (self.out if output else self.into).get((node.id, port))
            if s is not None:
                return s.kind
        return default


def _put(msg: Any, s: Stream | None) -> None:
    msg.id.id = s.id + 1 if s is not None else 0
    if s is not None and s.name:
        msg.name = s.name


def _shape(msg: Any, block: tuple[int, ...] | None) -> None:
    if block is not None and len(block) == 2 and block[0] == block[1] and block[0] > 0:
        msg.blocked, msg.stream_shape = True, block[0]


def _u(v: int | None) -> int:
    return v if isinstance(v, int) and v >= 0 else 0


def _export_node(n: Node, ports: _Ports, op: tp.Operation) -> None:  # noqa: C901 - one case per kind
    a, k = n.attrs, n.kind
    if a.arity is not None and a.arity > MAX_ARITY:
        raise _fail(f"{n.describe()}: arity {a.arity} is too large to export")
    m: Any  # the op message being filled

    def inp(port: str) -> Stream | None:
        return ports.stream(n, port, False)

    def out(port: str) -> Stream | None:
        return ports.stream(n, port, True)

    label = a.label or ""
    if k is NodeKind.ROOT:
        op.root.label, op.root.tensor = label, a.tensor or ""
        _put(op.root.output_ref, out("ref"))
    elif k is NodeKind.LEVEL_SCAN:
        m = op.fiber_lookup
        _put(m.input_ref, inp("ref"))
        _put(m.output_ref, out("ref"))
        _put(m.output_crd, out("crd"))
        m.index, m.tensor, m.mode, m.label = a.index or "", a.tensor or "", _u(a.level), label
        m.format = a.format.value if a.format else ""
        src = ports.into.get((n.id, "ref"))
        m.root = src is not None and src.src.node in ports.roots
    elif k is NodeKind.LEVEL_WRITE:
        m = op.fiber_write
        _put(m.input_crd, inp("crd"))
        m.index, m.tensor, m.label = a.index or "", a.tensor or "", label
        m.mode_val = str(a.level) if a.level is not None and a.level >= 0 else ""
        m.format = a.format.value if a.format else ""
    elif k is NodeKind.VAL_WRITE:
        _put(op.val_write.input_val, inp("val"))
        op.val_write.tensor, op.val_write.label = a.tensor or "", label
    elif k is NodeKind.VAL_ARRAY:
        m = op.array
        _put(m.input_ref, inp("ref"))
        _put(m.output_val, out("val"))
        m.tensor, m.label = a.tensor or "", label
        _shape(m, a.block)
    elif k is NodeKind.REPEAT_SIG:
        _put(op.repeatsig.input_crd, inp("crd"))
        _put(op.repeatsig.output_rep_sig, out("repsig"))
        op.repeatsig.index, op.repeatsig.label = a.index or "", label
    elif k is NodeKind.REPEAT:
        m = op.repeat
        kind = ports.kind(n, [("in", False), ("out", True)])
        _put(m.in_val if kind is VAL else m.in_ref, inp("in"))
        _put(m.out_val if kind is VAL else m.out_ref, out("out"))
        _put(m.rep_ref, inp("repsig"))
        m.index, m.tensor, m.label = a.index or "", a.tensor or "", label
    elif k in (NodeKind.INTERSECT, NodeKind.UNION):
        m = op.joiner
        m.join_type = tp.Joiner.INTERSECT if k is NodeKind.INTERSECT else tp.Joiner.UNION
        for i in range(_u(a.arity)):
            kind = ports.kind(n, [(f"ref{i}", False), (f"ref{i}", True)])
            pair = m.input_pairs.add()
            _put(pair.crd, inp(f"crd{i}"))
            _put(pair.in_ref.val_stream if kind is VAL else pair.in_ref.ref_stream, inp(f"ref{i}"))
            payload = m.output_refs.add()
            _put(payload.val_stream if kind is VAL else payload.ref_stream, out(f"ref{i}"))
        _put(m.output_crd, out("crd"))
        m.index, m.label = a.index or "", label
    elif k is NodeKind.ALU:
        m = op.alu
        n_in = _u(a.arity)
        m.vals.SetInParent()
        for i in range(n_in):
            _put(m.vals.inputs.add(), inp(chr(ord("a") + i)))
        _put(m.vals.output, out("val"))
        if a.op in ALU_EXPORT:
            m.stages.add(inputs=range(n_in), output=n_in, op=ALU_EXPORT[a.op])  # type: ignore[index]  # ALU ops exported are the ones in ALU_EXPORT (checked on import)
        m.output_val, m.label = n_in, label
        m.scalar = -1.0 if a.op is UnaryOp.NEG else (a.scalar or 0.0)
        _shape(m, a.block)
    elif k is NodeKind.REDUCE:
        m = op.reduce
        _put(m.input_val, inp("val"))
        _put(m.output_val, out("val"))
        m.reduce_type = tp.Reduce.MAX if a.op is ReduceOp.MAX else tp.Reduce.ADD
        m.label = label
        _shape(m, a.block)
    elif k in (NodeKind.SPACC1, NodeKind.SPACC2):
        m = op.spacc
        m.order = 1 if k is NodeKind.SPACC1 else 2
        _put(m.input_inner_crd, inp("crd_inner"))
        if k is NodeKind.SPACC2:
            _put(m.input_outer_crds.add(), inp("crd_mid"))
        _put(m.input_outer_crds.add(), inp("crd_outer"))
        _put(m.input_val, inp("val"))
        if k is NodeKind.SPACC1:
            _put(m.output_inner_crd, out("crd"))
        else:
            _put(m.output_inner_crd, out("crd_inner"))
            _put(m.output_outer_crds.add(), out("crd_mid"))
        _put(m.output_val, out("val"))
        if a.index is not None:
            m.outer_crds.append(a.index)
        m.label = label
        _shape(m, a.block)
    elif k in (NodeKind.CRD_DROP, NodeKind.CRD_HOLD):
        m = op.coord_drop if k is NodeKind.CRD_DROP else op.coord_hold
        _put(m.input_outer_crd, inp("outer"))
        _put(m.input_inner_crd, inp("inner"))
        _put(m.output_outer_crd, out("outer"))
        _put(m.output_inner_crd, out("inner"))
        m.outer_crd, m.label = a.index or "", label
    elif k is NodeKind.LOCATE:
        m = op.locate
        _put(m.input_crd, inp("crd"))
        _put(m.input_ref, inp("ref"))
        _put(m.output_crd, out("crd"))
        _put(m.output_ref1, out("ref"))
        _put(m.output_ref2, out("located"))
        m.label = label
        base = inp("base")
        if base is not None:
            _put(op.ff.locate_base, base)
    elif k in (NodeKind.BROADCAST, NodeKind.FORK, NodeKind.JOIN):
        m = {NodeKind.BROADCAST: op.broadcast, NodeKind.FORK: op.fork, NodeKind.JOIN: op.join}[k]
        many = [f"{'in' if k is NodeKind.JOIN else 'out'}{i}" for i in range(_u(a.arity))]
        one = "out" if k is NodeKind.JOIN else "in"
        kind = ports.kind(n, [(one, k is NodeKind.JOIN)] + [(p, k is not NodeKind.JOIN) for p in many])
        bundle = getattr(m, BUNDLE_FIELD[kind])
        if k is NodeKind.JOIN:
            _put(bundle.output, out("out"))
            for p in many:
                _put(bundle.inputs.add(), inp(p))
            count = inp("count")
            if count is not None:
                _put(op.ff.join_count, count)
        else:
            _put(bundle.input, inp("in"))
            for p in many:
                _put(bundle.outputs.add(), out(p))
        m.label = label
    else:  # pragma: no cover - every kind is handled above
        raise _fail(f"cannot export node kind {k.value}")


def graph_to_tortilla(g: Graph, name: str | None = None,
                      channel_size: int = DEFAULT_CHANNEL_SIZE) -> tp.ComalGraph:
    """A ComalGraph message for ``g`` (``name`` defaults to the graph name)."""
    ports = _Ports(g)
    msg = tp.ComalGraph(name=g.name if name is None else name, channel_size=channel_size)
    msg.graph.name = g.name
    for n in g.nodes.values():
        if n.id < 0:
            raise _fail(f"graph {g.name}: node id {n.id} is negative (tortilla ids are unsigned)")
        op = msg.graph.operators.add(name=f"{n.kind.value}_{n.id}", id=n.id)
        _export_node(n, ports, op)
        _record_extras(n, op)
    lost = [s for s in g.streams
            if (True, s.src.node, s.src.port) not in ports.written
            or (False, s.dst.node, s.dst.port) not in ports.written]
    if lost:
        raise _fail(f"graph {g.name}: stream {lost[0].id} ({lost[0].src} -> {lost[0].dst}) "
                    "does not join ports tortilla can hold")
    return msg


def _op_text(op: UnaryOp | BinaryOp | ReduceOp) -> str:
    family = "unary" if isinstance(op, UnaryOp) else "binary" if isinstance(op, BinaryOp) else "reduce"
    return f"{family}.{op.value}"


def _record_extras(n: Node, op: tp.Operation) -> None:
    """Put into ``op.ff`` the attributes the native fields do not give back."""
    native = _decode(op, strict=False)[1]
    ff = op.ff
    ff.SetInParent()  # present even when empty: it marks the file as FuseFlow's (see graph_from_tortilla)
    for f in fields(Attrs):
        want, got = getattr(n.attrs, f.name), native.get(f.name)
        if want == got and type(want) is type(got):
            continue
        if want is None:
            ff.unset.append(f.name)
        elif f.name == "format":
            ff.format = want.value
        elif f.name == "op":
            ff.op = _op_text(want)
        elif f.name == "block":
            ff.has_block = True
            ff.block.extend(want)
        else:
            setattr(ff, f.name, want)


# ---- import -----------------------------------------------------------------------

@dataclass
class _End:
    port: str
    output: bool
    msg: Any  # a typed stream message


def _ends(*items: tuple[str, bool, Any]) -> list[_End]:
    return [_End(p, o, m) for p, o, m in items]


def _level_format(text: str) -> LevelFormat | None:
    if not text:
        return None
    try:
        return LevelFormat(text)
    except ValueError:
        raise _fail(f"unknown level format {text!r}") from None


def _block(m: Any) -> tuple[int, int] | None:
    return (m.stream_shape, m.stream_shape) if m.blocked else None


def _s(text: str) -> str | None:
    return text or None


def _decode(op: tp.Operation, strict: bool = True, ours: bool = True  # noqa: C901
            ) -> tuple[NodeKind, dict[str, Any], list[_End]]:
    """(kind, native attributes, port ends) of one operation, before the ``ff`` extension."""
    which = op.WhichOneof("op")
    if which == "root":
        m = op.root
        return NodeKind.ROOT, {"tensor": _s(m.tensor), "label": _s(m.label)}, _ends(("ref", True, m.output_ref))
    if which == "fiber_lookup":
        m = op.fiber_lookup
        attrs = {"index": _s(m.index), "tensor": _s(m.tensor), "level": m.mode, "label": _s(m.label),
                 "format": _level_format(m.format)}
        return NodeKind.LEVEL_SCAN, attrs, _ends(("ref", False, m.input_ref), ("ref", True, m.output_ref),
                                                 ("crd", True, m.output_crd))
    if which == "fiber_write":
        m = op.fiber_write
        attrs = {"index": _s(m.index), "tensor": _s(m.tensor), "label": _s(m.label),
                 "level": int(m.mode_val) if m.mode_val.isdigit() else None, "format": _level_format(m.format)}
        return NodeKind.LEVEL_WRITE, attrs, _ends(("crd", False, m.input_crd))
    if which == "val_write":
        m = op.val_write
        return NodeKind.VAL_WRITE, {"tensor": _s(m.tensor), "label": _s(m.label)}, _ends(
            ("val", False, m.input_val))
    if which == "array":
        m = op.array
        return NodeKind.VAL_ARRAY, {"tensor": _s(m.tensor), "label": _s(m.label), "block": _block(m)}, _ends(
            ("ref", False, m.input_ref), ("val", True, m.output_val))
    if which == "repeatsig":
        m = op.repeatsig
        return NodeKind.REPEAT_SIG, {"index": _s(m.index), "label": _s(m.label)}, _ends(
            ("crd", False, m.input_crd), ("repsig", True, m.output_rep_sig))
    if which == "repeat":
        m = op.repeat
        ins = m.in_val if m.WhichOneof("input_ref") == "in_val" else m.in_ref
        outs = m.out_val if m.WhichOneof("output_ref") == "out_val" else m.out_ref
        rep = m.rep_val if m.WhichOneof("input_rep_sig") == "rep_val" else m.rep_ref
        return NodeKind.REPEAT, {"index": _s(m.index), "tensor": _s(m.tensor), "label": _s(m.label)}, _ends(
            ("in", False, ins), ("out", True, outs), ("repsig", False, rep))
    if which == "joiner":
        m = op.joiner
        kind = NodeKind.INTERSECT if m.join_type == tp.Joiner.INTERSECT else NodeKind.UNION
        ends = _ends(("crd", True, m.output_crd))
        for i, pair in enumerate(m.input_pairs):
            ends += _ends((f"crd{i}", False, pair.crd), (f"ref{i}", False, _payload(pair.in_ref)))
        for i, payload in enumerate(m.output_refs):
            ends += _ends((f"ref{i}", True, _payload(payload)))
        return kind, {"index": _s(m.index), "label": _s(m.label), "arity": len(m.input_pairs)}, ends
    if which == "alu":
        return _decode_alu(op.alu, strict)
    if which == "reduce":
        m = op.reduce
        rop = ReduceOp.MAX if m.reduce_type == tp.Reduce.MAX else ReduceOp.SUM
        return NodeKind.REDUCE, {"op": rop, "label": _s(m.label), "block": _block(m)}, _ends(
            ("val", False, m.input_val), ("val", True, m.output_val))
    if which == "spacc":
        return _decode_spacc(op.spacc, strict)
    if which in ("coord_drop", "coord_hold"):
        m = getattr(op, which)
        kind = NodeKind.CRD_DROP if which == "coord_drop" else NodeKind.CRD_HOLD
        return kind, {"index": _s(m.outer_crd), "label": _s(m.label)}, _ends(
            ("outer", False, m.input_outer_crd), ("inner", False, m.input_inner_crd),
            ("outer", True, m.output_outer_crd), ("inner", True, m.output_inner_crd))
    if which == "locate":
        m = op.locate
        # FuseFlow's exporter puts the passed-through ref in output_ref1; the original
        # compiler puts the located (dense side) ref there
        ends = _ends(("crd", False, m.input_crd), ("ref", False, m.input_ref), ("crd", True, m.output_crd),
                     ("ref" if ours else "located", True, m.output_ref1),
                     ("located" if ours else "ref", True, m.output_ref2))
        if op.ff.HasField("locate_base"):
            ends += _ends(("base", False, op.ff.locate_base))
        return NodeKind.LOCATE, {"label": _s(m.label)}, ends
    if which in ("broadcast", "fork", "join"):
        m = getattr(op, which)
        kind = {"broadcast": NodeKind.BROADCAST, "fork": NodeKind.FORK, "join": NodeKind.JOIN}[which]
        conn = m.WhichOneof("conn")
        bundle = getattr(m, conn) if conn else None
        ends = []
        if which == "join":
            many = list(bundle.inputs) if bundle else []
            if bundle:
                ends = _ends(("out", True, bundle.output))
            ends += [_End(f"in{i}", False, s) for i, s in enumerate(many)]
            if op.ff.HasField("join_count"):
                ends += _ends(("count", False, op.ff.join_count))
        else:
            many = list(bundle.outputs) if bundle else []
            if bundle:
                ends = _ends(("in", False, bundle.input))
            ends += [_End(f"out{i}", True, s) for i, s in enumerate(many)]
        return kind, {"arity": len(many), "label": _s(m.label)}, ends
    if which is None:
        raise _fail(f"operation {op.id} has no op")
    raise _fail(f"operation {op.id}: tortilla op {which!r} has no FuseFlow counterpart")


def _payload(p: tp.Joiner.Payload) -> Any:
    return p.val_stream if p.WhichOneof("stream") == "val_stream" else p.ref_stream


def _decode_alu(m: tp.ALU, strict: bool) -> tuple[NodeKind, dict[str, Any], list[_End]]:
    if m.WhichOneof("conn") == "crds":
        raise _fail("ALU over coordinate streams has no FuseFlow counterpart")
    n_in = len(m.vals.inputs)
    op: UnaryOp | BinaryOp | None = None
    if len(m.stages) > 1 and strict:
        raise _fail(f"ALU with {len(m.stages)} stages is not supported (one stage only)")
    if m.stages:
        code = m.stages[0].op
        if code == A.MAX:
            op = BinaryOp.MAX if n_in >= 2 else UnaryOp.SCALAR_MAX
        elif code in ALU_IMPORT:
            op = ALU_IMPORT[code]
        elif strict:
            raise _fail(f"ALU op {A.ALUOp.Name(code)} has no FuseFlow counterpart")
    scalar = m.scalar if isinstance(op, UnaryOp) and op.takes_scalar else None
    attrs = {"op": op, "arity": n_in, "scalar": scalar, "label": _s(m.label), "block": _block(m)}
    ends = [_End(chr(ord("a") + i), False, s) for i, s in enumerate(m.vals.inputs)]
    return NodeKind.ALU, attrs, ends + _ends(("val", True, m.vals.output))


def _decode_spacc(m: tp.SparseAccumulator, strict: bool) -> tuple[NodeKind, dict[str, Any], list[_End]]:
    outer = list(m.input_outer_crds)
    attrs = {"index": m.outer_crds[0] if m.outer_crds else None, "label": _s(m.label), "block": _block(m)}
    ends = _ends(("crd_inner", False, m.input_inner_crd), ("val", False, m.input_val),
                 ("val", True, m.output_val))
    if m.order == 2:
        if strict and (len(outer) != 2 or len(m.output_outer_crds) != 1):
            raise _fail("spacc of order 2 needs two outer input crds and one outer output crd")
        ends += [_End(p, False, s) for p, s in zip(("crd_mid", "crd_outer"), outer, strict=False)]
        ends += _ends(("crd_inner", True, m.output_inner_crd))
        ends += [_End("crd_mid", True, s) for s in m.output_outer_crds[:1]]
        return NodeKind.SPACC2, attrs, ends
    if strict and (m.order != 1 or len(outer) != 1):
        raise _fail(f"spacc of order {m.order} with {len(outer)} outer crds is not supported")
    ends += [_End("crd_outer", False, s) for s in outer[:1]]
    return NodeKind.SPACC1, attrs, ends + _ends(("crd", True, m.output_inner_crd))


def _apply_extras(attrs: dict[str, Any], ff: tp.FuseFlowAttrs) -> None:
    for f in ("index", "tensor", "level", "dim", "arity", "scalar", "label"):
        if ff.HasField(f):
            attrs[f] = getattr(ff, f)
    if ff.HasField("format"):
        attrs["format"] = _level_format(ff.format)
    if ff.HasField("op"):
        family, _, value = ff.op.partition(".")
        try:
            attrs["op"] = OP_FAMILY[family](value)
        except (KeyError, ValueError):
            raise _fail(f"unknown op {ff.op!r}") from None
    if ff.has_block:
        attrs["block"] = tuple(ff.block)
    for f in ff.unset:
        if f not in ATTR_NAMES:
            raise _fail(f"unknown attribute {f!r}")
        attrs[f] = None


def graph_from_tortilla(msg: tp.ComalGraph) -> Graph:
    """The graph of a ComalGraph message (raises :class:`IRFormatError` if it is ill-formed)."""
    g = Graph(msg.graph.name or msg.name)
    writers: dict[int, tuple[PortRef, StreamKind, str]] = {}
    readers: dict[int, tuple[PortRef, str]] = {}
    synthetic: list[tuple[int, str, int]] = []  # (repeat op id, index, its rep_ref stream id)
    # FuseFlow's exporter marks every operation with its extension; a graph with none was
    # written by the original compiler, whose port conventions differ (locate, repeat)
    ours = any(op.HasField("ff") for op in msg.graph.operators)
    for op in msg.graph.operators:
        if op.id in g.nodes:
            raise _fail(f"operation id {op.id} is used twice")
        kind, attrs, ends = _decode(op, ours=ours)
        _apply_extras(attrs, op.ff)
        g.nodes[op.id] = Node(op.id, kind, Attrs(**attrs))
        if kind is NodeKind.REPEAT and not ours:
            # the original compiler's repeat reads a *ref* stream as its signal: Comal builds a
            # repeat-signal generator over it (two contexts), so the graph gets one too
            rep = [e for e in ends if e.port == "repsig" and not e.output and e.msg.id.id]
            if rep and isinstance(rep[0].msg, (tp.RefStream, tp.CrdStream)):
                synthetic.append((op.id, attrs.get("index") or "", rep[0].msg.id.id))
                ends = [e for e in ends if e is not rep[0]]
        for e in ends:
            sid = e.msg.id.id
            if sid == 0:
                continue
            end = PortRef(op.id, e.port)
            if e.output:
                if sid in writers:
                    raise _fail(f"stream {sid} has two writers: {writers[sid][0]} and {end}")
                writers[sid] = (end, STREAM_KIND[type(e.msg)], e.msg.name)
            else:
                if sid in readers:
                    raise _fail(f"stream {sid} has two readers: {readers[sid][0]} and {end}")
                readers[sid] = (end, e.msg.name)
    next_id = max([*g.nodes, 0]) + 1
    next_sid = max([*writers, *readers, 0]) + 1
    for rid, index, sid in synthetic:
        gen = Node(next_id, NodeKind.REPEAT_SIG, Attrs(index=index or None, label="comal repeat signal"))
        g.nodes[next_id] = gen
        if sid in readers:
            raise _fail(f"stream {sid} has two readers: {readers[sid][0]} and {PortRef(rid, 'repsig')}")
        readers[sid] = (PortRef(next_id, "crd"), "")
        writers[next_sid] = (PortRef(next_id, "repsig"), REPSIG, "")
        readers[next_sid] = (PortRef(rid, "repsig"), "")
        next_id, next_sid = next_id + 1, next_sid + 1
    for sid in sorted(set(writers) | set(readers)):
        if sid not in writers:
            raise _fail(f"stream {sid} read by {readers[sid][0]} has no writer")
        if sid not in readers:
            raise _fail(f"stream {sid} written by {writers[sid][0]} has no reader")
        src, skind, name = writers[sid]
        g.streams.append(Stream(sid - 1, skind, src, readers[sid][0], name or readers[sid][1]))
    return g


# ---- programs and bytes -----------------------------------------------------------

READS = (NodeKind.LEVEL_SCAN, NodeKind.VAL_ARRAY, NodeKind.LOCATE)
WRITES = (NodeKind.LEVEL_WRITE, NodeKind.VAL_WRITE)


def _tensors(g: Graph, kinds: tuple[NodeKind, ...]) -> tuple[str, ...]:
    seen = {n.attrs.tensor: None for n in g.nodes.values() if n.kind in kinds and n.attrs.tensor}
    return tuple(seen)  # type: ignore[arg-type]  # names filtered to non-empty strings above


def program_to_tortilla(p: Program, channel_size: int = DEFAULT_CHANNEL_SIZE) -> bytes:
    """Serialize a one-kernel program's graph (the tensor program is not part of tortilla)."""
    if len(p.kernels) != 1:
        raise _fail(f"a tortilla file holds one kernel graph; program {p.name!r} has {len(p.kernels)} "
                    f"({', '.join(k.name for k in p.kernels)}): pick one with --kernel NAME")
    k = p.kernels[0]
    return graph_to_tortilla(k.graph, k.name, channel_size).SerializeToString(deterministic=True)


def _has_unknown(msg: Message) -> bool:
    if len(UnknownFieldSet(msg)):
        return True
    for fd, value in msg.ListFields():
        if fd.message_type is None:
            continue
        if fd.message_type.GetOptions().map_entry:
            continue
        items = value if fd.is_repeated else [value]
        if any(_has_unknown(v) for v in items):
            return True
    return False


def parse_tortilla(data: bytes, source: str, strict: bool = False) -> tp.ComalGraph:
    """Parse bytes as a ComalGraph; ``strict`` also rejects unknown fields and empty graphs
    (used to recognize a tortilla file by content)."""
    msg = tp.ComalGraph()
    try:
        msg.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise IRFormatError(f"{source}: not a readable tortilla graph ({e or 'truncated or corrupt'})") from None
    if strict and (not msg.graph.operators or _has_unknown(msg)
                   or any(op.WhichOneof("op") is None for op in msg.graph.operators)):
        raise IRFormatError(f"{source}: not a tortilla graph")
    return msg


def program_from_tortilla(data: bytes, source: str = "<tortilla>", strict: bool = False) -> Program:
    """A one-kernel program from tortilla bytes (no tensor declarations; inputs and outputs
    of the kernel are the tensors its scanners read and its writers write)."""
    msg = parse_tortilla(data, source, strict)
    try:
        g = graph_from_tortilla(msg)
    except FuseFlowError as e:
        raise IRFormatError(f"{source}: {e}") from None
    except (ValueError, TypeError) as e:
        raise IRFormatError(f"{source}: malformed tortilla graph: {e}") from None
    kernel = Kernel(msg.name or g.name, g, (), _tensors(g, READS), _tensors(g, WRITES))
    return Program(TensorProgram(name=msg.name or g.name), [kernel])
