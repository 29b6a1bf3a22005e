"""Simulated tokens per second of the reference engine on SpMM over a Cora-sized graph.

A is a 2708 x 2708 adjacency pattern with ~1% density (random, seeded), B holds dense
node features stored CSR; C = A @ B in Gustavson order (spacc1). Run:
``python benchmarks/sim_tokens.py [--features 8] [--nodes 2708] [--density 0.01]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from fuseflow.ir import examples
from fuseflow.ir.data import TensorData
from fuseflow.sim import simulate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nodes", type=int, default=2708)
    ap.add_argument("--features", type=int, default=8)
    ap.add_argument("--density", type=float, default=0.01)
    ap.add_argument("--engine", default="reference")
    ap.add_argument("--hw", default="default")
    args = ap.parse_args()
    n, f = args.nodes, args.features
    rng = np.random.default_rng(0)
    a = np.where(rng.random((n, n)) < args.density, rng.uniform(-1, 1, (n, n)), 0).astype(np.float32)
    b = rng.uniform(-1, 1, (n, f)).astype(np.float32)
    prog = examples.spmm_ikj(n, n, f)
    prog.data = {"A": TensorData.from_dense(a), "B": TensorData.from_dense(b)}
    t0 = time.perf_counter()
    res = simulate(prog, hw=args.hw, engine=args.engine)
    wall = time.perf_counter() - t0
    err = float(np.max(np.abs(res.outputs["C"].to_dense() - a @ b)))
    rows = [
        ("graph", f"{n} nodes, {int(np.count_nonzero(a))} edges ({args.density:.1%}), {f} features"),
        ("engine / hw", f"{res.engine} / {res.hw}"),
        ("simulated cycles", f"{res.cycles:,}"),
        ("tokens moved", f"{res.tokens_moved:,}"),
        ("wall time", f"{wall:.2f} s"),
        ("tokens / second", f"{res.tokens_moved / wall:,.0f}"),
        ("cycles / second", f"{res.cycles / wall:,.0f}"),
        ("max abs error vs numpy", f"{err:.2e}"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
