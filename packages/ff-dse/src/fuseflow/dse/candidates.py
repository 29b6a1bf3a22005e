"""Generated fusion groupings: contiguous splits of a model's op sequence.

The op sequence is the ``unfused`` preset's groups (one op each). Ops that read a
reshaped view (``TensorDecl.view_of``) start a new segment: a fusion barrier. Each
candidate is a SPEC string ``g1=opA,opB;g2=opC`` naming a user grouping, the form
``compile_model(fusion=...)`` accepts for user groupings.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fuseflow.dse.config import Config
from fuseflow.ir.program import FusionGroup, TensorProgram, accesses


def op_sequence(program: Any) -> list[FusionGroup]:
    """One op per group of an ``unfused`` program (a dataflow Program or a TensorProgram)."""
    tp: TensorProgram = getattr(program, "program", program)
    if tp.groups:
        return list(tp.groups)
    return [FusionGroup(a.name, (a.name,)) for a in tp.assignments]


def barriers(program: Any, ops: list[FusionGroup]) -> set[int]:
    """Indices ``j`` such that no group may hold both op ``j-1`` and op ``j``."""
    tp: TensorProgram = getattr(program, "program", program)
    out = set()
    for j, op in enumerate(ops):
        if j == 0:
            continue
        for name in op.assignments:
            a = tp.assignment(name)
            if any(tp.tensors.get(acc.tensor) is not None and tp.tensors[acc.tensor].view_of
                   for acc in accesses(a.value)):
                out.add(j)
    return out


def _splits(n: int, cap: int) -> Iterator[list[int]]:
    """Compositions of ``n`` into parts of size <= cap, fewest parts first."""
    for parts in range(-(-n // cap), n + 1):
        yield from _compositions(n, parts, cap)


def _compositions(n: int, parts: int, cap: int) -> Iterator[list[int]]:
    if parts == 1:
        if 1 <= n <= cap:
            yield [n]
        return
    for first in range(min(cap, n - parts + 1), 0, -1):
        for rest in _compositions(n - first, parts - 1, cap):
            yield [first, *rest]


def spec_of(groups: list[list[FusionGroup]]) -> str:
    """SPEC text of a grouping: ``g1=opA,opB;g2=opC``."""
    return ";".join(
        f"g{i + 1}=" + ",".join(op.name for op in grp) for i, grp in enumerate(groups)
    )


def parse_spec(spec: str) -> list[tuple[str, tuple[str, ...]]]:
    """``g1=a,b;g2=c`` -> ``[("g1", ("a", "b")), ("g2", ("c",))]``."""
    out = []
    for part in spec.split(";"):
        name, _, ops = part.partition("=")
        out.append((name.strip(), tuple(o.strip() for o in ops.split(",") if o.strip())))
    return out


def fusion_candidates(program: Any, cap: int = 4, limit: int = 64) -> list[str]:
    """Contiguous groupings of the op sequence (groups of at most ``cap`` ops, never across a
    barrier), as SPEC strings, fewest groups first, at most ``limit`` of them."""
    ops = op_sequence(program)
    if not ops:
        return []
    cuts = sorted(barriers(program, ops) | {0, len(ops)})
    segments = [ops[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
    out: list[str] = []

    def walk(seg: int, acc: list[list[FusionGroup]]) -> None:
        if len(out) >= limit:
            return
        if seg == len(segments):
            out.append(spec_of(acc))
            return
        ops_s = segments[seg]
        for sizes in _splits(len(ops_s), cap):
            if len(out) >= limit:
                return
            groups, at = [], 0
            for s in sizes:
                groups.append(ops_s[at:at + s])
                at += s
            walk(seg + 1, acc + groups)

    walk(0, [])
    return out


def candidates_for(cfg: Config, cap: int = 4, limit: int = 64) -> list[str]:
    """Candidates for a config's model and data (loads the ``unfused`` program)."""
    from fuseflow.frontend.api import load_program  # type: ignore[import-not-found]  # optional ff-frontend API, absent in older installs

    prog = load_program(cfg.model, dict(cfg.options), cfg.dataset, "unfused")
    return fusion_candidates(prog, cap=cap, limit=limit)
