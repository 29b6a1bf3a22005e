"""Compile a tensor program with fusion groups into a dataflow program (one kernel per group)."""

from __future__ import annotations

import contextlib
import gc
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from fuseflow.fusion.builder import GraphBuilder
from fuseflow.fusion.fused import FusedOutput, Node, fuse_group, reads_of
from fuseflow.fusion.lower import Lowering, NeedDense, Stream, UnsupportedOrder, ViewInfo
from fuseflow.fusion.passes import PassManager, PassRecord
from fuseflow.fusion.passes.dead_nodes import DeadNodeRemoval
from fuseflow.fusion.passes.dedup import DuplicateJoinerInputs, MergeEquivalent
from fuseflow.fusion.passes.fixpoint import Fixpoint
from fuseflow.fusion.passes.locate import IntersectDenseToLocate
from fuseflow.fusion.pog import POG, order_prefix, order_prefix_pog, parse_order_choice, resolve_cycles
from fuseflow.fusion.reuse import CompiledGroup, declare_views, group_shape, renamed_kernel, renamer
from fuseflow.ir.dataflow import Kernel, Program
from fuseflow.ir.errors import CompileError
from fuseflow.ir.formats import LevelFormat, TensorFormat
from fuseflow.ir.graph import NodeKind
from fuseflow.ir.program import FusionGroup, TensorDecl, TensorProgram, TensorRole

#: block sizes the design space tries (None = scalar values)
BLOCK_SIZES = (None, 16, 32, 64)

#: groups with at most this many index variables get their orders counted in the report
REPORT_COUNT_VARS = 12

#: how many other valid orders the default tries before giving up
FALLBACK_ORDERS = 200


def default_passes() -> list[object]:
    return [Fixpoint((MergeEquivalent(), DuplicateJoinerInputs())), IntersectDenseToLocate(), DeadNodeRemoval()]


@dataclass
class GroupReport:
    group: str
    expressions: list[str]
    outputs: list[str]
    order: list[str]
    order_count: int | None
    counts: dict[str, int]
    materialized: list[str]
    recomputed: list[str]
    passes: list[PassRecord] = field(default_factory=list)
    fitted: bool = False  # an --order choice applied to this group
    fallback: str = ""  # why the preferred order did not lower, when another one was taken


@dataclass
class GroupPlan:
    """Everything decided about one group before lowering (also used by ``--order list``)."""

    group: FusionGroup
    outputs: list[FusedOutput]
    pog: POG
    views: dict[int, ViewInfo]
    materialized: list[str]
    preferred: list[tuple[str, str]] = field(default_factory=list)  # soft order edges
    hoisted: list[tuple[str, str]] = field(default_factory=list)  # soft edges of the first fallback

    def default_order(self, prefix: tuple[str, ...] = (), preferred: list[tuple[str, str]] | None = None
                      ) -> list[str]:
        """The first valid order, honouring as many preference edges as stay acyclic;
        with ``prefix``, the first such order that starts with those indices."""
        pog = POG(list(self.pog.vars), dict(self.pog.edges))
        if prefix:
            pog = order_prefix_pog(pog, prefix)
        succ: dict[str, set[str]] = {v: set() for v in pog.vars}
        for a, b in pog.edges:
            succ[a].add(b)
        for a, b in self.preferred if preferred is None else preferred:  # keep an edge unless it closes a cycle
            if b in succ[a] or _reaches(succ, b, a):
                continue
            succ[a].add(b)
            pog.edges[(a, b)] = ["preference"]
        order = pog.first_order()
        assert order is not None
        return order


def _reaches(succ: dict[str, set[str]], src: str, dst: str) -> bool:
    seen, todo = {src}, [src]
    while todo:
        v = todo.pop()
        if v == dst:
            return True
        for w in succ[v]:
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return False


def _leaf_views(program: TensorProgram, leaves: list[Node]) -> dict[int, ViewInfo]:
    views = {}
    for leaf in leaves:
        decl = program.tensor(leaf.tensor)
        fmt = decl.format
        name = leaf.tensor
        if fmt.block is not None:  # scalar lowering: the block pattern streams as scalar coordinates
            fmt = fmt.with_block(None)
            name = _declare_view(program, leaf.tensor, fmt)
        if LevelFormat.SINGLETON in fmt.levels:
            # a COO-like level repeats its parent's coordinate once per entry, so a reduction
            # would see one fiber per entry: compute on a copy with unique levels
            fmt = _unique_levels(fmt)
            name = _declare_view(program, decl.view_of or leaf.tensor, fmt)
        views[leaf.id] = ViewInfo(name, fmt, tuple(leaf.indices[m] for m in fmt.mode_order))
    return views


def _unique_levels(fmt: TensorFormat) -> TensorFormat:
    """``fmt`` with singleton levels made compressed (COO -> DCSR): every coordinate once per fiber."""
    return TensorFormat(tuple(LevelFormat.COMPRESSED if lv is LevelFormat.SINGLETON else lv for lv in fmt.levels),
                        fmt.mode_order, fmt.block)


def _priority(outputs: list[FusedOutput]) -> list[str]:
    """Output indices first, then the others by first appearance over the leaves."""
    seen: dict[str, None] = {}
    for fo in outputs:
        for v in fo.indices:
            seen.setdefault(v)
    for fo in outputs:
        for n in fo.tree.walk():
            if n.kind == "leaf":
                for v in n.indices:
                    seen.setdefault(v)
    return list(seen)


def plan_group(program: TensorProgram, group: FusionGroup, later_reads: set[str]) -> GroupPlan:
    outputs = fuse_group(program, group, later_reads)
    leaves = [leaf for fo in outputs for leaf in fo.tree.leaves()]
    views = _leaf_views(program, leaves)
    pog = POG(_priority(outputs))
    reasons: dict[str, list[int]] = {}
    soft: list[str] = []
    for leaf in leaves:
        r = f"{leaf.tensor}[{','.join(leaf.indices)}]"
        reasons.setdefault(r, []).append(leaf.id)
        if views[leaf.id].format.is_dense:
            soft.append(r)  # a dense view can be laid out in any order: it constrains nothing
        else:
            pog.add_view(r, views[leaf.id].index_of_level)
    pog2, dropped = resolve_cycles(pog, sorted(reasons))
    sparse = {lf.indices[m] for lf in leaves for lvl, m in enumerate(views[lf.id].format.mode_order)
              if views[lf.id].format.levels[lvl] is not LevelFormat.DENSE}
    return GroupPlan(group, outputs, pog2, views, sorted(set(dropped) | set(soft)),
                     _no_recompute_edges(outputs) + _sampled_first_edges(outputs, sparse),
                     _hoisted_reduction_edges(outputs))


def _no_recompute_edges(outputs: list[FusedOutput]) -> list[tuple[str, str]]:
    """Preferences, not constraints: a reduction's free indices before the other indices
    of its enclosing expressions, so the reduction is computed once per point of its free
    indices and repeated, instead of being recomputed inside an enclosing index's loop."""
    edges: list[tuple[str, str]] = []

    def walk(n: Node, enclosing: frozenset[str]) -> None:
        if n.kind == "reduce":
            for f in sorted(n.free):
                for v in sorted(enclosing - n.free):
                    if (f, v) not in edges:
                        edges.append((f, v))
        inner = enclosing | n.free | (frozenset(n.rd) if n.kind == "reduce" else frozenset())
        for c in n.children:
            walk(c, inner)

    for fo in outputs:
        walk(fo.tree, frozenset())
    return edges


def _hoisted_reduction_edges(outputs: list[FusedOutput]) -> list[tuple[str, str]]:
    """A reduction's own loops before an output index it does not depend on, so a row's
    max or sum is computed once per row instead of once per element of the row
    (loop-invariant code motion; fully fused softmax needs it)."""
    edges: list[tuple[str, str]] = []

    def walk(n: Node, enclosing: frozenset[str], out: frozenset[str]) -> None:
        if n.kind == "reduce" and n.free & out:  # a per-row quantity, not another layer's
            own = sorted({x for leaf in n.leaves() for x in leaf.indices} - n.free)
            edges.extend((r, v) for r in own for v in sorted((enclosing & out) - n.free) if (r, v) not in edges)
        inner = enclosing | n.free | (frozenset(n.rd) if n.kind == "reduce" else frozenset())
        for c in n.children:
            walk(c, inner, out)

    for fo in outputs:
        walk(fo.tree, frozenset(), frozenset(fo.indices))
    return edges


def _sampled_first_edges(outputs: list[FusedOutput], sparse: set[str]) -> list[tuple[str, str]]:
    """Preferences: a reduction's free index that a sparse level drives comes before the
    reduced indices, so the reduction runs only at the stored coordinates (SDDMM)
    instead of over the dense extent before the sparse operand filters it."""
    edges: list[tuple[str, str]] = []
    for fo in outputs:
        for n in fo.tree.walk():
            if n.kind == "reduce":
                edges += [(f, r) for f in sorted(n.free & sparse) for r in n.rd if (f, r) not in edges]
    return edges


def _view_name(tensor: str, fmt: TensorFormat) -> str:
    return f"{tensor}__{re.sub(r'[^0-9a-z]', '_', fmt.spec())}"


def _declare_view(program: TensorProgram, tensor: str, fmt: TensorFormat) -> str:
    decl = program.tensor(tensor)
    if decl.format == fmt:
        return tensor
    base = decl.view_of if decl.view_of and program.tensor(decl.view_of).shape == decl.shape else tensor
    name = _view_name(base, fmt)
    if name not in program.tensors:
        program.tensors[name] = TensorDecl(name, decl.shape, fmt, TensorRole.INTERMEDIATE, decl.dtype,
                                           decl.index_names, view_of=base)
    return name


def _is_copy(program: TensorProgram, name: str) -> bool:
    """Whether ``name`` is a view of another tensor with its shape (a materialized copy)."""
    base = program.tensor(name).view_of
    return base is not None and program.tensor(name).shape == program.tensor(base).shape


def compile_group(program: TensorProgram, plan: GroupPlan, order_choice: str | None,
                  kernel_name: str, passes: list[object] | None = None, block: int | None = None
                  ) -> tuple[Kernel, GroupReport]:
    prefix = order_prefix(order_choice)
    if prefix is not None:
        order = plan.default_order(prefix)
        candidates = _fallback_orders(plan, order, prefix)
    else:
        order = plan.default_order() if not order_choice else parse_order_choice(order_choice, plan.pog)
        candidates = _fallback_orders(plan, order) if not order_choice else iter(())
    tiles = _tile_extents(program, plan, block) if block else None
    fallback = ""
    while True:
        views = _views_for(program, plan, order)
        if tiles is not None:
            views = _blocked_views(program, plan, views, tiles)
        try:
            b = _lower_group(program, plan, order, views, kernel_name, tiles)
            break
        except UnsupportedOrder as e:
            nxt = next(candidates, None)
            if nxt is None:
                raise
            fallback = fallback or f"{','.join(order)}: {e}"
            order = nxt
    DeadNodeRemoval().apply(b)  # the lowering leaves roots of hoisted/absorbed leaves unread
    graph, records = PassManager(passes if passes is not None else default_passes()).run(b)
    reads = sorted({n.attrs.tensor for n in graph.nodes.values()
                    if n.kind in (NodeKind.LEVEL_SCAN, NodeKind.VAL_ARRAY, NodeKind.LOCATE) and n.attrs.tensor})
    outs = [fo.tensor for fo in plan.outputs]
    kernel = Kernel(kernel_name, graph, tuple(plan.group.assignments), tuple(reads), tuple(outs))
    materialized = sorted({v.tensor for v in views.values() if _is_copy(program, v.tensor)})
    report = GroupReport(plan.group.name, list(plan.group.assignments), outs, order, None,
                         graph.kind_counts(), materialized,
                         sorted({r for fo in plan.outputs for r in fo.recomputed}), records,
                         fallback=fallback)
    return kernel, report


def _views_for(program: TensorProgram, plan: GroupPlan, order: list[str]) -> dict[int, ViewInfo]:
    """Leaf views for an order: permutable (dense or materialized) views follow it."""
    pos = {v: i for i, v in enumerate(order)}
    views = dict(plan.views)
    for leaf in (lf for fo in plan.outputs for lf in fo.tree.leaves()):
        r = f"{leaf.tensor}[{','.join(leaf.indices)}]"
        if r in plan.materialized:
            v = views[leaf.id]
            modes = sorted(range(len(leaf.indices)), key=lambda m: pos[leaf.indices[m]])
            fmt = TensorFormat(_levels_by_mode(v.format, tuple(modes)), tuple(modes), v.format.block)
            base = program.tensor(v.tensor).view_of if v.tensor != leaf.tensor else leaf.tensor
            views[leaf.id] = ViewInfo(_declare_view(program, base or leaf.tensor, fmt), fmt,
                                      tuple(leaf.indices[m] for m in modes))
    return views


def _levels_by_mode(fmt: TensorFormat, modes: tuple[int, ...]) -> tuple[LevelFormat, ...]:
    """Level formats for a new mode order, each mode keeping its own level format."""
    of_mode = {m: fmt.levels[lvl] for lvl, m in enumerate(fmt.mode_order)}
    return tuple(of_mode[m] for m in modes)


def _tile_extents(program: TensorProgram, plan: GroupPlan, block: int) -> dict[str, int]:
    """Blocked mode: every index whose extent the block size divides is tiled by it."""
    ext: dict[str, int] = {}
    for fo in plan.outputs:
        for leaf in fo.tree.leaves():
            for v, n in zip(leaf.indices, program.tensor(leaf.tensor).shape, strict=True):
                ext[v] = n
        for v, n in zip(fo.indices, program.tensor(fo.tensor).shape, strict=True):
            ext[v] = n
    return {v: (block if n % block == 0 else 1) for v, n in ext.items()}


def _blocked_views(program: TensorProgram, plan: GroupPlan, views: dict[int, ViewInfo],
                   tiles: dict[str, int]) -> dict[int, ViewInfo]:
    out = dict(views)
    for leaf in (lf for fo in plan.outputs for lf in fo.tree.leaves()):
        v = views[leaf.id]
        blk = tuple(tiles[leaf.indices[m]] for m in range(len(leaf.indices)))
        if all(b == 1 for b in blk):
            continue
        fmt = TensorFormat(v.format.levels, v.format.mode_order, blk)
        base = program.tensor(v.tensor).view_of if v.tensor != leaf.tensor else leaf.tensor
        out[leaf.id] = ViewInfo(_declare_view(program, base or leaf.tensor, fmt), fmt, v.index_of_level)
    return out


def _lower_group(program: TensorProgram, plan: GroupPlan, order: list[str], views: dict[int, ViewInfo],
                 kernel_name: str, tiles: dict[str, int] | None = None) -> GraphBuilder:
    sizes = _index_sizes(program, plan, views)
    for _attempt in range(256):
        b = GraphBuilder(kernel_name)
        try:
            low = Lowering(b, order, sizes, views, plan.group.name, tiles)
            streams = low.lower_many([fo.tree for fo in plan.outputs])
            for fo, st in zip(plan.outputs, streams, strict=True):
                _write_output(program, b, low, fo, st, plan.group.name, tiles)
            return b
        except NeedDense as nd:
            for lid, v in list(views.items()):
                if v.tensor == nd.tensor:
                    levels = list(v.format.levels)
                    levels[nd.level] = LevelFormat.DENSE
                    levels = [LevelFormat.COMPRESSED if lv is LevelFormat.SINGLETON else lv for lv in levels]
                    fmt = TensorFormat(tuple(levels), v.format.mode_order, v.format.block)
                    base = program.tensor(v.tensor).view_of or v.tensor
                    views[lid] = ViewInfo(_declare_view(program, base, fmt), fmt, v.index_of_level)
    raise CompileError(f"{plan.group.name}: could not place union operands")  # pragma: no cover


def _fallback_orders(plan: GroupPlan, first: list[str], prefix: tuple[str, ...] = ()
                     ) -> Iterator[list[str]]:
    """Other valid orders to try when the lowering cannot place the preferred one: first
    the one that only hoists reductions out of loops they do not depend on, then the
    valid orders in priority order."""
    import itertools

    hoisted = plan.default_order(prefix, plan.hoisted)
    if hoisted != first:
        yield hoisted
    pog = order_prefix_pog(plan.pog, prefix) if prefix else plan.pog
    for o in itertools.islice(pog.orders(), FALLBACK_ORDERS):
        if o != first and o != hoisted:
            yield o


def _index_sizes(program: TensorProgram, plan: GroupPlan, views: dict[int, ViewInfo]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for fo in plan.outputs:
        for leaf in fo.tree.leaves():
            decl = program.tensor(leaf.tensor)
            block = views[leaf.id].format.block or (1,) * decl.order
            for m, v in enumerate(leaf.indices):
                n = decl.shape[m] // block[m]
                if sizes.setdefault(v, n) != n:
                    raise CompileError(f"{plan.group.name}: index {v} has size {sizes[v]} and {n} "
                                       f"(in {leaf.tensor})")
    return sizes


def _write_output(program: TensorProgram, b: GraphBuilder, low: Lowering, fo: FusedOutput, st: Stream,
                  label: str, tiles: dict[str, int] | None = None) -> None:
    decl = program.tensor(fo.tensor)
    stream_vars = [v for v, _ in st.levels]
    if sorted(stream_vars) != sorted(fo.indices):
        raise CompileError(f"{label}: internal: output {fo.tensor} streams {stream_vars}, expected {fo.indices}")
    modes = tuple(fo.indices.index(v) for v in stream_vars)
    blk = tuple(tiles[v] for v in fo.indices) if tiles else None
    blk = blk if blk and any(x > 1 for x in blk) else None
    fmt = _unique_levels(TensorFormat(_levels_by_mode(decl.format, modes), modes, blk))  # streams are unique
    if decl.format != fmt:
        program.tensors[fo.tensor] = replace(decl, format=fmt)
    for lvl, (v, crd) in enumerate(st.levels):
        b.add(NodeKind.LEVEL_WRITE, {"crd": crd}, tensor=fo.tensor, level=lvl, format=fmt.levels[lvl], index=v)
    assert st.val is not None
    val = st.val
    if tiles is not None and low.axes.get(val, ()) != tuple(fo.indices):
        # tiles leave in the tensor's own mode order
        from fuseflow.ir.program import UnaryOp

        spec = low._spec([low.axes.get(val, ())], tuple(fo.indices))
        val = b.alu(UnaryOp.SCALAR_MUL, val, scalar=1.0, label=f"tile:{spec}", block=low._tile(tuple(fo.indices)))
    b.add(NodeKind.VAL_WRITE, {"val": val}, tensor=fo.tensor, block=blk)


@dataclass
class CompileResult:
    program: Program
    reports: list[GroupReport]


def compile_program(prog: Program, orders: dict[str, str] | str | None = None,
                    passes: list[object] | None = None, block: int | None = None,
                    reuse: bool = True) -> CompileResult:
    """Lower every fusion group of ``prog.program`` into a kernel (in group order).

    With ``reuse``, a group equal to an earlier one up to tensor names is not lowered
    again: the earlier kernel is copied with its tensors renamed (``reuse.py``)."""
    with _no_cyclic_gc():
        return _compile_program(prog, orders, passes, block, reuse)


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Lowering makes many short-lived objects; the cyclic collector scanning them (and
    the captured model) costs a quarter of the compile time. Refcounting still frees them."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _compile_program(prog: Program, orders: dict[str, str] | str | None, passes: list[object] | None,
                     block: int | None, reuse: bool) -> CompileResult:
    tp = prog.program
    if not tp.groups:
        raise CompileError("the tensor program has no fusion groups")
    kernels, reports = [], []
    fitted = False
    later_of = _later_reads(tp)
    seen: dict[tuple[object, ...], CompiledGroup] = {}
    pass_key = tuple((getattr(p, "name", type(p).__name__), repr(p)) for p in passes or default_passes())
    for gi, group in enumerate(tp.groups):
        later = later_of[gi]
        kname = f"k{gi}_{group.name}"
        choice = orders.get(group.name) if isinstance(orders, dict) else orders
        shape = group_shape(tp, group, later, (choice, block, pass_key, len(tp.groups) > 1))
        hit = seen.get(shape.key) if reuse else None
        if hit is not None and (m := renamer(hit, shape.names, tp, _report_names(hit.report))) is not None:
            declare_views(tp, hit, m)
            kernels.append(renamed_kernel(hit.kernel, kname, tuple(group.assignments), m))
            reports.append(_renamed_report(hit.report, group, m))
            fitted = fitted or bool(hit.report.fitted)
            continue
        before = dict(tp.tensors)
        plan = plan_group(tp, group, later)
        if isinstance(orders, str) and len(tp.groups) > 1:
            choice = orders if _order_fits(plan, orders) else None
            fitted = fitted or choice is not None
        kernel, rep = compile_group(tp, plan, choice, kname, passes, block)
        # counting is exponential in the variables: the report counts small groups only
        # (``--order list`` counts any group up to the limit)
        rep.order_count = plan.pog.count() if len(plan.pog.vars) <= REPORT_COUNT_VARS else None
        rep.fitted = choice is not None
        created = [t for t in tp.tensors if t not in before]
        changed = [t for t, d in before.items() if tp.tensors[t] is not d]
        seen.setdefault(shape.key, CompiledGroup(shape.names, kernel, rep, created, changed))
        kernels.append(kernel)
        reports.append(rep)
    if isinstance(orders, str) and len(tp.groups) > 1 and not fitted:
        raise CompileError(f"order {orders!r} fits none of the {len(tp.groups)} fusion groups; "
                           "list each group's index variables with --order list")
    out = Program(tp, kernels, prog.data, prog.expected, dict(prog.meta))
    return CompileResult(out, reports)


def _later_reads(tp: TensorProgram) -> list[set[str]]:
    """Per group, the tensors that later groups read."""
    out: list[set[str]] = []
    acc: set[str] = set()
    for g in reversed(tp.groups):
        out.append(set(acc))
        acc |= reads_of(tp, list(g.assignments))
    return out[::-1]


def _report_names(rep: GroupReport) -> set[str]:
    return set(rep.outputs) | set(rep.materialized) | set(rep.recomputed)


def _renamed_report(rep: GroupReport, group: FusionGroup, m: dict[str, str]) -> GroupReport:
    return replace(rep, group=group.name, expressions=list(group.assignments),
                   outputs=[m[t] for t in rep.outputs], materialized=sorted(m[t] for t in rep.materialized),
                   recomputed=sorted(m[t] for t in rep.recomputed), passes=list(rep.passes))


def _order_fits(plan: GroupPlan, text: str) -> bool:
    if text.strip().isdigit():
        return True
    names = {v.strip() for v in text.split(",")}
    return names == set(plan.pog.vars)
