"""Rebuilding an output tensor from what its level and value writers recorded.

Level l+1's stream is parsed in lockstep with level l's, the way a scanner produced it:
one fiber per level-l coordinate, closed by S0 or by S(k+1) that also closes level l's
Sk; each level-l stop not folded that way appears at level l+1 as a bare S(k+1).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fuseflow.ir.data import TensorData
from fuseflow.ir.errors import SimulationError
from fuseflow.ir.formats import LevelFormat
from fuseflow.ir.program import TensorDecl
from fuseflow.sim.prims.common import DONE, EMPTY, is_payload, is_stop, stop


def _strip(tokens: list[Any]) -> list[Any]:
    return [t for t in tokens if t is not DONE]


def _dense_level(parent: list[Any], dim: int) -> list[Any]:
    """The stream a dense scanner makes from ``parent`` (a level without a writer)."""
    out: list[Any] = []
    i = 0
    while i < len(parent):
        tok = parent[i]
        if is_payload(tok):
            out.extend(range(dim))
            if i + 1 < len(parent) and is_stop(parent[i + 1]):
                out.append(stop(parent[i + 1].level + 1))
                i += 1
            else:
                out.append(stop(0))
        elif is_stop(tok):
            out.append(stop(tok.level + 1))
        else:
            out.append(tok)
        i += 1
    return out


def _child_paths(name: str, level: int, parent: list[Any], ppaths: list[tuple[int, ...]],
                 child: list[Any]) -> list[tuple[int, ...]]:
    paths: list[tuple[int, ...]] = []
    ci = 0
    k = 0  # index into ppaths

    def bad(msg: str) -> SimulationError:
        return SimulationError(f"output {name}: level {level} stream does not match level {level - 1}: {msg}")

    i = 0
    while i < len(parent):
        tok = parent[i]
        if is_payload(tok):
            base = ppaths[k]
            k += 1
            while True:  # one child fiber
                if ci >= len(child):
                    raise bad("stream ends inside a fiber")
                c = child[ci]
                ci += 1
                if is_payload(c):
                    paths.append(base + (int(c),))
                elif is_stop(c):
                    if c.level > 0:  # also closes the parent's next stop
                        if i + 1 >= len(parent) or parent[i + 1] != stop(c.level - 1):
                            raise bad(f"{c} does not close a parent fiber")
                        i += 1
                    break
                elif c is EMPTY:
                    if ci >= len(child) or not is_stop(child[ci]):
                        break
        elif is_stop(tok):
            if ci >= len(child) or child[ci] != stop(tok.level + 1):
                raise bad(f"expected {stop(tok.level + 1)} for the parent's {tok}")
            ci += 1
        elif tok is EMPTY:
            if ci < len(child) and child[ci] is EMPTY:
                ci += 1
        i += 1
    return paths


def rebuild(decl: TensorDecl, levels: dict[int, list[Any]], values: list[Any]) -> TensorData:
    """The output tensor (COO, or dense when blocked) from the writers' records."""
    fmt = decl.format
    block = fmt.block
    vals = [v for v in values if not is_stop(v)]
    if decl.order == 0:
        v = vals[0] if vals else np.float32(0.0)
        return TensorData.from_dense(np.asarray(0.0 if v is EMPTY else v, dtype=np.float32))
    parent: list[Any] = [0]
    paths: list[tuple[int, ...]] = [()]
    for lv in range(decl.order):
        if lv in levels:
            child = _strip(levels[lv])
        elif fmt.levels[lv] is LevelFormat.DENSE:
            dim = decl.shape[fmt.mode_order[lv]] // (block[fmt.mode_order[lv]] if block else 1)
            child = _dense_level(parent, dim)
        else:
            raise SimulationError(f"output {decl.name}: no level writer for its compressed level {lv}")
        paths = _child_paths(decl.name, lv, parent, paths, child)
        parent = child
    if len(paths) != len(vals):
        raise SimulationError(
            f"output {decl.name}: {len(paths)} coordinates but {len(vals)} values were written"
        )
    inv = np.argsort(fmt.mode_order)
    if block is None:
        coords = np.array([[p[lv] for lv in inv] for p in paths], dtype=np.int64).T.reshape(decl.order, -1)
        v = np.array([0.0 if x is EMPTY else float(x) for x in vals], dtype=np.float32)
        return TensorData.from_coo(decl.shape, coords, v)
    dense = np.zeros(decl.shape, dtype=np.float32)
    for p, x in zip(paths, vals, strict=True):
        if x is EMPTY:
            continue
        bc = [p[lv] for lv in inv]
        sl = tuple(slice(b * s, (b + 1) * s) for b, s in zip(bc, block, strict=True))
        dense[sl] += np.asarray(x, dtype=np.float32).reshape(block)
    return TensorData.from_dense(dense)
