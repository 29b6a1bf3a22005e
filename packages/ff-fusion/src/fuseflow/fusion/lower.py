"""Lowering of a fused einsum to a SAM dataflow graph (factored iteration).

The loop nest follows one global order of index variables. A subtree is iterated
level by level: at each level the *iteration lattice* of the subtree (intersect for
MUL/DIV/MASK, union for ADD/SUB/MAX) is built from the leaves that have the index
(level scanners, joined), while leaves lacking it are repeated. Two kinds of subtree
get their own iteration space (factored iteration):

- a subtree whose free indices are all already iterated is computed once as a value
  at that depth and repeated inward (hoisting, e.g. a softmax's row max);
- a reduction whose reduced index comes before one of its free indices is *opaque*:
  its body is iterated on its own and reduced with a sparse accumulator, and its
  result stream joins the parent's lattice at its first free index.

Reductions over indices below all their free indices are order-0 REDUCE nodes. An
intermediate inlined more than once is thus recomputed inside each consumer's loops.
See docs/fusion.md for the full description.
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass, field
from typing import Any, cast

from fuseflow.fusion.builder import GraphBuilder, Out
from fuseflow.fusion.fused import Node
from fuseflow.ir.errors import CompileError
from fuseflow.ir.formats import LevelFormat, TensorFormat
from fuseflow.ir.graph import NodeKind
from fuseflow.ir.program import BinaryOp, ReduceOp

INTERSECTING = (BinaryOp.MUL, BinaryOp.DIV, BinaryOp.MASK)


#: a join lattice: "U" (the universe), ("leaf"|"opq", node) or ("and"|"or", [lattices])
Lat = Any


class UnsupportedOrder(CompileError):
    """The lowering cannot realize this dataflow order (another order may work)."""


class NeedDense(Exception):
    """A view's compressed level sits under a union with more levels below: retry with it dense."""

    def __init__(self, tensor: str, level: int) -> None:
        self.tensor = tensor
        self.level = level


@dataclass
class Stream:
    """A lowered subtree: one crd stream per remaining index (global order) and a value stream."""

    levels: list[tuple[str, Out]]
    val: Out | None


@dataclass
class Ctx:
    vars: tuple[str, ...] = ()
    crds: tuple[Out, ...] = ()
    refs: dict[int, Out] = field(default_factory=dict)  # leaf id -> ref at this depth
    next_level: dict[int, int] = field(default_factory=dict)  # leaf id -> next storage level
    vals: dict[int, Out] = field(default_factory=dict)  # node id -> value aligned at this depth
    opened: dict[int, Stream] = field(default_factory=dict)  # opaque streams still open
    parent: Ctx | None = None
    ctx_ref: Out | None = None  # a ref stream with one token per context point

    @functools.cached_property
    def varset(self) -> frozenset[str]:
        return frozenset(self.vars)  # ``vars`` is never reassigned


@dataclass
class ViewInfo:
    tensor: str  # tensor (or permuted view) the leaf reads
    format: TensorFormat
    index_of_level: tuple[str, ...]  # index variable at each storage level


class Lowering:
    def __init__(self, b: GraphBuilder, order: list[str], sizes: dict[str, int],
                 views: dict[int, ViewInfo], label: str = "", tiles: dict[str, int] | None = None) -> None:
        self.b = b
        self.order = order
        self.pos = {v: i for i, v in enumerate(order)}
        self.sizes = sizes
        self.views = views
        self.label = label
        # blocked mode: tile extent per index (1 for unblocked ones); values are tiles whose
        # axes are named by index variables (``self.axes``)
        self.tiles = tiles
        self.axes: dict[Out, tuple[str, ...]] = {}
        # equal subtrees (up to index renaming) computed once per context: views merge
        self.shared_keys: dict[int, tuple[object, ...]] = {}
        self.shared: dict[tuple[object, ...], Stream] = {}
        self.shared_free: dict[tuple[object, ...], tuple[str, ...]] = {}
        self._building: set[int] = set()
        self._full_memo: dict[Out, bool] = {}

    # -- entry --------------------------------------------------------------------
    def lower(self, tree: Node) -> Stream:
        return self.lower_many([tree])[0]

    def lower_many(self, trees: list[Node]) -> list[Stream]:
        """Lower a group's outputs. Subtrees occurring more than once (up to renaming of
        their indices) are computed once per context and shared. Outputs whose outermost
        index is the same dense index share that loop, so they can share work below it."""
        _forget_structures_if_large()
        self.shared_keys = shared_subtrees(trees)
        ctx = Ctx()
        for tree in trees:
            for leaf in tree.leaves():
                root = self.b.add(NodeKind.ROOT)
                ctx.refs[leaf.id] = self.b.out(root, "ref")
                ctx.next_level[leaf.id] = 0
        firsts = {tuple(self.remaining(t.free, ctx)[:1]) for t in trees}
        if len(trees) > 1 and len(firsts) == 1 and firsts != {()}:
            (v,) = next(iter(firsts))
            joint = _JointRoot(trees)
            try:
                return self._descend_joint(joint, ctx, v)
            except _NotFull:
                pass
        return [self.build(t, ctx) for t in trees]

    def _descend_joint(self, joint: _JointRoot, ctx: Ctx, v: str) -> list[Stream]:
        walk = _Walk()
        parts = [_simplify(self.lattice(t, v, ctx, walk)) for t in joint.trees]
        if not all(self._is_full(p, ctx) for p in parts):
            raise _NotFull
        crd, payloads = self.realize(("and", parts), v, ctx, walk)
        ctx2 = self._extend(ctx, v, crd, payloads, walk)
        return [self._finish(t, ctx2, v, crd) for t in joint.trees]

    def _finish(self, tree: Node, ctx2: Ctx, v: str, crd: Out) -> Stream:
        rest = self.build(tree, ctx2)
        key = self._cache_key(tree, ctx2)
        if key is not None and len(rest.levels) == 1:
            # an output other outputs also compute (a decoder's result inside the next
            # LayerNorm): its stream serves them too
            self.shared.setdefault(key, rest)
            self.shared_free.setdefault(key, _free_in_key_order(tree))
        return Stream([(v, crd)] + rest.levels, rest.val)

    def _cache_key(self, y: Node, ctx: Ctx) -> tuple[object, ...] | None:
        key = self.shared_keys.get(y.id)
        if key is None:
            return None
        free = _free_in_key_order(y)
        rem = [j for j, v in enumerate(free) if v not in ctx.varset]
        pattern = tuple(sorted(rem, key=lambda j: self.pos[free[j]]))
        return (key, tuple(v for v in free if v in ctx.varset), pattern, ctx.vars, ctx.crds)

    def remaining(self, idx: frozenset[str] | set[str], ctx: Ctx) -> list[str]:
        return sorted(idx - ctx.varset, key=self.pos.__getitem__)

    # -- recursive construction ---------------------------------------------------
    def build(self, x: Node, ctx: Ctx) -> Stream:
        if x.id in ctx.vals:
            return Stream([], ctx.vals[x.id])
        if x.id in ctx.opened:
            st = ctx.opened[x.id]
            if st.levels:
                raise CompileError(f"{self.label}: internal: open stream for {x.text()} not consumed")
            return st
        if x.kind == "reduce":
            it = self.remaining(set(x.free) | set(x.rd), ctx)
            if it and it[0] not in x.rd:
                return self.descend(x, ctx, it[0])
            return self.reduce_stream(self.build(x.children[0], ctx), x, ctx)
        rem = self.remaining(x.free, ctx)
        if not rem:
            return Stream([], self.values(x, ctx))
        return self.descend(x, ctx, rem[0])

    def values(self, x: Node, ctx: Ctx) -> Out:
        if x.id in ctx.vals:
            return ctx.vals[x.id]
        if x.id in ctx.opened:
            st = ctx.opened[x.id]
            assert st.val is not None and not st.levels
            return st.val
        if x.kind == "leaf":
            view = self.views[x.id]
            if ctx.next_level.get(x.id, 0) != view.format.order:
                raise CompileError(f"{self.label}: internal: {x.text()} read before all its levels were scanned")
            arr = self.b.add(NodeKind.VAL_ARRAY, {"ref": ctx.refs[x.id]}, tensor=view.tensor,
                             block=view.format.block)
            return self._named(self.b.out(arr, "val"), x.indices)
        if x.kind == "unary":
            a = self.values(x.children[0], ctx)
            return self._like(self.b.alu(x.op, a, scalar=x.scalar, block=self._shape(a)), a)
        if x.kind == "binary":
            a = self.values(x.children[0], ctx)
            c = self.values(x.children[1], ctx)
            if self.tiles is None:
                return self.b.alu(x.op, a, c)
            out = self._canon(x.free)
            spec = self._spec([self.axes[a], self.axes[c]], out)
            return self._named(self.b.alu(x.op, a, c, label=f"tile:{spec}", block=self._tile(out)), out)
        st = self.build(x, ctx)
        if st.levels or st.val is None:
            raise CompileError(f"{self.label}: internal: reduction {x.text()} left levels {st.levels}")
        return st.val

    # -- reductions ---------------------------------------------------------------
    def reduce_stream(self, st: Stream, x: Node, ctx: Ctx | None = None) -> Stream:
        levels = list(st.levels)
        val = st.val
        assert val is not None
        op = cast(ReduceOp, x.op)
        if self.tiles is not None:
            val = self._tile_reduce(val, x)
        for r in sorted(x.rd, key=self.pos.__getitem__, reverse=True):
            p = next(i for i, (v, _) in enumerate(levels) if v == r)
            after = levels[p + 1:]
            if not after:
                ins = {"val": val}
                parent = levels[p - 1][1] if p > 0 else (ctx.crds[-1] if ctx is not None and ctx.crds else None)
                above = [c for _, c in levels[:p]] + list(ctx.crds if ctx is not None else ())
                if parent is not None and not all(self._full_crd(c) for c in above):
                    # an empty fiber at the parent level or any level above it reaches the
                    # reducer as a bare stop, like an empty fiber of its own: the parent's
                    # coordinates tell the two apart
                    ins["crd"] = parent
                red = self.b.add(NodeKind.REDUCE, ins, op=op, index=r, block=self._shape(val))
                val = self._like(self.b.out(red, "val"), val)
                levels.pop(p)
                continue
            if op is not ReduceOp.SUM:
                raise UnsupportedOrder(f"{self.label}: a {op.value} reduction over {r} placed outside the "
                                   f"free indices {[v for v, _ in after]} needs a max-accumulator; "
                                   "choose an order with the reduced index innermost")
            if len(after) == 1:
                sp = self.b.add(NodeKind.SPACC1, {"crd_outer": levels[p][1], "crd_inner": after[0][1],
                                                  "val": val}, index=r, op=op, block=self._shape(val))
                levels = levels[:p] + [(after[0][0], self.b.out(sp, "crd"))]
            elif len(after) == 2:
                sp = self.b.add(NodeKind.SPACC2, {"crd_outer": levels[p][1], "crd_mid": after[0][1],
                                                  "crd_inner": after[1][1], "val": val}, index=r, op=op,
                                block=self._shape(val))
                levels = levels[:p] + [(after[0][0], self.b.out(sp, "crd_mid")),
                                       (after[1][0], self.b.out(sp, "crd_inner"))]
            else:
                raise UnsupportedOrder(f"{self.label}: reduction over {r} with {len(after)} free indices "
                                   "inside it needs a sparse accumulator of order > 2; choose another order")
            val = self._like(self.b.out(sp, "val"), val)
        return Stream(levels, val)

    # -- one level of joint iteration ---------------------------------------------
    def descend(self, x: Node, ctx: Ctx, v: str) -> Stream:
        walk = _Walk()
        lat = self.lattice(x, v, ctx, walk)
        crd, payloads = self.realize(lat, v, ctx, walk)
        ctx2 = self._extend(ctx, v, crd, payloads, walk)
        rest = self.build(x, ctx2)
        return Stream([(v, crd)] + rest.levels, rest.val)

    def _extend(self, ctx: Ctx, v: str, crd: Out, payloads: dict[tuple[str, int], Out], walk: _Walk) -> Ctx:
        """The context one level deeper: leaves positioned, values and open streams aligned."""
        ctx2 = Ctx(ctx.vars + (v,), ctx.crds + (crd,), dict(ctx.refs), dict(ctx.next_level),
                   parent=ctx)
        for leaf in walk.with_v:
            ctx2.refs[leaf.id] = payloads[("leaf", leaf.id)]
            ctx2.next_level[leaf.id] = ctx.next_level[leaf.id] + 1
        for leaf in walk.without_v:
            ctx2.refs[leaf.id] = self.b.repeat(ctx.refs[leaf.id], crd, v)
        for nid, val in walk.hoisted.items():
            ctx2.vals[nid] = self._like(self.b.repeat(val, crd, v), val)
        for nid, st in walk.opaque.items():
            if len(st.levels) == 1:
                key = ("opq", nid)
                got = payloads[key] if key in payloads else st.val
                assert st.val is not None and got is not None
                ctx2.vals[nid] = self._like(got, st.val)
            else:
                ctx2.opened[nid] = Stream(st.levels[1:], st.val)
        for nid, st in ctx.opened.items():
            if nid not in walk.opaque and nid not in ctx2.opened:
                ctx2.opened[nid] = st
        return ctx2

    def lattice(self, y: Node, v: str, ctx: Ctx, walk: _Walk) -> object:
        """Iteration set of subtree ``y`` at level ``v``: "U", ("leaf", n), ("opq", n), ("and"|"or", [...])."""
        if y.id in ctx.vals:
            walk.hoisted[y.id] = ctx.vals[y.id]
            return "U"
        if y.id in ctx.opened:
            st = ctx.opened[y.id]
            if not st.levels or st.levels[0][0] != v:
                raise UnsupportedOrder(f"{self.label}: the order {','.join(self.order)} would repeat the open "
                                   f"stream of {y.text()} along {v}; choose another order")
            walk.opaque[y.id] = st
            return ("opq", y)
        if y.free <= ctx.varset:
            walk.hoisted[y.id] = self._shared_build(y, ctx).val  # type: ignore[assignment]  # a shared build of a value always has a value stream
            return "U"
        if (y.kind != "leaf" and y.id not in self._building and self.remaining(y.free, ctx) == [v]
                and self._cache_key(y, ctx) in self.shared):
            walk.opaque[y.id] = self._shared_build(y, ctx)  # already streamed here: reuse it
            return ("opq", y)
        if y.kind == "leaf":
            view = self.views[y.id]
            lvl = ctx.next_level[y.id]
            if v in y.indices:
                if lvl >= view.format.order or view.index_of_level[lvl] != v:
                    raise CompileError(f"{self.label}: {y.text()} is stored in level order "
                                       f"{','.join(view.index_of_level)}, discordant with {','.join(self.order)}")
                walk.with_v.append(y)
                return ("leaf", y)
            walk.without_v.append(y)
            return "U"
        if y.kind == "unary":
            return self.lattice(y.children[0], v, ctx, walk)
        if y.kind == "binary":
            parts = [self.lattice(c, v, ctx, walk) for c in y.children]
            return ("and" if y.op in INTERSECTING else "or", parts)
        # reduce
        if v in y.free and any(self.pos[r] < self.pos[v] for r in y.rd):
            st = self._shared_build(y, ctx)  # equal reductions at one context stream once
            if not st.levels or st.levels[0][0] != v:
                raise CompileError(f"{self.label}: internal: opaque {y.text()} does not start at {v}")
            walk.opaque[y.id] = st
            return ("opq", y)
        return self.lattice(y.children[0], v, ctx, walk)

    # -- joiners --------------------------------------------------------------------
    def realize(self, lat: Lat, v: str, ctx: Ctx, walk: _Walk) -> tuple[Out, dict[tuple[str, int], Out]]:
        lat = _simplify(lat)
        if lat == "U":
            return self.universe(v, ctx), {}
        return self._realize(lat, v, ctx, walk, under_union=False)

    def _realize(self, lat: Lat, v: str, ctx: Ctx, walk: _Walk, under_union: bool
                 ) -> tuple[Out, dict[tuple[str, int], Out]]:
        kind, arg = lat
        if kind == "leaf":
            return self.scan(arg, v, ctx, under_union)
        if kind == "opq":
            st = walk.opaque[arg.id]
            crd = st.levels[0][1]
            if len(st.levels) == 1:
                return crd, {("opq", arg.id): st.val}  # type: ignore[dict-item]  # an opaque stream's single level carries its value
            return crd, {}
        parts = list(arg)
        aliases: list[tuple[tuple[str, int], tuple[str, int]]] = []
        if kind == "and":
            parts, aliases = self._absorb(parts, ctx, walk)
        has_u = "U" in parts
        parts = [p for p in parts if p != "U"]
        if len(parts) == 1 and aliases:
            crd, pay = self._realize(parts[0], v, ctx, walk, under_union)
            return crd, self._alias(pay, aliases)
        realized = [self._realize(p, v, ctx, walk, under_union or kind == "or") for p in parts]
        full = [self._is_full(p, ctx) for p in parts]
        if kind == "or" and has_u and not any(full):
            u_crd, u_ref = self.universe_scan(v, ctx)
            realized.append((u_crd, {("universe", u_crd.node): u_ref}))
            full.append(True)
        if len(realized) == 1:
            return realized[0]
        for _crd, pay in realized:
            if not pay:
                raise UnsupportedOrder(f"{self.label}: a multi-level intermediate stream would be joined at {v}; "
                                   "choose another order or fusion")
        joiner = NodeKind.INTERSECT if kind == "and" or all(full) else NodeKind.UNION
        inputs: dict[str, Out] = {}
        keys: list[tuple[str, int]] = []
        n = 0
        for crd, pay in realized:
            for key, ref in pay.items():
                inputs[f"crd{n}"] = crd
                inputs[f"ref{n}"] = ref
                keys.append(key)
                n += 1
        j = self.b.add(joiner, inputs, index=v, arity=n)
        pay = {k: self.b.out(j, f"ref{i}") for i, k in enumerate(keys)}
        return self.b.out(j, "crd"), self._alias(pay, aliases)

    def _equiv(self, leaf: Node, ctx: Ctx) -> tuple[object, ...]:
        view = self.views[leaf.id]
        lvl = ctx.next_level[leaf.id]
        return (view.tensor, view.index_of_level[:lvl + 1], lvl)

    def _absorb(self, parts: list[object], ctx: Ctx, walk: _Walk
                ) -> tuple[list[object], list[tuple[tuple[str, int], tuple[str, int]]]]:
        """and(L, or(L', U)) with L' equivalent to L is just L (e.g. a pattern-preserving
        ``mask(S, S - rowmax)``): iterate L and let L' share its positions. L is a leaf
        view or a shared computed stream."""

        def ident(q: Lat) -> object | None:
            if q == "U":
                return None
            kind, node = q
            if kind == "leaf":
                return ("leaf", self._equiv(node, ctx))
            if kind == "opq":
                return ("opq", walk.opaque[node.id].levels[0][1])
            return None

        operands = {ident(p): (p[0], p[1].id) for p in parts if ident(p) is not None}  # type: ignore[index]  # join lattices are tuples here (checked just above)
        kept: list[object] = []
        aliases: list[tuple[tuple[str, int], tuple[str, int]]] = []
        for p in parts:
            if p != "U" and p[0] == "or":  # type: ignore[index]  # join lattices are tuples here (checked just above)
                members = [q for q in p[1] if q != "U"]  # type: ignore[index]  # join lattices are tuples here (checked just above)
                flat = [m for q in members for m in (q[1] if q[0] == "and" else [q])]
                if members and all(q[0] in ("leaf", "opq", "and") for q in members) and all(
                        ident(m) in operands for m in flat):
                    aliases += [((m[0], m[1].id), operands[ident(m)]) for m in flat]  # type: ignore[index]  # join lattices are tuples here (checked just above)
                    continue
            kept.append(p)
        return kept, aliases

    @staticmethod
    def _alias(pay: dict[tuple[str, int], Out], aliases: list[tuple[tuple[str, int], tuple[str, int]]]
               ) -> dict[tuple[str, int], Out]:
        for dup, target in aliases:
            if target in pay:
                pay[dup] = pay[target]
        return pay

    def _is_full(self, lat: Lat, ctx: Ctx) -> bool:
        """Does this operand hold every coordinate of the level (a dense level)?"""
        if lat == "U":
            return True
        kind, arg = lat
        if kind == "leaf":
            view = self.views[arg.id]
            return view.format.levels[ctx.next_level[arg.id]] is LevelFormat.DENSE
        return False

    def scan(self, leaf: Node, v: str, ctx: Ctx, under_union: bool) -> tuple[Out, dict[tuple[str, int], Out]]:
        view = self.views[leaf.id]
        lvl = ctx.next_level[leaf.id]
        fmt = view.format.levels[lvl]
        if under_union and fmt is not LevelFormat.DENSE and lvl < view.format.order - 1:
            raise NeedDense(view.tensor, lvl)
        s = self.b.add(NodeKind.LEVEL_SCAN, {"ref": ctx.refs[leaf.id]}, tensor=view.tensor, level=lvl,
                       format=fmt, index=v, dim=self.sizes[v])
        return self.b.out(s, "crd"), {("leaf", leaf.id): self.b.out(s, "ref")}

    def universe(self, v: str, ctx: Ctx) -> Out:
        return self.universe_scan(v, ctx)[0]

    def universe_scan(self, v: str, ctx: Ctx) -> tuple[Out, Out]:
        """A dense iteration of ``v``'s whole extent (crd, ref) once per context point."""
        s = self.b.add(NodeKind.LEVEL_SCAN, {"ref": self.context_ref(ctx)}, format=LevelFormat.DENSE,
                       index=v, dim=self.sizes[v], label="universe")
        return self.b.out(s, "crd"), self.b.out(s, "ref")

    def context_ref(self, ctx: Ctx) -> Out:
        """A ref stream with one token per point of the context (root repeated inward)."""
        if ctx.ctx_ref is None:
            if ctx.parent is None:
                ctx.ctx_ref = self.b.out(self.b.add(NodeKind.ROOT), "ref")
            else:
                ctx.ctx_ref = self.b.repeat(self.context_ref(ctx.parent), ctx.crds[-1], ctx.vars[-1])
        return ctx.ctx_ref


    # -- tiles (blocked mode) --------------------------------------------------------
    def _canon(self, idx: frozenset[str] | set[str]) -> tuple[str, ...]:
        return tuple(sorted(idx, key=self.pos.__getitem__))

    def _tile(self, axes: tuple[str, ...]) -> tuple[int, ...] | None:
        if self.tiles is None:
            return None
        return tuple(self.tiles.get(v, 1) for v in axes)

    def _shape(self, val: Out) -> tuple[int, ...] | None:
        return self._tile(self.axes.get(val, ())) if self.tiles is not None else None

    def _named(self, out: Out, axes: tuple[str, ...]) -> Out:
        if self.tiles is not None:
            self.axes[out] = tuple(axes)
        return out

    def _like(self, new: Out, old: Out) -> Out:
        if self.tiles is not None and old in self.axes:
            self.axes[new] = self.axes[old]
        return new

    @staticmethod
    def _spec(ins: list[tuple[str, ...]], out: tuple[str, ...]) -> str:
        letters: dict[str, str] = {}
        for axes in [*ins, out]:
            for v in axes:
                letters.setdefault(v, chr(ord("a") + len(letters)))
        return ",".join("".join(letters[v] for v in axes) for axes in ins) + "->" + "".join(
            letters[v] for v in out)

    def _tile_reduce(self, val: Out, x: Node) -> Out:
        """Reduce the reduced indices inside each tile; a MUL right below a sum contracts
        them itself (a tile matmul), anything else gets a within-tile reduction."""
        axes = self.axes[val]
        out = tuple(v for v in axes if v not in x.rd)
        if out == axes:
            return val
        node = self.b.nodes[val.node]
        if (x.op is ReduceOp.SUM and node.kind is NodeKind.ALU and node.attrs.op is BinaryOp.MUL
                and node.attrs.label and node.attrs.label.startswith("tile:")):
            spec = self._spec([self.axes[node.inputs["a"]], self.axes[node.inputs["b"]]], out)
            self.b.set_attrs(node.id, label=f"tile:{spec}", block=self._tile(out))
            self.axes[val] = out
            return val
        kind = "tilesum" if x.op is ReduceOp.SUM else "tilemax"
        spec = self._spec([axes], out)
        from fuseflow.ir.program import UnaryOp

        red = self.b.alu(UnaryOp.SCALAR_MUL, val, scalar=1.0, label=f"{kind}:{spec}", block=self._tile(axes))
        return self._named(red, out)


    def _full_crd(self, crd: Out) -> bool:
        """Is this coordinate stream a dense scan (no empty fibers)? (memoized: joiners share inputs)"""
        if crd in self._full_memo:
            return self._full_memo[crd]
        n = self.b.nodes[crd.node]
        full = False
        if n.kind is NodeKind.LEVEL_SCAN:
            full = n.attrs.format is LevelFormat.DENSE
        elif n.kind in (NodeKind.INTERSECT, NodeKind.UNION):
            srcs = {src for port, src in n.inputs.items() if port.startswith("crd")}
            parts = [self._full_crd(src) for src in srcs]
            full = all(parts) if n.kind is NodeKind.INTERSECT else any(parts)
        self._full_memo[crd] = full
        return full

    def _shared_build(self, y: Node, ctx: Ctx) -> Stream:
        key = self.shared_keys.get(y.id)
        if key is None:
            return self.build(y, ctx)
        free = _free_in_key_order(y)
        full_key = self._cache_key(y, ctx)
        assert full_key is not None
        if full_key not in self.shared:
            self._building.add(y.id)
            try:
                self.shared[full_key] = self.build(y, ctx)
            finally:
                self._building.discard(y.id)
            self.shared_free[full_key] = free
            return self.shared[full_key]
        st = self.shared[full_key]
        rename = dict(zip(self.shared_free[full_key], free, strict=True))
        st = Stream([(rename.get(v, v), crd) for v, crd in st.levels], st.val)
        if self.tiles is None or st.val is None or all(a == b for a, b in rename.items()):
            return st
        # the same tiles, under this copy's index names
        from fuseflow.ir.program import UnaryOp

        old = self.axes.get(st.val, ())
        new = tuple(rename.get(a, a) for a in old)
        spec = self._spec([old], old)
        val = self.b.alu(UnaryOp.SCALAR_MUL, st.val, scalar=1.0, label=f"tile:{spec}", block=self._tile(old))
        return Stream(st.levels, self._named(val, new))


class _NotFull(Exception):
    pass


@dataclass
class _JointRoot:
    trees: list[Node]


#: per fused-tree node: (interned structure id, its variables in first-use order)
_CANONICAL: weakref.WeakKeyDictionary[Node, tuple[int, tuple[str, ...]]] = weakref.WeakKeyDictionary()
_STRUCTURES: dict[tuple[object, ...], int] = {}


def _structure(m: Node) -> tuple[int, tuple[str, ...]]:
    """Built from the children's (memoized: fused trees are never mutated): the structure
    with variables numbered by first use in a pre-order walk, and that order."""
    hit = _CANONICAL.get(m)
    if hit is not None:
        return hit
    if m.kind == "leaf":
        order = tuple(dict.fromkeys(m.indices))
        pos = {v: i for i, v in enumerate(order)}
        key: tuple[object, ...] = ("leaf", m.tensor, tuple(pos[v] for v in m.indices))
    else:
        kids = [_structure(c) for c in m.children]
        head = m.rd if m.kind == "reduce" else ()
        order = tuple(dict.fromkeys(head + tuple(v for _, o in kids for v in o)))
        pos = {v: i for i, v in enumerate(order)}
        key = (m.kind, m.op, m.scalar, tuple(pos[v] for v in head),
               tuple((sid, tuple(pos[v] for v in o)) for sid, o in kids))
    hit = _CANONICAL[m] = (_STRUCTURES.setdefault(key, len(_STRUCTURES)), order)
    return hit


def _forget_structures_if_large() -> None:
    """Between lowerings only (ids are compared within one): bound a long process's table."""
    if len(_STRUCTURES) > 1_000_000:
        _STRUCTURES.clear()
        _CANONICAL.clear()


def _canonical(n: Node) -> tuple[tuple[object, tuple[int, ...]], tuple[str, ...]]:
    """A structural key of a subtree with its index variables renamed by first use, and
    the free indices in that canonical order."""
    sid, order = _structure(n)
    pos = {v: i for i, v in enumerate(order)}
    free = tuple(sorted(n.free, key=pos.__getitem__))
    return (sid, tuple(pos[v] for v in free)), free


def _free_in_key_order(n: Node) -> tuple[str, ...]:
    return _canonical(n)[1]


def shared_subtrees(trees: list[Node]) -> dict[int, tuple[object, ...]]:
    """Non-leaf subtrees whose canonical form occurs more than once across ``trees``."""
    # a cheap key that ignores index names first: equal canonical forms have equal cheap
    # keys, so only subtrees whose cheap key repeats need the canonical form
    interned: dict[tuple[object, ...], int] = {}
    cheap: dict[int, int] = {}

    def cheap_key(m: Node) -> int:
        k = cheap.get(m.id)
        if k is None:
            if m.kind == "leaf":
                t: tuple[object, ...] = ("leaf", m.tensor, len(m.indices))
            elif m.kind == "reduce":
                t = ("reduce", m.op, len(m.rd), cheap_key(m.children[0]))
            else:
                t = (m.kind, m.op, m.scalar, tuple(cheap_key(c) for c in m.children))
            k = cheap[m.id] = interned.setdefault(t, len(interned))
        return k

    cheap_count: dict[int, int] = {}
    inner = [m for t in trees for m in t.walk() if m.kind != "leaf"]
    for m in inner:
        c = cheap_key(m)
        cheap_count[c] = cheap_count.get(c, 0) + 1
    keys: dict[int, object] = {}
    count: dict[object, int] = {}
    for m in inner:
        if cheap_count[cheap[m.id]] < 2:
            continue
        k = _canonical(m)[0]
        keys[m.id] = k
        count[k] = count.get(k, 0) + 1
    return {nid: (k,) for nid, k in keys.items() if count[k] > 1}


@dataclass
class _Walk:
    with_v: list[Node] = field(default_factory=list)
    without_v: list[Node] = field(default_factory=list)
    hoisted: dict[int, Out] = field(default_factory=dict)
    opaque: dict[int, Stream] = field(default_factory=dict)


def _simplify(lat: Lat) -> Lat:
    if lat == "U" or lat[0] in ("leaf", "opq"):
        return lat
    kind, parts = lat
    flat: list[object] = []
    for p in parts:
        p = _simplify(p)
        if p != "U" and p[0] == kind:
            flat.extend(p[1])
        else:
            flat.append(p)
    if kind == "and":
        flat = [p for p in flat if p != "U"]
        if not flat:
            return "U"
    else:
        if all(p == "U" for p in flat):
            return "U"
        if "U" in flat:
            flat = [p for p in flat if p != "U"] + ["U"]
    if len(flat) == 1:
        return flat[0]
    return (kind, flat)
