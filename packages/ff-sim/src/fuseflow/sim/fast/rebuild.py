"""Writers' records (code arrays, ``fast.codes``), and the compiled parse
``fuseflow.sim.outputs.rebuild`` makes outputs of them with."""

from __future__ import annotations

import numpy as np
from fuseflow.sim.fast.codes import C_DONE, C_EMPTY, STOP0
from fuseflow.sim.fast.jit import jit
from fuseflow.sim.outputs import I64, DenseLevel, dense_codes, joined


class LevelRecord:
    """A level writer's record, drained chunk by chunk. A dense level's keeps only the stop
    closing each fiber (:class:`DenseLevel`) while every fiber is 0..dim-1: an output's
    dense levels then cost a code per fiber, not per entry. Other records keep the codes."""

    def __init__(self, dim: int | None) -> None:
        self.dim = dim
        self.squeezed = dim is not None
        self.open = np.zeros(1, I64)  # coordinates of the fiber still open (squeezed)
        self.chunks: list[np.ndarray] = []

    def add(self, codes: np.ndarray) -> None:
        if self.squeezed:
            stops = np.empty(len(codes), I64)
            m = squeeze_dense(codes, int(self.dim or 0), self.open, stops)
            if m >= 0:
                self.chunks.append(stops[:m].copy())
                return
            self.chunks = [self._expanded()]  # not a dense stream: the codes from here on
            self.squeezed = False
        self.chunks.append(np.array(codes))

    def _expanded(self) -> np.ndarray:
        return dense_codes(joined(self.chunks), int(self.dim or 0), int(self.open[0]))

    def result(self) -> np.ndarray | DenseLevel:
        if self.squeezed and self.open[0] == 0:
            return DenseLevel(joined(self.chunks))
        return self._expanded() if self.squeezed else joined(self.chunks)


@jit
def squeeze_dense(codes, dim, open_, stops):
    """Goes on checking a dense level's stream: each fiber 0..dim-1, then its stop (written
    to ``stops``; D is skipped). Returns how many stops, or -1 where ``codes`` is no such
    stream. ``open_[0]``: coordinates of the open fiber, updated on success only."""
    pos = open_[0]
    ns = 0
    for c in codes:
        if c >= 0:
            if c != pos or pos >= dim:
                return -1
            pos += 1
        elif c <= STOP0:
            if pos != dim:
                return -1
            stops[ns] = c
            ns += 1
            pos = 0
        elif c != C_DONE:
            return -1
    open_[0] = pos
    return ns


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
