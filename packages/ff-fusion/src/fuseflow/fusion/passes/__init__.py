"""Graph passes: one per module, each with a name, typed options and ``apply``.

The :class:`PassManager` verifies the IR graph after each pass and, on failure,
names the pass history. Passes may declare DSE knobs (``knobs()``): the option
spaces ff-dse enumerates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from fuseflow.fusion.builder import GraphBuilder
from fuseflow.ir.errors import CompileError, VerificationError
from fuseflow.ir.graph import Graph


@dataclass(frozen=True)
class Knob:
    """A design-space dimension declared by a pass: its option name and candidate values."""

    name: str
    values: tuple[Any, ...]
    help: str = ""


class GraphPass(Protocol):
    name: ClassVar[str]

    def apply(self, b: GraphBuilder) -> None: ...


@dataclass
class PassRecord:
    name: str
    options: dict[str, Any]
    before: dict[str, int]
    after: dict[str, int]


@dataclass
class PassManager:
    passes: list[Any] = field(default_factory=list)
    verify: bool = True

    def run(self, b: GraphBuilder, tensors: set[str] | None = None) -> tuple[Graph, list[PassRecord]]:
        records: list[PassRecord] = []
        graph = b.to_graph()
        self._verify(graph, [])
        for p in self.passes:
            before = graph.kind_counts()
            p.apply(b)  # passes rewrite the builder form; the IR graph is for verification
            graph = b.to_graph()
            records.append(PassRecord(p.name, _options(p), before, graph.kind_counts()))
            self._verify(graph, [r.name for r in records])
        return graph, records

    def _verify(self, graph: Graph, history: list[str]) -> None:
        if not self.verify:
            return
        try:
            from fuseflow.ir.verify import verify_graph
        except ImportError:  # pragma: no cover - verifier ships with ff-ir
            graph.topological_order()
            return
        try:
            verify_graph(graph)
        except VerificationError as e:
            raise CompileError(f"graph {graph.name} is ill-formed after passes "
                               f"[{', '.join(history) or 'lowering'}]: {e}") from e


def _options(p: Any) -> dict[str, Any]:
    fields = getattr(p, "__dataclass_fields__", {})
    return {k: getattr(p, k) for k in fields}
