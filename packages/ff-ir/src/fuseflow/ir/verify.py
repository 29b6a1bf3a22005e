"""Well-formedness checks of dataflow graphs and programs.

Every check runs and all problems are reported together in one
:class:`VerificationError`, each naming the node (``Node.describe()``) and port.

Port rule: every input port has exactly one writer (optional ports may have none) and
every output port exactly one reader, except the outputs in :data:`DROPPABLE_OUTPUTS`:
the coordinate and reference outputs of scanners, joiners and locators, which go unread
when an index is reduced away or an operand's reference is not needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from fuseflow.ir.dataflow import Program
from fuseflow.ir.errors import VerificationError
from fuseflow.ir.graph import REQUIRED_ATTRS, Graph, Node, NodeKind, PortRef, PortSpec, Stream, port_spec_maps
from fuseflow.ir.program import (
    Access,
    Binary,
    BinaryOp,
    Expr,
    Reduce,
    ReduceOp,
    TensorDecl,
    TensorProgram,
    Unary,
    UnaryOp,
    accesses,
)

#: largest arity checked port by port (bigger ones are reported, their ports skipped)
MAX_ARITY = 1024
#: (min, max) arity of variadic kinds; None = up to MAX_ARITY.
ARITY_RANGE: dict[NodeKind, tuple[int, int | None]] = {
    NodeKind.INTERSECT: (2, None),
    NodeKind.UNION: (2, None),
    NodeKind.ALU: (1, 2),
    NodeKind.BROADCAST: (1, None),
    NodeKind.FORK: (1, None),
    NodeKind.JOIN: (1, None),
}
#: kinds whose crd/ref outputs may be left unread (see the module docstring)
DROPPABLE_OUTPUTS = frozenset({NodeKind.LEVEL_SCAN, NodeKind.INTERSECT, NodeKind.UNION, NodeKind.LOCATE})


def _specs(node: Node) -> tuple[Sequence[PortSpec], Sequence[PortSpec]]:
    if node.attrs.arity is not None and node.attrs.arity > MAX_ARITY:
        return [], []
    return node.inputs(), node.outputs()


def _droppable(node: Node, port: str) -> bool:
    return node.kind in DROPPABLE_OUTPUTS and (port.startswith("crd") or port.startswith("ref")
                                               or port == "located")


def _attr_problems(node: Node) -> list[str]:
    a, d = node.attrs, node.describe()
    out = [f"{d}: missing required attribute {name!r}"
           for name in REQUIRED_ATTRS.get(node.kind, ()) if getattr(a, name) is None]
    lo_hi = ARITY_RANGE.get(node.kind)
    if lo_hi is not None and a.arity is not None:
        lo, hi = lo_hi
        if a.arity < lo or a.arity > (hi or MAX_ARITY):
            want = f"{lo}..{hi or MAX_ARITY}"
            out.append(f"{d}: arity {a.arity} out of range ({want})")
    if node.kind is NodeKind.ALU and a.op is not None:
        if not isinstance(a.op, (UnaryOp, BinaryOp)):
            out.append(f"{d}: ALU op {a.op.value!r} is not a unary or binary op")
        elif a.arity is not None and a.arity != (1 if isinstance(a.op, UnaryOp) else 2):
            out.append(f"{d}: arity {a.arity} does not fit op {a.op.value!r}")
        if isinstance(a.op, UnaryOp) and a.op.takes_scalar and a.scalar is None:
            out.append(f"{d}: op {a.op.value!r} needs attribute 'scalar'")
    if node.kind is NodeKind.REDUCE and a.op is not None and not isinstance(a.op, ReduceOp):
        out.append(f"{d}: reduce op {a.op.value!r} is not a reduction")
    for name in ("level", "arity"):
        v = getattr(a, name)
        if v is not None and v < 0:
            out.append(f"{d}: attribute {name!r} is negative ({v})")
    if a.dim is not None and a.dim < 1:
        out.append(f"{d}: attribute 'dim' must be positive ({a.dim})")
    return out


def _port(g: Graph, end: PortRef, output: bool, sid: int) -> tuple[Node, PortSpec] | str:
    """The node and port spec of a stream end, or a problem."""
    side = "source" if output else "destination"
    node = g.nodes.get(end.node)
    if node is None:
        return f"stream {sid}: {side} node {end.node} does not exist"
    if node.attrs.arity is not None and node.attrs.arity > MAX_ARITY:
        spec = None
    else:
        spec = port_spec_maps(node.kind, node.attrs)[1 if output else 0].get(end.port)
    if spec is None:
        specs = _specs(node)[1 if output else 0]
        names = ", ".join(p.name for p in specs) or "none"
        return f"stream {sid}: {node.describe()} has no {'output' if output else 'input'} port {end.port!r} ({names})"
    return node, spec


def _stream_problems(g: Graph) -> tuple[list[str], dict[tuple[int, str], list[Stream]], dict[tuple[int, str], list[Stream]]]:
    out: list[str] = []
    writers: dict[tuple[int, str], list[Stream]] = {}
    readers: dict[tuple[int, str], list[Stream]] = {}
    seen_ids: set[int] = set()
    for s in g.streams:
        if s.id in seen_ids:
            out.append(f"stream id {s.id} is used twice")
        seen_ids.add(s.id)
        for end, output in ((s.src, True), (s.dst, False)):
            res = _port(g, end, output, s.id)
            if isinstance(res, str):
                out.append(res)
                continue
            node, spec = res
            if not spec.accepts(s.kind):
                kinds = "/".join(sorted(k.value for k in spec.kinds))
                direction = "output" if output else "input"
                out.append(f"stream {s.id}: {node.describe()} {direction} port {spec.name!r} takes {kinds}, "
                           f"not {s.kind.value}")
            (readers if output else writers).setdefault((end.node, end.port), []).append(s)
    return out, readers, writers


def _same_as_problems(g: Graph, node: Node, readers: dict[tuple[int, str], list[Stream]],
                      writers: dict[tuple[int, str], list[Stream]]) -> list[str]:
    """Polymorphic ports: an input's kind must equal the kind of the outputs it names."""
    out = []
    ins_specs, outs_specs = _specs(node)
    for ip in ins_specs:
        if ip.same_as is None:
            continue
        ins = writers.get((node.id, ip.name), [])
        if len(ins) != 1:
            continue
        targets = [op.name for op in outs_specs] if ip.same_as == "*" else [ip.same_as]
        for t in targets:
            for s in readers.get((node.id, t), []):
                if s.kind is not ins[0].kind:
                    out.append(f"{node.describe()}: output port {t!r} carries {s.kind.value} but input "
                               f"port {ip.name!r} carries {ins[0].kind.value}")
    return out


def graph_problems(g: Graph, tensors: Mapping[str, TensorDecl] | None = None) -> list[str]:
    """Every problem of a graph (empty when it is well-formed)."""
    out: list[str] = []
    for nid, node in g.nodes.items():
        if node.id != nid:
            out.append(f"{node.describe()} is stored under id {nid}")
        out += _attr_problems(node)
        t = node.attrs.tensor
        if tensors is not None and t is not None:
            if t not in tensors:
                out.append(f"{node.describe()}: tensor {t!r} is not declared in the tensor program")
            elif node.attrs.level is not None and node.attrs.level >= max(tensors[t].order, 1):
                out.append(f"{node.describe()}: level {node.attrs.level} but tensor {t!r} has "
                           f"{tensors[t].order} levels")
            else:
                out += _dim_problems(node, tensors[t])
    problems, readers, writers = _stream_problems(g)
    out += problems
    for node in g.nodes.values():
        d = node.describe()
        ins_specs, outs_specs = _specs(node)
        for spec in ins_specs:
            n = len(writers.get((node.id, spec.name), []))
            if n == 0 and not spec.optional:
                out.append(f"{d}: input port {spec.name!r} is not connected")
            elif n > 1:
                out.append(f"{d}: input port {spec.name!r} has {n} writers")
        for spec in outs_specs:
            n = len(readers.get((node.id, spec.name), []))
            if n == 0 and not _droppable(node, spec.name):
                out.append(f"{d}: output port {spec.name!r} has no reader")
            elif n > 1:
                out.append(f"{d}: output port {spec.name!r} has {n} readers (use a broadcast)")
        out += _same_as_problems(g, node, readers, writers)
    try:
        g.topological_order()
    except VerificationError as e:
        out += e.problems
    return out


def _dim_problems(node: Node, decl: TensorDecl) -> list[str]:
    """A scanner's or locate's ``dim`` must be the extent of the mode its level stores."""
    dim, level = getattr(node.attrs, "dim", None), node.attrs.level
    if not dim or level is None or level >= decl.order:
        return []
    mode = decl.format.mode_order[level]
    extent = decl.shape[mode]
    block = decl.format.block[mode] if decl.format.block else 1
    if dim in (extent, extent // max(block, 1)):
        return []
    return [f"{node.describe()}: dim {dim} but level {level} of tensor {decl.name!r} has extent {extent}"]


def verify_graph(graph: Graph, tensors: Mapping[str, TensorDecl] | None = None) -> None:
    """Raise :class:`VerificationError` listing every problem of ``graph``; with ``tensors``,
    also check that the tensors its nodes name are declared."""
    problems = graph_problems(graph, tensors)
    if problems:
        raise VerificationError([f"graph {graph.name}: {p}" for p in problems])


# ---- tensor program -----------------------------------------------------------------

def _expr_problems(e: Expr, bound: set[str], where: str, out: list[str]) -> set[str]:
    """Check index binding in ``e``; return the free indices it uses."""
    if isinstance(e, Access):
        return set(e.indices)
    if isinstance(e, Reduce):
        inner = _expr_problems(e.body, bound | set(e.indices), where, out)
        for i in e.indices:
            if i in bound:
                out.append(f"{where}: reduction over {i!r}, which is already bound")
            elif i not in inner:
                out.append(f"{where}: reduction over {i!r}, which its body does not use")
        return inner - set(e.indices)
    if isinstance(e, Unary):
        return _expr_problems(e.operand, bound, where, out)
    if isinstance(e, Binary):
        return _expr_problems(e.lhs, bound, where, out) | _expr_problems(e.rhs, bound, where, out)
    return set()


def tensor_program_problems(tp: TensorProgram) -> list[str]:
    out: list[str] = []
    for key, t in tp.tensors.items():
        if key != t.name:
            out.append(f"tensor {t.name!r} is stored under name {key!r}")
        if t.format.order != len(t.shape):
            out.append(f"tensor {t.name!r}: format {t.format.spec() or '-'} has {t.format.order} levels "
                       f"but the shape {list(t.shape)} has {len(t.shape)} modes")
        if any(n < 0 for n in t.shape):
            out.append(f"tensor {t.name!r}: negative dimension in shape {list(t.shape)}")
        if t.view_of is not None and t.view_of not in tp.tensors:
            out.append(f"tensor {t.name!r} is a view of undeclared tensor {t.view_of!r}")
    names: set[str] = set()
    for a in tp.assignments:
        where = f"expression {a.name}"
        if a.name in names:
            out.append(f"{where}: name is used twice")
        names.add(a.name)
        if a.output.tensor not in tp.tensors:
            out.append(f"{where}: output tensor {a.output.tensor!r} is not declared")
        extents: dict[str, tuple[int, str]] = {}
        for acc in [a.output, *accesses(a.value)]:
            decl = tp.tensors.get(acc.tensor)
            if decl is None:
                if acc is not a.output:
                    out.append(f"{where}: tensor {acc.tensor!r} is not declared")
            elif len(acc.indices) != decl.order:
                out.append(f"{where}: {acc.tensor}[{','.join(acc.indices)}] has {len(acc.indices)} indices "
                           f"but {acc.tensor!r} has order {decl.order}")
            else:
                for var, size in zip(acc.indices, decl.shape, strict=True):
                    seen = extents.setdefault(var, (size, acc.tensor))
                    if seen[0] != size:
                        out.append(f"{where}: index {var!r} has extent {seen[0]} in {seen[1]} but {size} "
                                   f"in {acc.tensor}")
        free = _expr_problems(a.value, set(a.output.indices), where, out)
        outs = set(a.output.indices)
        for i in sorted(free - outs):
            out.append(f"{where}: index {i!r} is neither an output index nor bound by a reduction")
        for i in a.output.indices:
            if i not in free:
                out.append(f"{where}: output index {i!r} does not appear in the body")
    for g in tp.groups:
        for n in g.assignments:
            if n not in names:
                out.append(f"group {g.name}: unknown expression {n!r}")
    for o in tp.outputs:
        if o not in tp.tensors:
            out.append(f"output {o!r} is not a declared tensor")
    return out


def verify_tensor_program(tp: TensorProgram) -> None:
    problems = tensor_program_problems(tp)
    if problems:
        raise VerificationError(problems)


def program_problems(p: Program) -> list[str]:
    """Every problem of a program: its tensor program, each kernel and its graph, its data.

    A program without tensor declarations (e.g. read from a tortilla graph) is checked as
    graphs only."""
    tp = p.program
    declared = bool(tp.tensors)
    out = tensor_program_problems(tp)
    exprs = {a.name for a in tp.assignments}
    names: set[str] = set()
    for k in p.kernels:
        where = f"kernel {k.name}"
        if k.name in names:
            out.append(f"{where}: name is used twice")
        names.add(k.name)
        for a in k.assignments:
            if a not in exprs:
                out.append(f"{where}: computes unknown expression {a!r}")
        if declared:
            for what, items in (("input", k.inputs), ("output", k.outputs)):
                for t in items:
                    if t not in tp.tensors:
                        out.append(f"{where}: {what} tensor {t!r} is not declared")
        out += [f"{where}: {q}" for q in graph_problems(k.graph, tp.tensors if declared else None)]
    if declared:
        for what, table in (("data", p.data), ("expected", p.expected)):
            for name, d in table.items():
                decl = tp.tensors.get(name)
                if decl is None:
                    out.append(f"{what} for undeclared tensor {name!r}")
                elif tuple(d.shape) != tuple(decl.shape):
                    out.append(f"{what} for {name!r} has shape {list(d.shape)}, declared {list(decl.shape)}")
    return out


def verify_program(program: Program) -> None:
    """Raise :class:`VerificationError` listing every problem of ``program``."""
    problems = program_problems(program)
    if problems:
        raise VerificationError(problems)
