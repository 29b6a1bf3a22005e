"""Rebuilding an output tensor from what its level and value writers recorded (code arrays,
``fast.codes``). Level l+1's stream is parsed (compiled: ``fast.rebuild``) in lockstep with level
l's: one fiber per level-l coordinate, closed by S0 or by an S(k+1) that also closes level l's Sk."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from fuseflow.ir.data import TensorData
from fuseflow.ir.errors import SimulationError
from fuseflow.ir.formats import LevelFormat
from fuseflow.ir.program import TensorDecl
from fuseflow.sim.fast.codes import C_DONE, C_EMPTY, STOP0
from fuseflow.sim.prims.common import DONE, EMPTY, is_stop, stop

I64 = np.int64
F32 = np.float32


class DenseLevel(NamedTuple):
    """A dense level's record squeezed to the stop closing each fiber (each fiber is
    0..dim-1: ``fast.rebuild.LevelRecord``)."""

    stops: np.ndarray


def encode(tokens: list[Any]) -> np.ndarray:
    """A level writer's tokens as codes: a coordinate is itself, Sk is STOP0 - k, N is C_EMPTY."""
    return np.array([STOP0 - t.level if is_stop(t) else C_EMPTY if t is EMPTY else int(t)
                     for t in tokens if t is not DONE], I64)


def _token(code: int) -> str:
    return str(stop(STOP0 - code)) if code <= STOP0 else str(EMPTY) if code == C_EMPTY else str(code)


def _mismatch(name: str, level: int, err: np.ndarray) -> SimulationError:
    what, code = int(err[0]), int(err[1])
    msg = ("stream ends inside a fiber" if what == 1 else f"{_token(code)} does not close a parent fiber" if what == 2
           else f"expected {_token(code - 1)} for the parent's {_token(code)}")
    return SimulationError(f"output {name}: level {level} stream does not match level {level - 1}: {msg}")


def _dense_stops(dims: list[int]) -> np.ndarray:
    """The stop closing each fiber of the level below all-dense levels ``dims`` (row-major):
    S(k) where the fiber is the last of k enclosing fibers."""
    f = np.arange(math.prod(dims), dtype=I64)
    lvl = np.zeros(len(f), I64)
    last = np.ones(len(f), bool)
    inner = 1
    for d in reversed(dims):
        last &= (f // inner) % d == d - 1
        lvl += last
        inner *= d
    return STOP0 - lvl


def _all_dense(decl: TensorDecl, levels: dict[int, np.ndarray | DenseLevel], vals: np.ndarray) -> TensorData | None:
    """A tensor whose levels are all dense, written in full, as a dense array (no
    coordinates); None when it is not one."""
    from fuseflow.sim.fast.rebuild import squeeze_dense  # compiled on first use

    fmt = decl.format
    dims = [decl.shape[m] for m in fmt.mode_order]
    if fmt.block is not None or any(f is not LevelFormat.DENSE for f in fmt.levels) or 0 in dims \
            or len(vals) != math.prod(dims):
        return None
    for lv, rec in levels.items():
        if isinstance(rec, DenseLevel):
            stops = rec.stops
        else:
            stops = np.empty(len(rec), I64)
            n = squeeze_dense(rec, dims[lv], np.zeros(1, I64), stops)
            stops = stops[:max(n, 0)]
        if not np.array_equal(stops, _dense_stops(dims[:lv])):
            return None
    return TensorData.from_dense(np.ascontiguousarray(vals.reshape(dims).transpose(np.argsort(fmt.mode_order))))


def dense_codes(stops: np.ndarray, dim: int, tail: int = 0) -> np.ndarray:
    """The codes of a squeezed dense level: per stop, 0..dim-1 and the stop; then a last
    fiber's first ``tail`` coordinates."""
    fibers = np.empty((len(stops), dim + 1), I64)
    fibers[:, :dim] = np.arange(dim)
    fibers[:, dim] = stops
    return np.concatenate([fibers.reshape(-1), np.arange(tail, dtype=I64)])


def joined(arrays: list[np.ndarray]) -> np.ndarray:
    """One array of a record's chunks, each freed once copied: records can be large (the
    only chunk is returned as it is)."""
    if len(arrays) <= 1:
        return arrays.pop() if arrays else np.zeros(0, I64)
    out, pos = np.empty(sum(map(len, arrays)), np.result_type(*arrays)), 0
    for k, a in enumerate(arrays):
        out[pos:pos + len(a)] = a
        pos, arrays[k] = pos + len(a), out[:0]  # the chunk's memory goes now
    return out


def rebuild(decl: TensorDecl, levels: dict[int, np.ndarray | DenseLevel], values: list[Any] | np.ndarray
            ) -> TensorData:
    """The output tensor (COO; dense when blocked, or when every level is dense and written
    in full) from the writers' records: each level's codes (or a squeezed dense level),
    and the values as tokens or a fast writer's float32 array."""
    from fuseflow.sim.fast.rebuild import child_paths, dense_level  # compiled on first use

    fmt = decl.format
    block = fmt.block
    if isinstance(values, np.ndarray):
        vals: Any = values
    elif block is None:  # tokens: N is 0
        vals = np.array([0.0 if x is EMPTY else float(x) for x in values if not is_stop(x)], dtype=F32)
    else:
        vals = [v for v in values if not is_stop(v)]  # tiles (or N)
    if decl.order == 0:
        return TensorData.from_dense(np.asarray(vals[0] if len(vals) else 0.0, dtype=F32))
    if isinstance(vals, np.ndarray):
        whole = _all_dense(decl, levels, vals)
        if whole is not None:
            return whole
    parent = np.zeros(1, I64)
    paths = np.zeros((1, 0), I64)
    err = np.zeros(2, I64)
    for lv in range(decl.order):
        if lv in levels:
            rec = levels[lv]
            codes = dense_codes(rec.stops, decl.shape[fmt.mode_order[lv]]) if isinstance(rec, DenseLevel) else rec
            child = codes[codes != C_DONE]
        elif fmt.levels[lv] is LevelFormat.DENSE:
            dim = decl.shape[fmt.mode_order[lv]] // (block[fmt.mode_order[lv]] if block else 1)
            child = np.empty(int(np.count_nonzero(parent >= 0)) * (dim + 1) + len(parent), I64)
            child = child[:dense_level(parent, dim, child)]
        else:
            raise SimulationError(f"output {decl.name}: no level writer for its compressed level {lv}")
        out = np.empty((int(np.count_nonzero(child >= 0)), lv + 1), I64)
        m = child_paths(parent, paths, child, out, err)
        if m < 0:
            raise _mismatch(decl.name, lv, err)
        paths, parent = out[:m], child
    if len(paths) != len(vals):
        raise SimulationError(f"output {decl.name}: {len(paths)} coordinates but {len(vals)} values were written")
    coords = np.ascontiguousarray(paths[:, np.argsort(fmt.mode_order)].T)
    if block is None:
        return TensorData.from_coo(decl.shape, coords, vals)
    dense = np.zeros(decl.shape, dtype=F32)
    for bc, x in zip(coords.T.tolist(), vals, strict=True):
        if x is EMPTY:
            continue
        sl = tuple(slice(b * s, (b + 1) * s) for b, s in zip(bc, block, strict=True))
        dense[sl] += np.asarray(x, dtype=F32).reshape(block)
    return TensorData.from_dense(dense)
