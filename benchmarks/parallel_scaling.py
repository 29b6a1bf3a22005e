"""Parallelization sweep: GCN partial fusion with --par i:F for F in 1,2,4,8,16,
cycles and speedup on the no-hbm and default hardware presets.

    python benchmarks/parallel_scaling.py [--dataset karate | random:nodes=200,density=0.03,seed=1]
"""

from __future__ import annotations

import argparse
import warnings

FACTORS = (1, 2, 4, 8, 16)
HWS = ("no-hbm", "default")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="karate")
    ap.add_argument("--index", default="i")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from fuseflow.fusion.api import compile_model
    from fuseflow.sim import simulate

    print(f"gcn --fusion partial --dataset {args.dataset}, --par {args.index}:F")
    print(f"{'F':>4}" + "".join(f"{hw + ' cycles':>18}{'speedup':>9}{'check':>7}" for hw in HWS))
    base: dict[str, int] = {}
    for f in FACTORS:
        res = compile_model("gcn", {}, args.dataset, "partial", par=[(args.index, f)] if f > 1 else None)
        line = f"{f:>4}"
        for hw in HWS:
            r = simulate(res.program, hw=hw, check=True)
            base.setdefault(hw, r.cycles)
            line += f"{r.cycles:>18}{base[hw] / r.cycles:>8.2f}x{r.check:>7}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
