"""Dead-node removal: drop nodes none of whose outputs is read (writers are roots)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from fuseflow.fusion.builder import GraphBuilder
from fuseflow.ir.graph import NodeKind

SINKS = (NodeKind.LEVEL_WRITE, NodeKind.VAL_WRITE)


@dataclass
class DeadNodeRemoval:
    name: ClassVar[str] = "dead-nodes"

    def apply(self, b: GraphBuilder) -> None:
        changed = True
        while changed:
            changed = False
            read = {src.node for n in b.nodes.values() for src in n.inputs.values()}
            for nid in list(b.nodes):
                if b.nodes[nid].kind not in SINKS and nid not in read:
                    b.remove(nid)
                    changed = True
