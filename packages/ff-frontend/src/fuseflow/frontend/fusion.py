"""Fusion groups: the presets ``unfused``, ``partial``, ``full`` and user specs.

A spec ``g1=opA,opB;g2=opC`` names groups and the ops they hold; an item matches an op
whose name equals it or starts with ``item.`` (so a module path like ``l1`` names all
its ops), with or without the program-name prefix, and may use ``*`` wildcards. Ops a
spec does not name get a group of their own. Groups must be contiguous in program order.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass

from fuseflow.frontend.builder import OpInfo, clean
from fuseflow.ir.errors import CompileError, FrontendError
from fuseflow.ir.program import FusionGroup, TensorProgram, accesses

PRESETS = ("unfused", "partial", "full")


def program_ops(program: TensorProgram) -> list[OpInfo]:
    """The ops of a program: recorded at capture, else one op per assignment name stem."""
    ops = getattr(program, "ops", None)
    if ops:
        return list(ops)
    out: list[OpInfo] = []
    for a in program.assignments:  # fallback: ``op.part`` names of multi-assignment ops
        parts = a.name.split(".")
        stem = ".".join(parts[:-1]) if len(parts) > 2 and parts[-2].split("_")[0] in ("softmax", "layernorm") \
            else a.name
        if out and out[-1].name == stem:
            out[-1].assignments.append(a.name)
        else:
            scope = ".".join(stem.split(".")[1:-1])
            out.append(OpInfo(stem, stem.split(".")[-1], a.source, scope, _guess_layer(scope), [a.name]))
    return out


def _guess_layer(scope: str) -> str:
    """Layer of a module path when capture info is gone: ``l1.lin`` -> ``l1``,
    ``dec.0.pre.ln`` -> ``dec.0.pre`` (a module list item's child)."""
    parts = scope.split(".") if scope else []
    if len(parts) >= 3 and parts[1].isdigit():
        return ".".join(parts[:3])
    return parts[0] if parts else ""


def _group(name: str, ops: list[OpInfo]) -> FusionGroup:
    return FusionGroup(clean(name), tuple(a for op in ops for a in op.assignments))


def unfused(program: TensorProgram) -> list[FusionGroup]:
    return [_group(op.name.split(".", 1)[-1], [op]) for op in program_ops(program)]


def partial(program: TensorProgram) -> list[FusionGroup]:
    """One group per layer module; ops of the root module join the neighbouring layer."""
    runs: list[tuple[str, list[OpInfo]]] = []
    pending: list[OpInfo] = []
    for op in program_ops(program):
        if not op.layer:
            if runs:
                runs[-1][1].append(op)
            else:
                pending.append(op)
            continue
        if runs and runs[-1][0] == op.layer:
            runs[-1][1].append(op)
        else:
            runs.append((op.layer, pending + [op]))
            pending = []
    if pending:
        runs.append((program.name, pending))
    return _named([_group(layer, ops) for layer, ops in runs])


def full(program: TensorProgram) -> list[FusionGroup]:
    """Everything in one group, split where a reshape view (view_of) is read."""
    groups: list[list[str]] = [[]]
    produced: set[str] = set()
    for a in program.assignments:
        barrier = any(_view_source_in(program, acc.tensor, produced) for acc in accesses(a.value))
        if barrier and groups[-1]:
            groups.append([])
            produced = set()
        groups[-1].append(a.name)
        produced.add(a.output.tensor)
    return [FusionGroup(f"full{n}", tuple(g)) for n, g in enumerate(groups) if g]


def _view_source_in(program: TensorProgram, tensor: str, produced: set[str]) -> bool:
    decl = program.tensors.get(tensor)
    seen = 0
    while decl is not None and decl.view_of is not None and seen < 100:
        if decl.view_of in produced:
            return True
        decl = program.tensors.get(decl.view_of)
        seen += 1
    return False


def _named(groups: list[FusionGroup]) -> list[FusionGroup]:
    seen: dict[str, int] = {}
    out = []
    for g in groups:
        n = seen.get(g.name, 0)
        seen[g.name] = n + 1
        out.append(FusionGroup(g.name if n == 0 else f"{g.name}_{n}", g.assignments))
    return out


def from_spec(program: TensorProgram, spec: str) -> list[FusionGroup]:
    ops = program_ops(program)
    prefix = program.name + "."
    owner: dict[str, str] = {}
    order: list[str] = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        gname, eq, items = part.partition("=")
        if not eq or not gname.strip() or not items.strip():
            raise FrontendError(f"bad fusion spec part {part!r} (expected name=op,op,...)")
        gname = gname.strip()
        if gname in order:
            raise FrontendError(f"fusion group {gname!r} is named twice in the spec")
        order.append(gname)
        for item in filter(None, (i.strip() for i in items.split(","))):
            hits = [op for op in ops if _matches(op.name, item, prefix)]
            if not hits:
                known = ", ".join(op.name[len(prefix):] if op.name.startswith(prefix) else op.name for op in ops)
                raise FrontendError(f"fusion spec: {item!r} names no op (ops: {known})")
            for op in hits:
                if op.name in owner and owner[op.name] != gname:
                    raise FrontendError(f"fusion spec: op {op.name} is in groups {owner[op.name]!r} and {gname!r}")
                owner[op.name] = gname
    groups: list[tuple[str, list[OpInfo]]] = []
    for op in ops:
        g = owner.get(op.name, op.name.split(".", 1)[-1])
        if groups and groups[-1][0] == g:
            groups[-1][1].append(op)
        else:
            if any(name == g for name, _ in groups):
                raise FrontendError(f"fusion group {g!r} is not contiguous in program order (op {op.name} comes"
                                    " after ops of other groups)")
            groups.append((g, [op]))
    return [_group(g, o) for g, o in groups]


def _matches(name: str, item: str, prefix: str) -> bool:
    for cand in (name, name[len(prefix):] if name.startswith(prefix) else name):
        if cand == item or cand.startswith(item + ".") or fnmatch.fnmatchcase(cand, item):
            return True
    return False


STRATEGIES: dict[str, Callable[[TensorProgram], list[FusionGroup]]] = {
    "unfused": unfused,
    "partial": partial,
    "full": full,
}


def make_groups(program: TensorProgram, fusion: str) -> list[FusionGroup]:
    """Groups for a preset name, a registered strategy, or a spec (contains ``=``)."""
    if fusion in STRATEGIES:
        return STRATEGIES[fusion](program)
    if "=" in fusion:
        return from_spec(program, fusion)
    from fuseflow.ir.plugins import registry

    reg = registry("fusion strategy")
    if fusion in reg:
        return list(reg.get(fusion).groups(program))
    raise FrontendError(f"unknown fusion {fusion!r} (presets: {', '.join(PRESETS)}; or a spec such as"
                        " 'g1=l1;g2=l2')")


def apply_fusion(program: TensorProgram, fusion: str) -> None:
    program.groups = make_groups(program, fusion)
    check_partition(program)


def check_partition(program: TensorProgram) -> None:
    names = [a for g in program.groups for a in g.assignments]
    if names != [a.name for a in program.assignments]:
        raise CompileError("fusion groups do not partition the program's expressions in order")


@dataclass(frozen=True)
class Strategy:
    """A fusion strategy plugin item."""

    name: str
    fn: Callable[[TensorProgram], list[FusionGroup]]
    help: str = ""

    def groups(self, program: TensorProgram) -> list[FusionGroup]:
        return self.fn(program)
