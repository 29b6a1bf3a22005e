"""How exact a model's float32 eager outputs are: the same model run in float64, compared
entry by entry. ``ff sim --check`` allows the simulation a small multiple of this absolute
error where it exceeds its usual tolerance (e.g. a softmax over logits in the thousands,
where float32 PyTorch itself is off by 1e-4)."""

from __future__ import annotations

import copy
import warnings
from typing import Any

import torch
from fuseflow.ir.sysmem import available_bytes

CHUNK = 1 << 22  # entries compared at once
# the float64 run holds about two float64 copies of the outputs (an op's input and result) and
# float64 inputs; it is skipped unless that much, plus RESERVE, is available now
RESERVE = 2 << 30


def float32_errors(module: torch.nn.Module, inputs: tuple[Any, ...], outs: list[Any]) -> list[float | None]:
    """For each float32 output, its worst absolute error against float64; None where the
    model does not run in float64, the run would not fit in the memory available now
    (:func:`float64_bytes`), or the output is sparse (never densified here)."""
    if float64_skip(inputs, outs, module):
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


def float64_skip(inputs: tuple[Any, ...], outs: list[Any], module: torch.nn.Module | None = None) -> str:
    """Why the float64 run is skipped now (it would not fit in the available memory), or ""."""
    free, need = available_bytes(), float64_bytes(inputs, outs, module)
    if free is None or need + RESERVE <= free:
        return ""
    return f"not measured: the float64 run needs {need / 2**30:.1f} GiB + {RESERVE >> 30} GiB spare, {free / 2**30:.1f} GiB were available"


def float64_bytes(inputs: tuple[Any, ...], outs: list[Any], module: torch.nn.Module | None = None) -> int:
    """Estimated memory of the float64 run: two float64 copies of the dense outputs and one of
    the inputs' stored values (GCN on mag: 10.8 GB for 677 M output entries), and the module's
    copy (float32, then float64: SAE at 1024^2 pixels, hidden 512: 12.9 GB)."""
    def entries(t: Any) -> int:
        if not isinstance(t, torch.Tensor):
            return 0
        return t.numel() if t.layout == torch.strided else t._nnz() if t.layout == torch.sparse_coo else t.values().numel()
    state = [] if module is None else [*module.parameters(), *module.buffers()]
    return 16 * sum(entries(o) for o in outs) + 8 * sum(entries(x) for x in inputs) + 12 * sum(map(entries, state))


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
