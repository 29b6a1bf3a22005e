"""intersect{compressed, dense} -> iterate-and-locate.

A dense level inside an intersection holds every coordinate, so scanning it is
wasted work: iterate the other operands and compute the dense operand's position
directly (LOCATE: ref = base * dim + crd, with the base ref repeated per coordinate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from fuseflow.fusion.builder import GraphBuilder, Out
from fuseflow.ir.formats import LevelFormat
from fuseflow.ir.graph import NodeKind


@dataclass
class IntersectDenseToLocate:
    name: ClassVar[str] = "intersect-dense-to-locate"

    def apply(self, b: GraphBuilder) -> None:
        for nid in list(b.nodes):
            n = b.nodes.get(nid)
            if n is None or n.kind is not NodeKind.INTERSECT:
                continue
            self._rewrite(b, nid)

    def _dense_scan(self, b: GraphBuilder, crd: Out, ref: Out, readers: dict) -> int | None:
        if crd.node != ref.node:
            return None
        s = b.nodes[crd.node]
        if s.kind is not NodeKind.LEVEL_SCAN or s.attrs.format is not LevelFormat.DENSE:
            return None
        if len(readers.get(crd, [])) != 1 or len(readers.get(ref, [])) != 1:
            return None
        return s.id

    def _rewrite(self, b: GraphBuilder, nid: int) -> None:
        n = b.nodes[nid]
        arity = n.attrs.arity or 0
        readers = b.readers()
        pairs = [(n.inputs[f"crd{i}"], n.inputs[f"ref{i}"]) for i in range(arity)]
        scans = {i: self._dense_scan(b, c, r, readers) for i, (c, r) in enumerate(pairs)}
        dense = {i: s for i, s in scans.items() if s is not None}
        if not dense:
            return
        sparse = [i for i in range(arity) if i not in dense]
        if not sparse:  # all dense: the first one drives, the rest are located
            first = min(dense)
            sparse = [first]
            del dense[first]
        outs = {i: b.out(n, f"ref{i}") for i in range(arity)}
        crd_out = b.out(n, "crd")
        if len(sparse) == 1:
            drv_crd, drv_ref = pairs[sparse[0]]
            new_refs = {sparse[0]: drv_ref}
            b.remove(nid)
        else:
            new_inputs = {}
            for k, i in enumerate(sparse):
                new_inputs[f"crd{k}"], new_inputs[f"ref{k}"] = pairs[i]
            n.inputs = new_inputs
            b.set_attrs(nid, arity=len(sparse))
            drv_crd = b.out(n, "crd")
            new_refs = {i: b.out(n, f"ref{k}") for k, i in enumerate(sparse)}
        for i, scan_id in dense.items():
            scan = b.nodes[scan_id]
            base = b.repeat(scan.inputs["ref"], drv_crd, scan.attrs.index or "")
            loc = b.add(NodeKind.LOCATE, {"crd": drv_crd, "base": base}, tensor=scan.attrs.tensor,
                        level=scan.attrs.level, index=scan.attrs.index, dim=scan.attrs.dim)
            new_refs[i] = b.out(loc, "located")
            b.remove(scan_id)
        mapping = {o: new_refs[i] for i, o in outs.items()}
        mapping[crd_out] = drv_crd
        b.replace_many({k: v for k, v in mapping.items() if k != v})
