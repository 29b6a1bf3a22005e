"""SpMM in SAM's outer-product order (k0,i,j; A stored DCSC, B DCSR): the order-2 sparse
accumulator (spacc2) does the work. ``python benchmarks/spmm_outer.py [--n 5000] [--density 0.01]
[--engine fast] [--hw no-hbm]`` prints compile and simulate wall times and the figures."""

from __future__ import annotations

import argparse
import time

import fuseflow
import torch
from fuseflow.frontend.annotation import annotate


class OuterSpMM(torch.nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return annotate(a, "DCSC") @ annotate(b, "DCSR")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--density", type=float, default=0.01)
    ap.add_argument("--engine", default="fast")
    ap.add_argument("--hw", default="no-hbm")
    ap.add_argument("--check", action="store_true", help="Compare with PyTorch (densifies the n x n result).")
    args = ap.parse_args()
    g = torch.Generator().manual_seed(0)
    n, d = args.n, args.density
    a = (torch.rand(n, n, generator=g) < d).float() * torch.randn(n, n, generator=g)
    b = (torch.rand(n, n, generator=g) < d).float() * torch.randn(n, n, generator=g)
    t0 = time.perf_counter()
    cm = fuseflow.compile(OuterSpMM(), (a, b), order="k0,i,j")
    t1 = time.perf_counter()
    res = cm.simulate(hw=args.hw, engine=args.engine, check=args.check)
    t2 = time.perf_counter()
    print(f"spmm k0,i,j n={n} density={d}: compile {t1 - t0:.1f} s, simulate {t2 - t1:.1f} s "
          f"({args.engine} engine, hw {args.hw}); {res.cycles} cycles, {res.flops} FLOPs, "
          f"{res.bytes_moved} bytes, check {res.check}")


if __name__ == "__main__":
    main()
