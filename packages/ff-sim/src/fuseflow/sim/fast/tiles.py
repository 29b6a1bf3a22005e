"""Two-input tile ALUs (blocked mode) over whole streams: the tiles of each input stacked
(a few MB at a time), one numpy operation per stack, instead of one ``ops.tile_binary``
call per token.

Same float32 bits as the loop version, tile for tile: elementwise operations round each
element alone, and contractions go through ``ops.contract`` (one BLAS product per
contiguous slice, single tile or stack). The regular case only: both inputs carry a tile
at the same positions, tiles of one shape per input, and equal stops, N against N and D
at the same positions; anything else returns ``None`` for the loop version.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fuseflow.ir.program import BinaryOp
from fuseflow.sim import ops
from fuseflow.sim.fast.prims import _clock, _i64, _paired, _to_array

F32 = np.float32


def _aligned(x: np.ndarray, letters: str, out: str) -> np.ndarray:
    """``ops._align`` for a stack of tiles (axis 0 is the stack)."""
    order = [0] + [1 + letters.index(c) for c in out if c in letters]
    shape = [len(x)] + [x.shape[1 + letters.index(c)] if c in letters else 1 for c in out]
    return np.transpose(x, order).reshape(shape)


_CHUNK = 8 << 20  # bytes of one input's tiles per numpy call: big enough to amortise the
# call, small enough to reuse heap blocks (a whole stream's stack faults in fresh pages)


def _tiles(toks: list[Any], idx: np.ndarray) -> list[np.ndarray] | None:
    tiles = [toks[i] for i in idx.tolist()]
    shape = tiles[0].shape
    if not shape or any(x.shape != shape or x.dtype != F32 for x in tiles):
        return None
    return tiles


def binary(run: Any, at_: list[Any], ast: Any, bt: list[Any], bst: Any, op: BinaryOp, matmul: bool,
           tile: tuple[str, list[str], str], ii: int, L: int) -> dict[str, Any] | None:
    got = _paired(at_, bt, np.ndarray)
    if got is None:
        return None
    end, xs, ys, pa = got
    if not pa.any():
        return None
    idx = np.flatnonzero(pa)
    xt, yt = _tiles(xs, idx), _tiles(ys, idx)
    if xt is None or yt is None:
        return None
    _, ins, out = tile
    if matmul and not ops.by_matmul(ins, out):
        return None
    step = max(1, _CHUNK // max(xt[0].nbytes, yt[0].nbytes))
    vals: list[np.ndarray] = []
    with np.errstate(all="ignore"):
        for lo in range(0, len(xt), step):
            X, Y = np.stack(xt[lo:lo + step]), np.stack(yt[lo:lo + step])
            if matmul:
                V = ops.contract(X, Y, ins, out, lead=1)
            else:
                x, y = _aligned(X, ins[0], out), _aligned(Y, ins[1], out)
                V = np.where(x != 0, y, F32(0.0)) if op is BinaryOp.MASK else ops.BINARY[op](x, y)
            vals.extend(V.astype(F32, copy=False))
    each = ops.einsum_flops(xt[0], yt[0], ins, out) if matmul else int(vals[0].size)
    out_toks = list(xs)
    for k, i in enumerate(idx.tolist()):
        out_toks[i] = vals[k]
    t = _clock(np.maximum(_i64(ast)[:end], _i64(bst)[:end]), ii)
    run.t = int(t[-1])
    t += np.where(pa, L, 1)
    run.counters.alu_ops += len(idx)
    run.counters.flops += len(idx) * each
    return {"val": (out_toks, _to_array(t))}
