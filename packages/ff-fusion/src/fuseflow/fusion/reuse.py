"""Reuse of compiled groups that differ only in tensor names (e.g. the 12 decoders of
GPT-3): the group is keyed by its expressions with tensors renamed in first-appearance
order, plus everything else the lowering reads (declarations, which tensors later groups
read, order choice, block, passes). A hit copies the kernel with the tensors renamed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from fuseflow.ir.dataflow import Kernel
from fuseflow.ir.graph import Graph, Node
from fuseflow.ir.program import Access, Binary, Const, Expr, FusionGroup, Reduce, TensorProgram, Unary


@dataclass
class GroupShape:
    key: tuple[Any, ...]
    names: list[str]  # actual tensor names, in canonical order


def group_shape(tp: TensorProgram, group: FusionGroup, later: set[str], extra: tuple[Any, ...]) -> GroupShape:
    names: list[str] = []  # tensors in first-appearance order
    index: dict[str, int] = {}

    def canon(t: str) -> int:
        if t not in index:
            index[t] = len(names)
            names.append(t)
        return index[t]

    def ex(e: Expr) -> tuple[Any, ...]:
        if isinstance(e, Access):
            return ("a", canon(e.tensor), e.indices)
        if isinstance(e, Const):
            return ("c", e.value)
        if isinstance(e, Unary):
            return ("u", e.op, e.scalar, ex(e.operand))
        if isinstance(e, Binary):
            return ("b", e.op, ex(e.lhs), ex(e.rhs))
        if isinstance(e, Reduce):
            return ("r", e.op, e.indices, ex(e.body))
        raise TypeError(f"unknown expression {e!r}")

    by_name = {a.name: a for a in tp.assignments}
    body = tuple((ex(by_name[n].output), ex(by_name[n].value)) for n in group.assignments)
    decls = []
    i = 0
    while i < len(names):  # view bases join the numbering as they are met
        d = tp.tensors[names[i]]
        # roles are left out: the lowering never reads them (index names are copied into views)
        decls.append((d.shape, d.format, d.dtype, d.index_names,
                      canon(d.view_of) if d.view_of else None, names[i] in later, names[i] in tp.outputs))
        i += 1
    return GroupShape((body, tuple(decls), extra), names)


@dataclass
class CompiledGroup:
    names: list[str]
    kernel: Kernel
    report: Any
    created: list[str]  # tensors the compilation declared (views), in order
    changed: list[str]  # existing tensors whose declaration it changed (e.g. a blocked format)


def kernel_tensors(k: Kernel) -> set[str]:
    return {n.attrs.tensor for n in k.graph.nodes.values() if n.attrs.tensor} | set(k.inputs) | set(k.outputs)


def renamer(old: CompiledGroup, new_names: list[str], tp: TensorProgram, extra: set[str]) -> dict[str, str] | None:
    """Map of the cached group's tensor names (and the views it uses) to the new group's,
    or None when some name is not derived from the group's tensors."""
    m = dict(zip(old.names, new_names, strict=True))
    for t in sorted(kernel_tensors(old.kernel) | extra | set(old.created) | set(old.changed)):
        if t in m:
            continue
        base = tp.tensors[t].view_of if t in tp.tensors else None
        if base is None or base not in m or not t.startswith(base):
            return None
        m[t] = m[base] + t[len(base):]
    return m


def renamed_kernel(k: Kernel, name: str, assignments: tuple[str, ...], m: dict[str, str]) -> Kernel:
    g = Graph(name)
    for nid, n in k.graph.nodes.items():
        t = n.attrs.tensor
        g.nodes[nid] = n if t is None else Node(n.id, n.kind, replace(n.attrs, tensor=m[t]))
    g.streams = list(k.graph.streams)
    return Kernel(name, g, assignments, tuple(sorted(m[t] for t in k.inputs)),  # reads are sorted by name
                  tuple(m[t] for t in k.outputs))


def declare_views(tp: TensorProgram, old: CompiledGroup, m: dict[str, str]) -> None:
    """Make the declarations the lowering would have made: the same views and changes,
    renamed."""
    for t in old.changed + old.created:
        d = tp.tensors[t]
        if t in old.changed or m[t] not in tp.tensors:
            tp.tensors[m[t]] = replace(d, name=m[t], view_of=m.get(d.view_of, d.view_of) if d.view_of else None)
