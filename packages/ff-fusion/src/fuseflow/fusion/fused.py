"""Fused einsums: a fusion group's outputs with their producers inlined.

Every use of an intermediate produced inside the group is replaced by the producer's
expression with index substitution (reduction indices renamed fresh), so an
intermediate consumed with different index variables is recomputed. Each tensor
access becomes its own *view* (a leaf with an id).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from fuseflow.ir.errors import CompileError
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
    TensorProgram,
    Unary,
    UnaryOp,
)


@dataclass(eq=False)
class Node:
    """One node of a fused expression tree (identity = object identity)."""

    kind: str  # "leaf" | "unary" | "binary" | "reduce"
    children: list[Node] = field(default_factory=list)
    tensor: str = ""
    indices: tuple[str, ...] = ()
    op: object = None
    scalar: float | None = None
    rd: tuple[str, ...] = ()  # reduction indices (reduce nodes)
    free: frozenset[str] = frozenset()
    id: int = 0
    source: str = ""  # assignment the node came from

    def walk(self):  # type: ignore[no-untyped-def]  # a recursive generator of Nodes
        yield self
        for c in self.children:
            yield from c.walk()

    def leaves(self) -> list[Node]:
        return [n for n in self.walk() if n.kind == "leaf"]

    def text(self) -> str:
        if self.kind == "leaf":
            return f"{self.tensor}[{','.join(self.indices)}]"
        if self.kind == "reduce":
            return f"{self.op.value}[{','.join(self.rd)}]({self.children[0].text()})"  # type: ignore[attr-defined]  # op is an enum of this node kind
        args = ", ".join(c.text() for c in self.children)
        if self.scalar is not None:
            args += f", {self.scalar!r}"
        return f"{self.op.value}({args})"  # type: ignore[attr-defined]  # op is an enum of this node kind


@dataclass
class FusedOutput:
    tensor: str
    indices: tuple[str, ...]  # output access indices (after renaming: as written)
    tree: Node
    recomputed: list[str]  # intermediates inlined more than once (recomputed subtrees)


_SCALAR = {
    BinaryOp.ADD: UnaryOp.SCALAR_ADD,
    BinaryOp.MUL: UnaryOp.SCALAR_MUL,
    BinaryOp.DIV: UnaryOp.SCALAR_DIV,
    BinaryOp.MAX: UnaryOp.SCALAR_MAX,
}


class _Inliner:
    def __init__(self, program: TensorProgram, defs: dict[str, Assignment],
                 ids: itertools.count[int], fresh: itertools.count[int]) -> None:
        self.program = program
        self.defs = defs
        self.fresh = fresh
        self.ids = ids  # shared by all outputs of a group: node ids are unique in the group
        self.uses: dict[str, int] = {}

    def node(self, **kw: object) -> Node:
        n = Node(**kw)  # type: ignore[arg-type]  # fields checked by the dataclass
        n.id = next(self.ids)
        return n

    def expr(self, e: Expr, sub: dict[str, str], source: str) -> Node:
        if isinstance(e, Access):
            idx = tuple(sub.get(i, i) for i in e.indices)
            if e.tensor in self.defs:
                self.uses[e.tensor] = self.uses.get(e.tensor, 0) + 1
                return self.inline(self.defs[e.tensor], idx)
            decl = self.program.tensor(e.tensor)
            if len(idx) != decl.order:
                raise CompileError(f"{source}: {e.tensor} has {decl.order} modes but is accessed with {len(idx)}")
            if len(set(idx)) != len(idx):
                raise CompileError(f"{source}: diagonal access {e.tensor}[{','.join(idx)}] is not supported")
            return self.node(kind="leaf", tensor=e.tensor, indices=idx, free=frozenset(idx), source=source)
        if isinstance(e, Const):
            raise CompileError(f"{source}: a constant ({e.value}) can only appear as a scalar operand")
        if isinstance(e, Unary):
            c = self.expr(e.operand, sub, source)
            return self.node(kind="unary", op=e.op, scalar=e.scalar, children=[c], free=c.free, source=source)
        if isinstance(e, Binary):
            return self.binary(e, sub, source)
        if isinstance(e, Reduce):
            inner = dict(sub)
            rd = []
            for r in e.indices:
                nr = f"{r}{next(self.fresh)}"
                inner[r] = nr
                rd.append(nr)
            body = self.expr(e.body, inner, source)
            return self.node(kind="reduce", op=e.op, rd=tuple(rd), children=[body],
                             free=body.free - set(rd), source=source)
        raise CompileError(f"{source}: unknown expression {e!r}")

    def binary(self, e: Binary, sub: dict[str, str], source: str) -> Node:
        lhs, rhs, op = e.lhs, e.rhs, e.op
        if isinstance(rhs, Const) and isinstance(lhs, Const):
            raise CompileError(f"{source}: an operation on two constants")
        if isinstance(rhs, Const) or isinstance(lhs, Const):
            const = rhs if isinstance(rhs, Const) else lhs
            other = lhs if isinstance(rhs, Const) else rhs
            assert isinstance(const, Const)
            c = self.expr(other, sub, source)
            v = float(const.value)
            if op is BinaryOp.SUB and const is rhs:
                return self.node(kind="unary", op=UnaryOp.SCALAR_ADD, scalar=-v, children=[c], free=c.free, source=source)
            if op is BinaryOp.SUB:  # v - x
                neg = self.node(kind="unary", op=UnaryOp.NEG, children=[c], free=c.free, source=source)
                return self.node(kind="unary", op=UnaryOp.SCALAR_ADD, scalar=v, children=[neg], free=c.free, source=source)
            if op is BinaryOp.DIV and const is lhs:
                raise CompileError(f"{source}: constant / tensor is not supported")
            if op not in _SCALAR:
                raise CompileError(f"{source}: {op.value} with a constant operand is not supported")
            return self.node(kind="unary", op=_SCALAR[op], scalar=v, children=[c], free=c.free, source=source)
        a = self.expr(lhs, sub, source)
        b = self.expr(rhs, sub, source)
        return self.node(kind="binary", op=op, children=[a, b], free=a.free | b.free, source=source)

    def inline(self, a: Assignment, idx: tuple[str, ...]) -> Node:
        sub = dict(zip(a.output.indices, idx, strict=True))
        return self.expr(a.value, sub, a.name)


def group_outputs(program: TensorProgram, group: FusionGroup, later_reads: set[str]) -> list[str]:
    """Tensors assigned in the group that leave it (read later, or program outputs)."""
    outs = []
    for name in group.assignments:
        t = program.assignment(name).output.tensor
        if t in later_reads or t in program.outputs:
            outs.append(t)
    if not outs:
        outs.append(program.assignment(group.assignments[-1]).output.tensor)
    return outs


def fuse_group(program: TensorProgram, group: FusionGroup, later_reads: set[str]) -> list[FusedOutput]:
    defs: dict[str, Assignment] = {}
    for name in group.assignments:
        a = program.assignment(name)
        defs[a.output.tensor] = a
    result: list[FusedOutput] = []
    sizes: dict[str, int] = {}
    ids, fresh = itertools.count(), itertools.count()
    for t in group_outputs(program, group, later_reads):
        inl = _Inliner(program, {k: v for k, v in defs.items() if k != t}, ids, fresh)
        a = defs[t]
        idx = _unclashing(a.output.indices, program.tensor(t).shape, sizes, len(result))
        tree = inl.inline(a, idx)
        rec = sorted(k for k, n in inl.uses.items() if n > 1)
        if tree.free != set(idx):
            raise CompileError(f"{a.name}: output indices {a.output.indices} differ from the expression's "
                               f"free indices {sorted(tree.free)}")
        result.append(FusedOutput(t, idx, tree, rec))
    return result


def _unclashing(indices: tuple[str, ...], shape: tuple[int, ...], sizes: dict[str, int],
                n: int) -> tuple[str, ...]:
    """A group's outputs share index names where the sizes agree (so one order and one
    parallelized index serve them all); an index whose size differs is renamed."""
    out = []
    for v, size in zip(indices, shape, strict=True):
        if sizes.setdefault(v, size) != size:
            v = f"{v}_{n}"
            sizes.setdefault(v, size)
        out.append(v)
    return tuple(out)


def reads_of(program: TensorProgram, names: list[str]) -> set[str]:
    from fuseflow.ir.program import accesses

    out: set[str] = set()
    for n in names:
        for acc in accesses(program.assignment(n).value):
            t: str | None = acc.tensor
            while t is not None and t not in out:  # a view reads its source
                out.add(t)
                t = program.tensors[t].view_of if t in program.tensors else None
    return out


__all__ = ["Node", "FusedOutput", "fuse_group", "group_outputs", "reads_of", "ReduceOp"]
