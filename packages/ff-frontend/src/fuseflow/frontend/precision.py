"""How exact a model's float32 eager outputs are: the same model run in float64, compared
entry by entry. ``ff sim --check`` allows the simulation a small multiple of this absolute
error where it exceeds its usual tolerance (e.g. a softmax over logits in the thousands,
where float32 PyTorch itself is off by 1e-4)."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import torch

CHUNK = 1 << 22  # entries compared at once
# outputs of more entries are not measured: the float64 run would about double the compile's
# memory (GCN on mag, 677 M output entries: 7 GB -> 17.8 GB peak)
LIMIT = 1 << 26


def float32_errors(module: torch.nn.Module, inputs: tuple[Any, ...], outs: list[Any]) -> list[float | None]:
    """For each float32 output, its worst absolute error against float64; None where the
    model does not run in float64, the outputs are too large (LIMIT), or the output is sparse
    (never densified here)."""
    if sum(o.numel() for o in outs if isinstance(o, torch.Tensor)) > LIMIT:
        return [None] * len(outs)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m64 = copy.deepcopy(module).double()
            res = m64(*(x.double() if x.is_floating_point() else x for x in inputs))
    except (RuntimeError, TypeError, ValueError, MemoryError):
        return [None] * len(outs)
    res64 = list(res) if isinstance(res, (list, tuple)) else [res]
    return [_worst(a, b) for a, b in zip(outs, res64, strict=False)]


def _worst(y32: Any, y64: Any) -> float | None:
    if not (isinstance(y32, torch.Tensor) and isinstance(y64, torch.Tensor)) or y32.layout != torch.strided \
            or y64.layout != torch.strided or y32.shape != y64.shape or not y32.is_floating_point():
        return None
    a, b = y32.detach().reshape(-1), y64.detach().reshape(-1)
    worst = 0.0
    for s in range(0, b.numel(), CHUNK):
        diff = (a[s:s + CHUNK].double() - b[s:s + CHUNK]).abs()
        worst = max(worst, float(diff.nan_to_num(0.0, posinf=0.0).max()))
    return worst
