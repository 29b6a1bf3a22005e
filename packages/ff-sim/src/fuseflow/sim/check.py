"""Comparing simulated outputs with PyTorch's (recorded) or the tensor-program interpreter's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from fuseflow.ir.data import TensorData
from fuseflow.ir.dataflow import Program

RTOL = 1e-4
ATOL_FRACTION = 1e-5  # absolute floor, relative to the reference's largest magnitude


@dataclass
class CheckReport:
    status: str | None  # "pass", "fail" or None (no reference available)
    max_rel_error: float | None = None
    first_mismatch: dict[str, Any] | None = None
    note: str = ""


def reference_outputs(program: Program, env: dict[str, TensorData],
                      use_recorded: bool) -> tuple[dict[str, np.ndarray] | None, str]:
    names = list(program.program.outputs)
    if use_recorded and names and all(n in program.expected for n in names):
        return {n: program.expected[n].to_dense() for n in names}, "recorded PyTorch outputs"
    try:
        from fuseflow.ir.interp import evaluate  # written alongside the frontend
    except ImportError:
        return None, "no reference: no recorded outputs and fuseflow.ir.interp is not available"
    inputs = {n: t.to_dense() for n, t in env.items()}
    got = evaluate(program.program, inputs)
    return {n: np.asarray(got[n], dtype=np.float32) for n in names}, "fuseflow.ir.interp"


def compare(outputs: dict[str, TensorData], reference: dict[str, np.ndarray]) -> CheckReport:
    worst = 0.0
    first: dict[str, Any] | None = None
    for name, want in reference.items():
        if name not in outputs:
            return CheckReport("fail", None, {"tensor": name, "problem": "not written by any kernel"})
        got = outputs[name].to_dense()
        want = np.asarray(want, dtype=np.float32).reshape(got.shape) if want.size == got.size else want
        if got.shape != want.shape:
            return CheckReport("fail", None, {"tensor": name, "problem": f"shape {got.shape} != {want.shape}"})
        scale = float(np.nanmax(np.abs(want))) if want.size else 0.0
        atol = max(ATOL_FRACTION * scale, 1e-30)
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        both_nan = np.isnan(got) & np.isnan(want)
        diff = np.where(both_nan, 0.0, diff)
        bad = ~(diff <= RTOL * np.abs(want) + atol)
        rel = diff / np.maximum(np.abs(want), atol)
        if rel.size:
            worst = max(worst, float(np.nanmax(np.where(np.isnan(rel), np.inf, rel))))
        if bad.any() and first is None:
            idx = tuple(int(x) for x in np.argwhere(bad)[0])
            first = {"tensor": name, "index": list(idx), "got": float(got[idx]), "expected": float(want[idx])}
    return CheckReport("fail" if first else "pass", worst, first)


def check(program: Program, outputs: dict[str, TensorData], env: dict[str, TensorData],
          use_recorded: bool = True) -> CheckReport:
    ref, source = reference_outputs(program, env, use_recorded)
    if ref is None:
        return CheckReport(None, note=source)
    rep = compare(outputs, ref)
    rep.note = f"against {source}"
    return rep
