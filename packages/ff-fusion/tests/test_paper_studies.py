"""Pins the behaviour behind the two paper studies of docs/paper-studies.md (cycle counts, not wall time).

- Parallel scaling: BigBird attention with its mask stored BSR64 and scalar values scales linearly
  with the factor on either output index (the paper's 2x/4x/~15.9x study).
- Dataflow-order spread of (A B) C: the orders that put the output column l outside i or the second
  reduction j recompute T = A B per l and are the slow class.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from fuseflow.fusion.api import compile_captured, compile_model, list_orders
from fuseflow.fusion.workloads import nested_matmul
from fuseflow.ir.dataflow import Program
from fuseflow.sim import simulate


def _cycles(par: list[tuple[str, int]]) -> int:
    opts = {"seq": "128", "d_head": "4", "block": "64"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = compile_model("bigbird-attention", opts, None, "full", order="i,j,...", par=par or None)
        r = simulate(res.program, hw="no-hbm", check=True)
    assert r.check == "pass"
    return r.cycles


def test_bigbird_block64_scales_linearly_on_both_indices():
    base = _cycles([])
    for par, want in (([("i", 2)], 2.0), ([("j", 2)], 2.0), ([("i", 2), ("j", 2)], 4.0)):
        assert base / _cycles(par) == pytest.approx(want, rel=0.03), par


def _abc(n: int = 12, inner: int = 4, out: int = 4) -> Program:
    rng = np.random.default_rng(1)
    a = (rng.random((n, n)) < 0.25).astype(np.float32)
    b = rng.standard_normal((n, inner)).astype(np.float32)
    c = rng.standard_normal((inner, out)).astype(np.float32)
    return nested_matmul(a, b, c)


def test_orders_with_l_before_the_second_reduction_recompute():
    (ol,) = list_orders(_abc(), n=1)
    assert ol.count is not None and ol.count > 2
    slow, fast = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(ol.count):
            res = compile_captured(_abc(), order=str(k))
            order = list(res.reports[0].order)
            r = simulate(res.program, hw="no-hbm", check=True)
            assert r.check == "pass"
            j = next(v for v in order if v.startswith("j"))
            # T(i, j) is recomputed per l when l is outside i or j
            (slow if order.index("l") < max(order.index("i"), order.index(j)) else fast).append(r.cycles)
    assert slow and fast
    assert min(slow) > 2 * max(fast)
