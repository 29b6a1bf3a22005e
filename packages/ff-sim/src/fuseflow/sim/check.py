"""Comparing simulated outputs with PyTorch's (recorded) or the tensor-program interpreter's,
never densified: sparse outputs on the union of the stored coordinates (one side only: compared
with 0), dense ones in slices of at most ``CHUNK`` entries, in float64."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from fuseflow.ir.data import TensorData
from fuseflow.ir.dataflow import Program
from fuseflow.ir.errors import memory_guard, out_of_memory

RTOL = 1e-4
# an output whose recorded float32 PyTorch result is itself up to e from PyTorch in float64
# (program meta ``float32_error.<output>``, from the frontend) may be off by SLACK * e too
SLACK = 4.0
ATOL_FRACTION = 1e-5  # absolute floor, relative to the reference's largest magnitude
CHUNK = 1 << 22  # entries compared at once (float64 temporaries of 32 MiB each)


@dataclass
class CheckReport:
    status: str | None  # "pass", "fail" or None (no reference available)
    max_rel_error: float | None = None
    first_mismatch: dict[str, Any] | None = None
    note: str = ""


def _entries(td: TensorData) -> tuple[np.ndarray, np.ndarray]:
    """Row-major flat positions (sorted, unique) and float64 values of the stored
    entries; a dense array gives its non-zero (and NaN) entries."""
    if td.dense is not None:
        flat = np.asarray(td.dense).reshape(-1)
        keys = np.flatnonzero(flat != 0)  # NaN != 0: kept
        return keys.astype(np.int64), flat[keys].astype(np.float64)
    assert td.coords is not None and td.values is not None
    shape = tuple(td.shape)
    if not shape:
        return np.zeros(td.values.size, np.int64), td.values.astype(np.float64)
    keys = np.ravel_multi_index(tuple(np.asarray(td.coords, dtype=np.int64)), shape).astype(np.int64)
    vals = np.asarray(td.values, dtype=np.float64)
    order = np.argsort(keys, kind="stable")
    keys, vals = keys[order], vals[order]
    if keys.size > 1 and bool((keys[1:] == keys[:-1]).any()):  # repeated coordinates add up
        keys, inv = np.unique(keys, return_inverse=True)
        vals = np.asarray(np.bincount(inv, weights=vals, minlength=keys.size), dtype=np.float64)
    return keys, vals


def _compare_aligned(g: np.ndarray, w: np.ndarray, floor: float = 0.0) -> tuple[float, int | None]:
    """Worst relative error and the first position out of tolerance, over equal-length
    value arrays (float32 or float64), in slices; ``floor``: an absolute error always allowed."""
    top = 0.0  # the reference's largest magnitude (NaN ignored)
    for s in range(0, w.size, CHUNK):
        top = max(top, float(np.fmax.reduce(np.abs(w[s:s + CHUNK]), initial=0.0)))  # fmax skips NaN
    atol = max(ATOL_FRACTION * top, floor, 1e-30)
    worst = 0.0
    first: int | None = None
    for s in range(0, g.size, CHUNK):
        gg = g[s:s + CHUNK].astype(np.float64)
        ww = w[s:s + CHUNK].astype(np.float64)
        diff = np.abs(gg - ww)
        both_nan = np.isnan(gg) & np.isnan(ww)
        diff[both_nan] = 0.0
        bad = ~(diff <= RTOL * np.abs(ww) + atol) & ~both_nan
        rel = diff / np.maximum(np.where(both_nan, 1.0, np.abs(ww)), atol)
        worst = max(worst, float(np.where(np.isnan(rel), np.inf, rel).max()))  # a chunk is never empty
        if first is None and bool(bad.any()):
            first = s + int(np.argmax(bad))
    return worst, first


def _compare_one(name: str, got: TensorData, want: TensorData, floor: float) -> tuple[float, dict[str, Any] | None]:
    gshape, wshape = tuple(got.shape), tuple(want.shape)
    if math.prod(gshape) != math.prod(wshape):
        return 0.0, {"tensor": name, "problem": f"shape {gshape} != {wshape}"}
    if got.dense is not None and want.dense is not None:  # dense against dense, row-major
        keys = None
        g, w = np.asarray(got.dense).reshape(-1), np.asarray(want.dense).reshape(-1)
    else:  # sparse: the union of the stored coordinates
        (gk, gvals), (wk, wvals) = _entries(got), _entries(want)
        keys = np.union1d(gk, wk)
        g, w = np.zeros(keys.size), np.zeros(keys.size)
        g[np.searchsorted(keys, gk)] = gvals
        w[np.searchsorted(keys, wk)] = wvals
        del gk, wk, gvals, wvals
    worst, pos = _compare_aligned(g, w, floor)
    if pos is None:
        return worst, None
    at = pos if keys is None else int(keys[pos])
    idx = [int(x) for x in np.unravel_index(at, gshape)] if gshape else []
    return worst, {"tensor": name, "index": idx, "got": float(g[pos]), "expected": float(w[pos])}


def compare(outputs: dict[str, TensorData], reference: dict[str, TensorData],
            floor: dict[str, float] | None = None) -> CheckReport:
    """Each output against its reference; ``floor``: an absolute error allowed per output."""
    worst = 0.0
    first: dict[str, Any] | None = None
    for name, want in reference.items():
        if name not in outputs:
            return CheckReport("fail", None, {"tensor": name, "problem": "not written by any kernel"})
        got = outputs[name]
        try:
            w, mismatch = _compare_one(name, got, want, (floor or {}).get(name, 0.0))
        except MemoryError as e:
            raise out_of_memory(f"checking output {name} ({got.nnz() if got.dense is None else 'dense'} "
                                f"entries, shape {list(got.shape)})", e) from None
        if mismatch is not None and "problem" in mismatch:
            return CheckReport("fail", None, mismatch)
        worst = max(worst, w)
        first = first or mismatch
    return CheckReport("fail" if first else "pass", worst, first)


def check(program: Program, outputs: dict[str, TensorData], env: dict[str, TensorData],
          use_recorded: bool = True) -> CheckReport:
    """The outputs against PyTorch's recorded ones (if ``use_recorded`` and all are), else the interpreter's."""
    names = list(program.program.outputs)
    floor: dict[str, float] = {}
    if use_recorded and names and all(n in program.expected for n in names):
        ref, source = {n: program.expected[n] for n in names}, "recorded PyTorch outputs"
        floor = {key.removeprefix("float32_error."): SLACK * float(value) for key, value in program.meta.items()
                 if key.startswith("float32_error.")}
    else:
        from fuseflow.ir.interp import evaluate

        with memory_guard("computing the reference outputs with the tensor-program interpreter (dense)"):
            got = evaluate(program.program, {n: t.to_dense() for n, t in env.items()})
            ref = {n: TensorData.from_dense(np.asarray(got[n], dtype=np.float32)) for n in names}
        source = "fuseflow.ir.interp"
    rep = compare(outputs, ref, floor)
    rep.note = f"against {source}" + "".join(f"; {n} to within {e:.2g} (PyTorch's own float32 error x {SLACK:g})"
                                              for n, e in floor.items())
    if rep.status == "fail" and use_recorded and "float32_error" in program.meta:
        rep.note += f"; PyTorch's own float32 error {program.meta['float32_error']}"
    return rep

