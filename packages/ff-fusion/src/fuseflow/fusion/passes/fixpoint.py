"""Run a few passes again and again until none of them changes the graph.

Merging equal nodes can make a joiner's inputs duplicates; dropping those makes joiners
equal, which can be merged in turn (e.g. two copies of a recomputed subtree whose loops
were driven by different but equivalent joiners). The graph only shrinks, so the
fixpoint is reached in a few rounds; the pass manager verifies the result once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fuseflow.fusion.builder import GraphBuilder
from fuseflow.fusion.passes.dedup import JOINERS


@dataclass
class Fixpoint:
    passes: tuple[Any, ...] = ()
    max_rounds: int = 16

    @property
    def name(self) -> str:
        return f"fixpoint({', '.join(p.name for p in self.passes)})"

    def apply(self, b: GraphBuilder) -> None:
        for _ in range(self.max_rounds):
            before = _size(b)
            for p in self.passes:
                p.apply(b)
            if _size(b) == before:
                return


def _size(b: GraphBuilder) -> tuple[int, int]:
    """Strictly decreases whenever a node is merged away or a joiner input dropped."""
    return len(b.nodes), sum(n.attrs.arity or 0 for n in b.nodes.values() if n.kind in JOINERS)
