"""Output tensors from the writers' records (code arrays), in compiled passes.

The same parse as ``fuseflow.sim.outputs.rebuild`` (level l+1's stream in lockstep with
level l's), on code arrays. Anything it does not take (tiles, scalars, a record that does
not parse) goes back to token lists and the reference rebuild, which also words errors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fuseflow.ir.data import TensorData
from fuseflow.ir.errors import memory_guard
from fuseflow.ir.formats import LevelFormat
from fuseflow.sim.fast.codes import C_DONE, C_EMPTY, C_N, C_R, C_S, C_VAL, STOP0
from fuseflow.sim.fast.jit import jit
from fuseflow.sim.kernel import KernelContext, collect_outputs
from fuseflow.sim.prims.common import DONE, EMPTY, Sig, stop

I64 = np.int64
_OBJ = {C_DONE: DONE, C_EMPTY: EMPTY, C_R: Sig.R, C_S: Sig.S, C_N: Sig.N}


class Col:
    """A writer's record: int64 codes (a coordinate is itself, ``Sk`` is ``STOP0 - k``,
    N and D have their own negative codes), plus float32 values where codes are C_VAL."""

    __slots__ = ("codes", "vals")

    def __init__(self, codes: np.ndarray, vals: np.ndarray | None = None) -> None:
        self.codes = codes
        self.vals = vals


def _token(code: int) -> Any:
    return stop(STOP0 - code) if code <= STOP0 else _OBJ[code]


def decode(col: Col) -> list:
    """The record as the reference's tokens (ints, ``np.float32`` values, stops, N, D)."""
    codes = col.codes
    if col.vals is not None:
        out = list(col.vals)
        other = np.flatnonzero(codes != C_VAL)
    else:
        out = codes.tolist()
        other = np.flatnonzero(codes < 0)
    cache: dict[int, Any] = {}
    for i, c in zip(other.tolist(), codes[other].tolist(), strict=True):
        tok = cache.get(c)
        if tok is None:
            tok = cache[c] = _token(c)
        out[i] = tok
    return out


@jit
def _dense_level(parent, dim, out):
    """The stream a dense scanner makes from ``parent``; returns its length."""
    n = len(parent)
    no = 0
    i = 0
    while i < n:
        tok = parent[i]
        if tok >= 0:
            for r in range(dim):
                out[no] = r
                no += 1
            if i + 1 < n and parent[i + 1] <= STOP0:
                out[no] = parent[i + 1] - 1
                i += 1
            else:
                out[no] = STOP0
            no += 1
        elif tok <= STOP0:
            out[no] = tok - 1
            no += 1
        else:
            out[no] = tok
            no += 1
        i += 1
    return no


@jit
def _child_paths(parent, ppaths, child, out):
    """Coordinates of each payload of ``child`` (its parent's path, then itself); returns
    how many, or -1 when the child does not match its parent."""
    n = len(parent)
    nc = len(child)
    d = ppaths.shape[1]
    ci = 0
    k = 0
    np_ = 0
    i = 0
    while i < n:
        tok = parent[i]
        if tok >= 0:
            k += 1
            while True:
                if ci >= nc:
                    return -1
                c = child[ci]
                ci += 1
                if c >= 0:
                    for q in range(d):
                        out[np_, q] = ppaths[k - 1, q]
                    out[np_, d] = c
                    np_ += 1
                elif c <= STOP0:
                    if c < STOP0:  # also closes the parent's next stop
                        if i + 1 >= n or parent[i + 1] != c + 1:
                            return -1
                        i += 1
                    break
                elif c == C_EMPTY:
                    if ci >= nc or child[ci] > STOP0:
                        break
        elif tok <= STOP0:
            if ci >= nc or child[ci] != tok - 1:
                return -1
            ci += 1
        elif tok == C_EMPTY:
            if ci < nc and child[ci] == C_EMPTY:
                ci += 1
        i += 1
    return np_


def _rebuild(decl, levels: dict[int, np.ndarray], vcol: Col) -> TensorData | None:
    fmt = decl.format
    if fmt.block is not None or decl.order == 0:
        return None
    vc = vcol.codes
    keep = (vc > STOP0) & (vc != C_DONE)
    if np.any(vc[keep] >= 0) or (vcol.vals is None and np.any(vc[keep] == C_VAL)):
        return None
    vals = np.zeros(int(np.count_nonzero(keep)), np.float32)
    if vcol.vals is not None:
        v = vcol.vals[keep]
        vals = np.where(vc[keep] == C_EMPTY, np.float32(0.0), v).astype(np.float32)
    parent = np.zeros(1, I64)
    paths = np.zeros((1, 0), I64)
    for lv in range(decl.order):
        if lv in levels:
            child = levels[lv]
            child = child[child != C_DONE]
        elif fmt.levels[lv] is LevelFormat.DENSE:
            dim = decl.shape[fmt.mode_order[lv]]
            npay = int(np.count_nonzero(parent >= 0))
            child = np.empty(npay * (dim + 1) + len(parent), I64)
            child = child[:_dense_level(parent, dim, child)]
        else:
            return None
        out = np.empty((int(np.count_nonzero(child >= 0)), lv + 1), I64)
        m = _child_paths(parent, paths, child, out)
        if m < 0:
            return None
        paths, parent = out[:m], child
    if len(paths) != len(vals):
        return None
    inv = np.argsort(fmt.mode_order)
    coords = np.ascontiguousarray(paths[:, inv].T)
    return TensorData.from_coo(decl.shape, coords, vals)


def record_level(ctx: KernelContext, tensor: str, level: int, col: Col) -> None:
    """A level writer's tokens (before its D), as a column unless the level has others."""
    cols = ctx.level_cols.setdefault(tensor, {})
    if level in cols or level in ctx.levels.get(tensor, {}):
        rec = ctx.level_record(tensor, level)
        if level in cols:
            rec.extend(decode(cols.pop(level)))
        rec.extend(decode(col))
    else:
        cols[level] = col


def record_values(ctx: KernelContext, tensor: str, col: Col) -> None:
    """A value writer's tokens (before its D; stops are dropped when decoded)."""
    if tensor in ctx.value_cols or tensor in ctx.values:
        rec = ctx.value_record(tensor)
        for c in ([ctx.value_cols.pop(tensor)] if tensor in ctx.value_cols else []) + [col]:
            rec.extend(_values(c))
    else:
        ctx.value_cols[tensor] = col


def _values(col: Col) -> list:
    toks = decode(col)
    return [toks[i] for i in np.flatnonzero((col.codes > STOP0) & (col.codes != C_DONE)).tolist()]


def collect_outputs_fast(program: Any, kernel: Any, ctx: KernelContext) -> dict[str, TensorData]:
    """``collect_outputs``, taking the columnar records where it can."""
    done: dict[str, TensorData] = {}
    for name in set(ctx.level_cols) | set(ctx.value_cols):
        lcols = ctx.level_cols.get(name, {})
        vcol = ctx.value_cols.get(name)
        lists = ctx.levels.get(name, {})
        if vcol is not None and not lists and name not in ctx.values:
            decl = program.program.tensor(name)
            with memory_guard(f"in kernel {kernel.name}, collecting output {name} {list(decl.shape)}"):
                got = _rebuild(decl, {lv: c.codes for lv, c in lcols.items()}, vcol)
            if got is not None:
                done[name] = got
                continue
        for lv, c in sorted(lcols.items()):  # back to token lists, for the reference rebuild
            ctx.level_record(name, lv).extend(decode(c))
        if vcol is not None:
            ctx.value_record(name).extend(_values(vcol))
    return collect_outputs(program, kernel, ctx, done)
