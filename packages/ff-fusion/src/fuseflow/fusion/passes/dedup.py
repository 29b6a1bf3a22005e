"""Merge equivalent nodes (equal views, repeated scans) and drop duplicate joiner inputs.

Two nodes of the same kind, attributes and inputs compute the same streams: keep
one. A joiner fed twice by the same (crd, payload) pair (``x * x``) keeps one input
and serves both payload outputs from it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from fuseflow.fusion.builder import GraphBuilder, Out
from fuseflow.ir.formats import LevelFormat
from fuseflow.ir.graph import NodeKind

SINKS = (NodeKind.LEVEL_WRITE, NodeKind.VAL_WRITE)
JOINERS = (NodeKind.INTERSECT, NodeKind.UNION)


@dataclass
class MergeEquivalent:
    name: ClassVar[str] = "merge-equivalent"

    def apply(self, b: GraphBuilder) -> None:
        # one pass in dependency order: a node's inputs are already canonical when it is
        # keyed, so chains of equal nodes collapse without repeating the pass
        seen: dict[tuple, int] = {}
        canon: dict[Out, Out] = {}
        for nid in b._topo():
            n = b.nodes[nid]
            n.inputs = {port: canon.get(src, src) for port, src in n.inputs.items()}
            if n.kind in SINKS:
                continue
            # index names and labels are documentation: equal inputs give equal streams
            attrs = replace(n.attrs, index=None, label=None)
            if n.kind is NodeKind.LEVEL_SCAN and n.attrs.format is LevelFormat.DENSE and n.attrs.dim is not None:
                # a dense level streams 0..dim-1 and r*dim+c whatever tensor it belongs to
                attrs = replace(attrs, tensor=None, level=None)
            key = (n.kind, attrs, tuple(sorted(n.inputs.items())))
            keep = seen.setdefault(key, nid)
            if keep != nid:
                for port in _out_ports(b, nid):
                    canon[Out(nid, port.port, port.kind)] = Out(keep, port.port, port.kind)
                b.remove(nid)


@dataclass
class DuplicateJoinerInputs:
    name: ClassVar[str] = "dedup-joiner-inputs"

    def apply(self, b: GraphBuilder) -> None:
        for nid in list(b.nodes):
            n = b.nodes[nid]
            if n.kind not in JOINERS:
                continue
            arity = n.attrs.arity or 0
            pairs = [(n.inputs[f"crd{i}"], n.inputs[f"ref{i}"]) for i in range(arity)]
            first: dict[tuple[Out, Out], int] = {}
            keep: list[int] = []
            alias: dict[int, int] = {}
            for i, p in enumerate(pairs):
                if p in first:
                    alias[i] = first[p]
                else:
                    first[p] = i
                    keep.append(i)
            if not alias:
                continue
            old_outs = {i: b.out(n, f"ref{i}") for i in range(arity)}
            if len(keep) == 1:
                # a joiner of one input is the identity: read the input directly
                crd, ref = pairs[keep[0]]
                b.replace_uses(b.out(n, "crd"), crd)
                for i in range(arity):
                    b.replace_uses(old_outs[i], ref)
                b.remove(nid)
                continue
            new_inputs = {}
            for new_i, old_i in enumerate(keep):
                new_inputs[f"crd{new_i}"], new_inputs[f"ref{new_i}"] = pairs[old_i]
            n.inputs = new_inputs
            b.set_attrs(nid, arity=len(keep))
            index_of = {old_i: new_i for new_i, old_i in enumerate(keep)}
            mapping = {}
            for i in range(arity):
                new = b.out(b.nodes[nid], f"ref{index_of[alias.get(i, i)]}")
                if new != old_outs[i]:
                    mapping[old_outs[i]] = new
            b.replace_many(mapping)


def _out_ports(b: GraphBuilder, nid: int) -> list[Out]:
    from fuseflow.ir.graph import port_specs

    n = b.nodes[nid]
    outs = []
    for p in port_specs(n.kind, n.attrs)[1]:
        try:
            outs.append(b.out(n, p.name))
        except Exception:  # noqa: BLE001 - a port whose kind cannot be inferred has no readers
            continue
    return outs
