"""Conversion between the IR dataclasses and the ``fuseflow.ir.v1`` protobuf messages.

Tensor data is not part of the message (it lives in a sidecar directory, see :mod:`io`).
Reading raises :class:`IRFormatError` for anything the dataclasses cannot hold.
"""

from __future__ import annotations

import enum
from typing import Any, TypeVar

from fuseflow.ir._proto import fuseflow_ir_pb2 as pb
from fuseflow.ir.dataflow import Kernel, Program
from fuseflow.ir.errors import FuseFlowError, IRFormatError
from fuseflow.ir.formats import DType, LevelFormat, TensorFormat
from fuseflow.ir.graph import Attrs, Graph, Node, NodeKind, PortRef, Stream, StreamKind
from fuseflow.ir.program import (
    Access,
    Assignment,
    Binary,
    BinaryOp,
    Const,
    Expr,
    FusionGroup,
    Reduce,
    ReduceOp,
    TensorDecl,
    TensorProgram,
    TensorRole,
    Unary,
    UnaryOp,
)

E = TypeVar("E", bound=enum.Enum)

# Python enum <-> proto enum number: members in declaration order, numbered from 1 (0 = unset).
# The proto enums list the members in the same order; a test checks the names agree.
PROTO_ENUMS: dict[type[enum.Enum], str] = {
    LevelFormat: "LevelFormat",
    DType: "DType",
    TensorRole: "TensorRole",
    UnaryOp: "UnaryOp",
    BinaryOp: "BinaryOp",
    ReduceOp: "ReduceOp",
    NodeKind: "NodeKind",
    StreamKind: "StreamKind",
}
MAX_EXPR_DEPTH = 200


def enum_to_pb(value: enum.Enum | None) -> Any:  # an int; Any fits the typed stubs
    if value is None:
        return 0
    return list(type(value)).index(value) + 1


def enum_from_pb(cls: type[E], number: int, what: str) -> E:
    members = list(cls)
    if not 1 <= number <= len(members):
        raise IRFormatError(f"{what}: no {cls.__name__} numbered {number}")
    return members[number - 1]


def _opt_enum(cls: type[E], number: int, what: str) -> E | None:
    return None if number == 0 else enum_from_pb(cls, number, what)


# ---- tensor program -----------------------------------------------------------------

def format_to_pb(fmt: TensorFormat, msg: pb.TensorFormat) -> None:
    msg.levels.extend(enum_to_pb(lv) for lv in fmt.levels)
    msg.mode_order.extend(fmt.mode_order)
    if fmt.block is not None:
        msg.has_block = True
        msg.block.extend(fmt.block)


def format_from_pb(msg: pb.TensorFormat, what: str) -> TensorFormat:
    levels = tuple(enum_from_pb(LevelFormat, n, what) for n in msg.levels)
    block = tuple(msg.block) if msg.has_block else None
    return TensorFormat(levels, tuple(msg.mode_order), block)


def expr_to_pb(e: Expr, msg: pb.Expr) -> None:
    if isinstance(e, Access):
        msg.access.tensor = e.tensor
        msg.access.indices.extend(e.indices)
    elif isinstance(e, Const):
        msg.const = float(e.value)
    elif isinstance(e, Unary):
        msg.unary.op = enum_to_pb(e.op)
        expr_to_pb(e.operand, msg.unary.operand)
        if e.scalar is not None:
            msg.unary.scalar = float(e.scalar)
    elif isinstance(e, Binary):
        msg.binary.op = enum_to_pb(e.op)
        expr_to_pb(e.lhs, msg.binary.lhs)
        expr_to_pb(e.rhs, msg.binary.rhs)
    elif isinstance(e, Reduce):
        msg.reduce.op = enum_to_pb(e.op)
        msg.reduce.indices.extend(e.indices)
        expr_to_pb(e.body, msg.reduce.body)
    else:
        raise IRFormatError(f"not an expression: {e!r}")


def expr_from_pb(msg: pb.Expr, what: str, depth: int = 0) -> Expr:
    if depth > MAX_EXPR_DEPTH:
        raise IRFormatError(f"{what}: expression nested deeper than {MAX_EXPR_DEPTH}")
    kind = msg.WhichOneof("kind")
    if kind == "access":
        return Access(msg.access.tensor, tuple(msg.access.indices))
    if kind == "const":
        return Const(msg.const)
    if kind == "unary":
        u = msg.unary
        scalar = u.scalar if u.HasField("scalar") else None
        return Unary(enum_from_pb(UnaryOp, u.op, what), expr_from_pb(u.operand, what, depth + 1), scalar)
    if kind == "binary":
        b = msg.binary
        return Binary(enum_from_pb(BinaryOp, b.op, what), expr_from_pb(b.lhs, what, depth + 1),
                      expr_from_pb(b.rhs, what, depth + 1))
    if kind == "reduce":
        r = msg.reduce
        return Reduce(enum_from_pb(ReduceOp, r.op, what), tuple(r.indices), expr_from_pb(r.body, what, depth + 1))
    raise IRFormatError(f"{what}: empty expression")


def tensor_program_to_pb(tp: TensorProgram, msg: pb.TensorProgram) -> None:
    msg.name = tp.name
    for t in tp.tensors.values():
        m = msg.tensors.add(name=t.name, role=enum_to_pb(t.role), dtype=enum_to_pb(t.dtype))
        m.shape.extend(t.shape)
        format_to_pb(t.format, m.format)
        m.index_names.extend(t.index_names)
        if t.view_of is not None:
            m.view_of = t.view_of
    for a in tp.assignments:
        am = msg.assignments.add(name=a.name, source=a.source)
        am.output.tensor = a.output.tensor
        am.output.indices.extend(a.output.indices)
        expr_to_pb(a.value, am.value)
    for g in tp.groups:
        msg.groups.add(name=g.name).assignments.extend(g.assignments)
    msg.outputs.extend(tp.outputs)


def tensor_program_from_pb(msg: pb.TensorProgram) -> TensorProgram:
    tp = TensorProgram(name=msg.name)
    for t in msg.tensors:
        what = f"tensor {t.name!r}"
        if t.name in tp.tensors:
            raise IRFormatError(f"{what} is declared twice")
        tp.tensors[t.name] = TensorDecl(
            t.name, tuple(t.shape), format_from_pb(t.format, what),
            enum_from_pb(TensorRole, t.role, what), enum_from_pb(DType, t.dtype, what),
            tuple(t.index_names), t.view_of if t.HasField("view_of") else None)
    for a in msg.assignments:
        what = f"expression {a.name!r}"
        out = Access(a.output.tensor, tuple(a.output.indices))
        tp.assignments.append(Assignment(a.name, out, expr_from_pb(a.value, what), a.source))
    tp.groups = [FusionGroup(g.name, tuple(g.assignments)) for g in msg.groups]
    tp.outputs = tuple(msg.outputs)
    return tp


# ---- dataflow graph -----------------------------------------------------------------

def attrs_to_pb(a: Attrs, msg: pb.Attrs) -> None:
    for f in ("index", "tensor", "level", "dim", "arity", "scalar", "label"):
        v = getattr(a, f)
        if v is not None:
            setattr(msg, f, v)
    msg.format = enum_to_pb(a.format)
    if isinstance(a.op, UnaryOp):
        msg.unary_op = enum_to_pb(a.op)
    elif isinstance(a.op, BinaryOp):
        msg.binary_op = enum_to_pb(a.op)
    elif isinstance(a.op, ReduceOp):
        msg.reduce_op = enum_to_pb(a.op)
    if a.block is not None:
        msg.has_block = True
        msg.block.extend(a.block)


def attrs_from_pb(msg: pb.Attrs, what: str) -> Attrs:
    vals: dict[str, object] = {}
    for f in ("index", "tensor", "level", "dim", "arity", "scalar", "label"):
        if msg.HasField(f):
            vals[f] = getattr(msg, f)
    vals["format"] = _opt_enum(LevelFormat, msg.format, what)
    which = msg.WhichOneof("op")
    if which == "unary_op":
        vals["op"] = enum_from_pb(UnaryOp, msg.unary_op, what)
    elif which == "binary_op":
        vals["op"] = enum_from_pb(BinaryOp, msg.binary_op, what)
    elif which == "reduce_op":
        vals["op"] = enum_from_pb(ReduceOp, msg.reduce_op, what)
    vals["block"] = tuple(msg.block) if msg.has_block else None
    return Attrs(**vals)  # type: ignore[arg-type]  # attribute names and types come from Attrs' own fields


def graph_to_pb(g: Graph, msg: pb.Graph) -> None:
    msg.name = g.name
    for n in g.nodes.values():
        nm = msg.nodes.add(id=n.id, kind=enum_to_pb(n.kind))
        attrs_to_pb(n.attrs, nm.attrs)
    for s in g.streams:
        sm = msg.streams.add(id=s.id, kind=enum_to_pb(s.kind), name=s.name)
        sm.src.node, sm.src.port = s.src.node, s.src.port
        sm.dst.node, sm.dst.port = s.dst.node, s.dst.port


def graph_from_pb(msg: pb.Graph) -> Graph:
    g = Graph(msg.name)
    for n in msg.nodes:
        what = f"graph {msg.name!r} node {n.id}"
        if n.id in g.nodes:
            raise IRFormatError(f"graph {msg.name!r}: node id {n.id} is used twice")
        g.nodes[n.id] = Node(n.id, enum_from_pb(NodeKind, n.kind, what), attrs_from_pb(n.attrs, what))
    for s in msg.streams:
        what = f"graph {msg.name!r} stream {s.id}"
        g.streams.append(Stream(s.id, enum_from_pb(StreamKind, s.kind, what), PortRef(s.src.node, s.src.port),
                                PortRef(s.dst.node, s.dst.port), s.name))
    return g


# ---- program ------------------------------------------------------------------------

def program_to_pb(p: Program, version: tuple[int, int]) -> pb.Program:
    msg = pb.Program()
    msg.version.major, msg.version.minor = version
    tensor_program_to_pb(p.program, msg.program)
    for k in p.kernels:
        km = msg.kernels.add(name=k.name)
        graph_to_pb(k.graph, km.graph)
        km.assignments.extend(k.assignments)
        km.inputs.extend(k.inputs)
        km.outputs.extend(k.outputs)
    for key, value in p.meta.items():
        msg.meta[key] = value
    return msg


def program_from_pb(msg: pb.Program) -> Program:
    """Build a :class:`Program` (without data); the caller checks the version first."""
    try:
        kernels = [Kernel(k.name, graph_from_pb(k.graph), tuple(k.assignments), tuple(k.inputs),
                          tuple(k.outputs)) for k in msg.kernels]
        return Program(tensor_program_from_pb(msg.program), kernels, meta=dict(sorted(msg.meta.items())),
                       version=(msg.version.major, msg.version.minor))
    except FuseFlowError:
        raise
    except (ValueError, TypeError, KeyError, OverflowError) as e:  # dataclass checks on odd values
        raise IRFormatError(f"malformed program: {e}") from None
