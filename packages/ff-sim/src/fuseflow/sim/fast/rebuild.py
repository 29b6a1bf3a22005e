"""The fast engine's output records (code arrays, ``fast.codes``), and the compiled parse
``fuseflow.sim.outputs.rebuild`` makes outputs of them with."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from fuseflow.sim.fast.codes import C_EMPTY, STOP0
from fuseflow.sim.fast.jit import jit
from fuseflow.sim.kernel import KernelContext, collect_outputs


class Col(NamedTuple):
    """A writer's record: int64 codes (``fast.codes``), plus float32 values where codes are C_VAL."""

    codes: np.ndarray
    vals: np.ndarray | None = None


def record_level(ctx: KernelContext, tensor: str, level: int, col: Col) -> None:
    """A level writer's record (before its D)."""
    ctx.level_cols.setdefault(tensor, {}).setdefault(level, []).append(col.codes)


def record_values(ctx: KernelContext, tensor: str, col: Col) -> None:
    """A value writer's record of float32 scalars (before its D)."""
    ctx.value_cols.setdefault(tensor, []).append(col)


collect_outputs_fast = collect_outputs  # the writers' records are the reference's


@jit
def dense_level(parent, dim, out):
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
        else:
            out[no] = tok - 1 if tok <= STOP0 else tok
            no += 1
        i += 1
    return no


@jit
def child_paths(parent, ppaths, child, out, err):
    """Coordinates of each payload of ``child`` (its parent's path, then itself); returns
    how many, or -1 when the child does not match its parent, with ``err`` = (1, 0): it
    ends inside a fiber, (2, stop): that stop closes no parent fiber, (3, the parent's
    stop): the child lacks its stop one level up."""
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
                    err[0], err[1] = 1, 0
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
                            err[0], err[1] = 2, c
                            return -1
                        i += 1
                    break
                elif c == C_EMPTY:
                    if ci >= nc or child[ci] > STOP0:
                        break
        elif tok <= STOP0:
            if ci >= nc or child[ci] != tok - 1:
                err[0], err[1] = 3, tok
                return -1
            ci += 1
        elif tok == C_EMPTY:
            if ci < nc and child[ci] == C_EMPTY:
                ci += 1
        i += 1
    return np_
