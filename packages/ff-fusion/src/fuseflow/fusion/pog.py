"""The partial order graph (POG) over a fusion group's index variables.

Edges come from each tensor view's storage (mode) order. Every topological sort is a
valid global dataflow order. When views disagree (a cycle), one view is materialized
as a permuted copy and its edges are dropped.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from fuseflow.ir.errors import CompileError

#: orders are counted exactly up to this many index variables (subset DP), else capped
COUNT_LIMIT_VARS = 24


@dataclass
class POG:
    vars: list[str]  # in priority order (first = preferred outermost)
    edges: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (a, b) -> reasons (views)

    def add_view(self, reason: str, levels: tuple[str, ...]) -> None:
        for a, b in zip(levels, levels[1:], strict=False):
            self.edges.setdefault((a, b), []).append(reason)

    def without(self, reason: str) -> POG:
        edges = {}
        for e, rs in self.edges.items():
            keep = [r for r in rs if r != reason]
            if keep:
                edges[e] = keep
        return POG(list(self.vars), edges)

    def preds(self) -> dict[str, set[str]]:
        p: dict[str, set[str]] = {v: set() for v in self.vars}
        for a, b in self.edges:
            p[b].add(a)
        return p

    # -- orders -------------------------------------------------------------------
    def first_order(self) -> list[str] | None:
        """The topological sort that always picks the highest-priority ready variable."""
        prio = {v: i for i, v in enumerate(self.vars)}
        preds = self.preds()
        indeg = {v: len(ps) for v, ps in preds.items()}
        succ: dict[str, list[str]] = {v: [] for v in self.vars}
        for a, b in self.edges:
            succ[a].append(b)
        ready = [(prio[v], v) for v, d in indeg.items() if d == 0]
        heapq.heapify(ready)
        out = []
        while ready:
            _, v = heapq.heappop(ready)
            out.append(v)
            for w in succ[v]:
                indeg[w] -= 1
                if indeg[w] == 0:
                    heapq.heappush(ready, (prio[w], w))
        return out if len(out) == len(self.vars) else None

    def orders(self) -> Iterator[list[str]]:
        """Every valid order, in priority-lexicographic order."""
        preds = self.preds()

        def rec(done: list[str], left: list[str]) -> Iterator[list[str]]:
            if not left:
                yield list(done)
                return
            placed = set(done)
            for v in left:
                if preds[v] <= placed:
                    done.append(v)
                    yield from rec(done, [w for w in left if w != v])
                    done.pop()

        yield from rec([], list(self.vars))

    def count(self) -> int | None:
        """Number of valid orders (None when there are too many variables to count)."""
        n = len(self.vars)
        if n > COUNT_LIMIT_VARS:
            return None
        bit = {v: 1 << i for i, v in enumerate(self.vars)}
        need = [sum(bit[p] for p in self.preds()[v]) for v in self.vars]
        ways = [0] * (1 << n)
        ways[0] = 1
        for mask in range(1 << n):
            w = ways[mask]
            if not w:
                continue
            for i in range(n):
                if not mask >> i & 1 and need[i] & mask == need[i]:
                    ways[mask | 1 << i] += w
        return ways[(1 << n) - 1]

    def violations(self, order: list[str]) -> list[str]:
        pos = {v: i for i, v in enumerate(order)}
        bad = []
        for (a, b), reasons in sorted(self.edges.items()):
            if pos[a] > pos[b]:
                bad.append(f"{a} must come before {b} (storage order of {', '.join(sorted(set(reasons)))})")
        return bad


def resolve_cycles(pog: POG, candidates: list[str]) -> tuple[POG, list[str]]:
    """Drop the edges of views (in ``candidates`` order) until an order exists."""
    dropped: list[str] = []
    if pog.first_order() is not None:
        return pog, dropped
    for r in candidates:
        if r in dropped:
            continue
        trial = pog.without(r)
        dropped.append(r)
        pog = trial
        if pog.first_order() is not None:
            return pog, dropped
    raise CompileError("no concordant dataflow order exists even after permuting views")


def parse_order_choice(text: str | None, pog: POG) -> list[str]:
    """``None`` -> the default order; ``"K"`` -> the K-th valid order; ``"i,k,j"`` -> that order."""
    if text is None or text == "":
        first = pog.first_order()
        assert first is not None
        return first
    if text.strip().isdigit():
        k = int(text)
        for n, o in enumerate(pog.orders()):
            if n == k:
                return o
        raise CompileError(f"order {k} does not exist (there are {pog.count()} valid orders, counted from 0)")
    order = [v.strip() for v in text.split(",") if v.strip()]
    missing = [v for v in pog.vars if v not in order]
    extra = [v for v in order if v not in pog.vars]
    if missing or extra:
        raise CompileError(f"order {text!r} must list each index variable once: {', '.join(pog.vars)}"
                           + (f" (missing {', '.join(missing)})" if missing else "")
                           + (f" (unknown {', '.join(extra)})" if extra else ""))
    bad = pog.violations(order)
    if bad:
        raise CompileError(f"order {text!r} breaks fusion: " + "; ".join(bad))
    return order


def order_prefix(text: str | None) -> tuple[str, ...] | None:
    """``"i,j,..."`` -> ``("i", "j")``: an order given by its outermost indices only."""
    if not text or not text.strip().endswith("..."):
        return None
    return tuple(v.strip() for v in text.strip()[:-3].split(",") if v.strip())


def order_prefix_pog(pog: POG, prefix: tuple[str, ...]) -> POG:
    """``pog`` constrained to orders that start with ``prefix`` (a clear error if none does)."""
    unknown = [v for v in prefix if v not in pog.vars]
    if unknown or len(set(prefix)) != len(prefix):
        raise CompileError(f"order prefix {','.join(prefix)},...: each index once, from {', '.join(pog.vars)}"
                           + (f" (unknown {', '.join(unknown)})" if unknown else ""))
    edges = {e: list(r) for e, r in pog.edges.items()}
    chain = list(prefix) + [v for v in pog.vars if v not in prefix]
    for a, b in zip(prefix, chain[1:], strict=False):
        edges.setdefault((a, b), []).append("--order prefix")
    for v in chain[len(prefix):]:
        if prefix:
            edges.setdefault((prefix[-1], v), []).append("--order prefix")
    out = POG(list(pog.vars), edges)
    if out.first_order() is None:
        first = pog.first_order() or []
        bad = pog.violations(list(prefix) + [v for v in first if v not in prefix])
        raise CompileError(f"order prefix {','.join(prefix)},... breaks fusion: " + "; ".join(bad))
    return out


def first_n(pog: POG, n: int) -> list[list[str]]:
    return list(itertools.islice(pog.orders(), n))
