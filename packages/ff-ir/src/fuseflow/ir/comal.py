"""Graphs written by the original compiler (a Comal ``tortilla`` protobuf), made whole from the
SAM/Comal data folder that goes with them.

Such a graph names its tensors but declares none: ``tensor_<T>_mode_shape`` gives a tensor's
dimensions (in storage order), its scanners give each level's format and, by the order in
which they reach the tensor's modes, its mode order (a scanner's ``mode`` is a tensor mode) (a level no
scanner reads, such as a located one, is dense), a dense scanner or a locate gets its dim from
the shape, and an output whose writers name no tensor is SAM's ``X``, its extents those of the
indices its writers write. A locate, which the original compiler emits without a tensor, takes
the tensor of the value array or scanner its located refs feed (Comal's locate only addresses
a top-level dense level, so its level is 0).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from fuseflow.ir.dataflow import Kernel, Program
from fuseflow.ir.errors import DataError
from fuseflow.ir.formats import LevelFormat, TensorFormat
from fuseflow.ir.graph import Graph, NodeKind
from fuseflow.ir.program import TensorDecl, TensorProgram, TensorRole

OUTPUT = "X"  # SAM's name for the result


def _shape(folder: Path, tensor: str) -> tuple[int, ...] | None:
    p = folder / f"tensor_{tensor}_mode_shape"
    if not p.is_file():
        return None
    try:
        return tuple(int(v) for v in np.loadtxt(p, dtype=np.int64, ndmin=1))
    except ValueError as e:
        raise DataError(f"{p}: not a list of dimensions ({e})") from None


def _follow(g: Graph, nid: int, port: str, kinds: tuple[NodeKind, ...]) -> int | None:
    """The first node of ``kinds`` downstream of ``nid``'s ``port`` (through broadcasts)."""
    todo = [(nid, port)]
    seen = set()
    while todo:
        n, p = todo.pop()
        for s in g.streams:
            if (s.src.node, s.src.port) != (n, p) or s.dst.node in seen:
                continue
            seen.add(s.dst.node)
            dst = g.nodes[s.dst.node]
            if dst.kind in kinds:
                return dst.id
            if dst.kind is NodeKind.BROADCAST:
                todo += [(dst.id, f"out{i}") for i in range(dst.attrs.arity or 0)]
    return None


def _upstream_index(g: Graph, nid: int, port: str) -> str | None:
    """The index of the coordinates reaching ``nid``'s ``port`` (from their scanner or joiner)."""
    src = {(s.dst.node, s.dst.port): (s.src.node, s.src.port) for s in g.streams}
    cur = src.get((nid, port))
    while cur is not None:
        node = g.nodes[cur[0]]
        if node.attrs.index:
            return node.attrs.index
        cur = src.get((node.id, "in"))
    return None


def _storage_modes(g: Graph) -> dict[str, list[int]]:
    """Per tensor, the modes its scanners (and locates: mode 0) read, outermost first (a
    scanner comes after the one whose refs it takes in any topological order)."""
    out: dict[str, list[int]] = {}
    for nid in g.topological_order():
        n = g.nodes[nid]
        if n.kind in (NodeKind.LEVEL_SCAN, NodeKind.LOCATE) and n.attrs.tensor and n.attrs.level is not None:
            seen = out.setdefault(n.attrs.tensor, [])
            if n.attrs.level not in seen:
                seen.append(n.attrs.level)
    return out


def complete_from_data_dir(program: Program, folder: Path) -> Program:
    """``program`` (graph only, one kernel) with tensor declarations built from ``folder``."""
    if program.program.tensors or len(program.kernels) != 1:
        return program
    k = program.kernels[0]
    g = Graph(k.graph.name, dict(k.graph.nodes), list(k.graph.streams))
    for n in list(g.nodes.values()):  # a locate's tensor, level and index
        if n.kind is NodeKind.LOCATE and not n.attrs.tensor:
            arr = _follow(g, n.id, "located", (NodeKind.VAL_ARRAY, NodeKind.LEVEL_SCAN))
            tensor = g.nodes[arr].attrs.tensor if arr is not None else None
            g.nodes[n.id] = replace(n, attrs=replace(n.attrs, tensor=tensor, level=0 if n.attrs.level is None
                                                     else n.attrs.level,
                                                     index=n.attrs.index or _upstream_index(g, n.id, "crd")))
    modes = _storage_modes(g)  # the original compiler's scanners name a tensor *mode*
    read = {n.attrs.tensor for n in g.nodes.values()
            if n.kind in (NodeKind.LEVEL_SCAN, NodeKind.VAL_ARRAY, NodeKind.LOCATE) and n.attrs.tensor}
    shapes: dict[str, tuple[int, ...]] = {}  # dims in storage-level order, as the shape file lists them
    for t in sorted(read):
        shape = _shape(folder, t)
        if shape is None:
            raise DataError(f"--data-dir {folder}: no tensor_{t}_mode_shape for tensor {t!r} the graph reads")
        shapes[t] = shape
    orders: dict[str, tuple[int, ...]] = {}
    for t, shape in shapes.items():
        order = [m for m in modes.get(t, []) if m < len(shape)]
        orders[t] = tuple(order + [m for m in range(len(shape)) if m not in order])
    extent: dict[str, int] = {}
    formats: dict[str, dict[int, LevelFormat]] = {t: {} for t in shapes}
    for n in list(g.nodes.values()):
        a = n.attrs
        if n.kind in (NodeKind.LEVEL_SCAN, NodeKind.LOCATE) and a.tensor in shapes and a.level is not None:
            level = orders[a.tensor].index(a.level) if n.kind is NodeKind.LEVEL_SCAN else a.level
            if level >= len(shapes[a.tensor]):
                raise DataError(f"{n.describe()}: tensor {a.tensor} has {len(shapes[a.tensor])} modes, "
                                f"not a level {level}")
            dim = shapes[a.tensor][level]
            if a.index:
                extent.setdefault(a.index, dim)
            if n.kind is NodeKind.LEVEL_SCAN and a.format is not None:
                formats[a.tensor][level] = a.format
            g.nodes[n.id] = replace(n, attrs=replace(a, level=level, dim=a.dim if a.dim is not None else dim))
    writers = [n for n in g.nodes.values() if n.kind in (NodeKind.LEVEL_WRITE, NodeKind.VAL_WRITE)]
    out = next((n.attrs.tensor for n in writers if n.attrs.tensor), OUTPUT)
    for n in writers:
        if not n.attrs.tensor:
            g.nodes[n.id] = replace(n, attrs=replace(n.attrs, tensor=out))
    levels = sorted((n for n in g.nodes.values() if n.kind is NodeKind.LEVEL_WRITE), key=lambda n: n.attrs.level or 0)
    missing = [n.attrs.index for n in levels if n.attrs.index not in extent]
    if missing:
        raise DataError(f"cannot size output {out}: no input is scanned over index {missing[0]!r}")
    tensors = {}
    for t, shape in shapes.items():
        by_mode = [0] * len(shape)
        for lv, m in enumerate(orders[t]):
            by_mode[m] = shape[lv]
        fmt = TensorFormat(tuple(formats[t].get(lv, LevelFormat.DENSE) for lv in range(len(shape))), orders[t])
        tensors[t] = TensorDecl(t, tuple(by_mode), fmt, TensorRole.INPUT)
    tensors[out] = TensorDecl(out, tuple(extent[str(n.attrs.index)] for n in levels),
                              TensorFormat(tuple(n.attrs.format or LevelFormat.DENSE for n in levels)),
                              TensorRole.OUTPUT)
    kernel = Kernel(k.name, g, k.assignments, tuple(sorted(read)), (out,))
    return replace(program, program=TensorProgram(tensors, name=program.name, outputs=(out,)), kernels=[kernel])
